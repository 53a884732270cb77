package printers

import (
	"strings"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RoleBindings and ClusterRoleBindings print as Kubernetes'
// printRoleBinding does: ROLE as Kind/name, AGE, and (wide) the subjects
// by kind. Roles and ClusterRoles use the default table (Name, Created
// At), as Kubernetes' printRole does.

func roleBindingColumns() []metav1.TableColumnDefinition {
	doc := rbacv1.RoleBinding{}.SwaggerDoc()
	return []metav1.TableColumnDefinition{
		nameCol(),
		col("Role", "string", "", doc["roleRef"], 0),
		ageCol(),
		col("Users", "string", "", "Users in the roleBinding", 1),
		col("Groups", "string", "", "Groups in the roleBinding", 1),
		col("ServiceAccounts", "string", "", "ServiceAccounts in the roleBinding", 1),
	}
}

func subjectCells(subjects []rbacv1.Subject) (users, groups, sas string) {
	var u, g, s []string
	for _, sub := range subjects {
		switch sub.Kind {
		case rbacv1.UserKind:
			u = append(u, sub.Name)
		case rbacv1.GroupKind:
			g = append(g, sub.Name)
		case rbacv1.ServiceAccountKind:
			s = append(s, sub.Namespace+":"+sub.Name)
		}
	}
	return strings.Join(u, ", "), strings.Join(g, ", "), strings.Join(s, ", ")
}

func roleBindingRow(b *rbacv1.RoleBinding, now time.Time) metav1.TableRow {
	u, g, s := subjectCells(b.Subjects)
	return metav1.TableRow{Cells: []interface{}{b.Name, b.RoleRef.Kind + "/" + b.RoleRef.Name, age(b.CreationTimestamp, now), u, g, s}}
}

func clusterRoleBindingRow(b *rbacv1.ClusterRoleBinding, now time.Time) metav1.TableRow {
	u, g, s := subjectCells(b.Subjects)
	return metav1.TableRow{Cells: []interface{}{b.Name, b.RoleRef.Kind + "/" + b.RoleRef.Name, age(b.CreationTimestamp, now), u, g, s}}
}
