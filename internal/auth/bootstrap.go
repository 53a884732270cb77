package auth

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/client-go/kubernetes"
	"k8s.io/component-helpers/auth/rbac/reconciliation"
	"k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac/bootstrappolicy"
)

// EnsureBootstrapPolicy reconciles Kubernetes' bootstrap roles and
// bindings (bootstrappolicy: cluster-admin bound to system:masters,
// admin/edit/view, system:discovery, system:basic-user,
// system:public-info-viewer, system:node and the controller roles, plus
// the namespaced roles in kube-system and kube-public) exactly as
// kube-apiserver's rbac/bootstrap-roles post-start hook does: missing
// objects are created, missing rules and subjects added, and objects
// annotated rbac.authorization.kubernetes.io/autoupdate=false left alone.
// It is idempotent and runs on every start. client must be system:masters.
func EnsureBootstrapPolicy(ctx context.Context, client kubernetes.Interface) error {
	rb := client.RbacV1()
	for _, r := range bootstrappolicy.ClusterRoles() {
		opts := reconciliation.ReconcileRoleOptions{
			Role:    reconciliation.ClusterRoleRuleOwner{ClusterRole: r.DeepCopy()},
			Client:  reconciliation.ClusterRoleModifier{Client: rb.ClusterRoles()},
			Confirm: true,
		}
		if _, err := opts.Run(); err != nil {
			return fmt.Errorf("reconciling clusterrole %s: %w", r.Name, err)
		}
	}
	for _, b := range append(bootstrappolicy.ClusterRoleBindings(), *NodeProxierBinding()) {
		opts := reconciliation.ReconcileRoleBindingOptions{
			RoleBinding: reconciliation.ClusterRoleBindingAdapter{ClusterRoleBinding: b.DeepCopy()},
			Client:      reconciliation.ClusterRoleBindingClientAdapter{Client: rb.ClusterRoleBindings()},
			Confirm:     true,
		}
		if _, err := opts.Run(); err != nil {
			return fmt.Errorf("reconciling clusterrolebinding %s: %w", b.Name, err)
		}
	}
	for ns, roles := range bootstrappolicy.NamespaceRoles() {
		for _, r := range roles {
			opts := reconciliation.ReconcileRoleOptions{
				Role:    reconciliation.RoleRuleOwner{Role: r.DeepCopy()},
				Client:  reconciliation.RoleModifier{Client: rb, NamespaceClient: client.CoreV1().Namespaces()},
				Confirm: true,
			}
			if _, err := opts.Run(); err != nil {
				return fmt.Errorf("reconciling role %s/%s: %w", ns, r.Name, err)
			}
		}
	}
	for ns, bindings := range bootstrappolicy.NamespaceRoleBindings() {
		for _, b := range bindings {
			opts := reconciliation.ReconcileRoleBindingOptions{
				RoleBinding: reconciliation.RoleBindingAdapter{RoleBinding: b.DeepCopy()},
				Client:      reconciliation.RoleBindingClientAdapter{Client: rb, NamespaceClient: client.CoreV1().Namespaces()},
				Confirm:     true,
			}
			if _, err := opts.Run(); err != nil {
				return fmt.Errorf("reconciling rolebinding %s/%s: %w", ns, b.Name, err)
			}
		}
	}
	return nil
}

// NodeProxierBinding is berth's one addition to the bootstrap policy: a
// berth agent also does kube-proxy's job (the nftables Service proxy) and
// serves cluster DNS, both reading Services and EndpointSlices cluster
// wide, which Kubernetes gives kube-proxy through its own identity
// (system:kube-proxy, bound to system:node-proxier). berth agents have
// one identity, the node's, so the nodes group gets that role. Against a
// real kube-apiserver, create the same binding.
func NodeProxierBinding() *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "berth:node-proxier",
			Annotations: map[string]string{rbacv1.AutoUpdateAnnotationKey: "true"},
			Labels:      map[string]string{"kubernetes.io/bootstrapping": "rbac-defaults"}},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:node-proxier"},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: user.NodesGroup}},
	}
}
