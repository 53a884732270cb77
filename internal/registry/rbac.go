package registry

import (
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/kubernetes/pkg/apis/rbac"
	rbacv1conv "k8s.io/kubernetes/pkg/apis/rbac/v1"
	rbacvalidation "k8s.io/kubernetes/pkg/apis/rbac/validation"
)

// The rbac.authorization.k8s.io kinds are validated and defaulted by
// Kubernetes' own code (pkg/apis/rbac/validation on the internal type,
// reached through the generated v1 conversion; pkg/apis/rbac/v1 defaults),
// so that what is accepted (unknown verbs and resources included) and the
// messages cannot drift.

var rbacV1 = rbacv1.SchemeGroupVersion

func rbacDefault(obj runtime.Object) {
	switch o := obj.(type) {
	case *rbacv1.RoleBinding:
		rbacv1conv.SetObjectDefaults_RoleBinding(o)
	case *rbacv1.ClusterRoleBinding:
		rbacv1conv.SetObjectDefaults_ClusterRoleBinding(o)
	}
}

func toInternal[I any](in runtime.Object, out *I, convert func(runtime.Object, *I) error) (*I, field.ErrorList) {
	if err := convert(in, out); err != nil {
		return nil, field.ErrorList{field.InternalError(nil, err)}
	}
	return out, nil
}

func rbacValidators[V runtime.Object, I any](conv func(V, *I) error, create func(*I) field.ErrorList, update func(*I, *I) field.ErrorList) *Resource {
	c := func(o runtime.Object, out *I) error { return conv(o.(V), out) }
	return &Resource{
		Default: rbacDefault,
		Validate: func(obj runtime.Object) field.ErrorList {
			in, errs := toInternal(obj, new(I), c)
			if errs != nil {
				return errs
			}
			return create(in)
		},
		ValidateUpdate: func(obj, old runtime.Object) field.ErrorList {
			in, errs := toInternal(obj, new(I), c)
			if errs != nil {
				return errs
			}
			o, errs := toInternal(old, new(I), c)
			if errs != nil {
				return errs
			}
			return update(in, o)
		},
	}
}

func rbacRoles() *Resource {
	r := rbacValidators(func(in *rbacv1.Role, out *rbac.Role) error {
		return rbacv1conv.Convert_v1_Role_To_rbac_Role(in, out, nil)
	}, rbacvalidation.ValidateRole, rbacvalidation.ValidateRoleUpdate)
	r.GroupVersion, r.Name, r.SingularName, r.Kind, r.Namespaced = rbacV1, "roles", "role", "Role", true
	r.New = func() runtime.Object { return &rbacv1.Role{} }
	r.NewList = func() runtime.Object { return &rbacv1.RoleList{} }
	r.Fields = func(obj runtime.Object) fields.Set { return metaFields(obj, true) }
	return r
}

func rbacClusterRoles() *Resource {
	opts := rbacvalidation.ClusterRoleValidationOptions{}
	r := rbacValidators(func(in *rbacv1.ClusterRole, out *rbac.ClusterRole) error {
		return rbacv1conv.Convert_v1_ClusterRole_To_rbac_ClusterRole(in, out, nil)
	}, func(r *rbac.ClusterRole) field.ErrorList { return rbacvalidation.ValidateClusterRole(r, opts) },
		func(r, o *rbac.ClusterRole) field.ErrorList {
			return rbacvalidation.ValidateClusterRoleUpdate(r, o, opts)
		})
	r.GroupVersion, r.Name, r.SingularName, r.Kind = rbacV1, "clusterroles", "clusterrole", "ClusterRole"
	r.New = func() runtime.Object { return &rbacv1.ClusterRole{} }
	r.NewList = func() runtime.Object { return &rbacv1.ClusterRoleList{} }
	r.Fields = func(obj runtime.Object) fields.Set { return metaFields(obj, false) }
	return r
}

func rbacRoleBindings() *Resource {
	r := rbacValidators(func(in *rbacv1.RoleBinding, out *rbac.RoleBinding) error {
		return rbacv1conv.Convert_v1_RoleBinding_To_rbac_RoleBinding(in, out, nil)
	}, rbacvalidation.ValidateRoleBinding, rbacvalidation.ValidateRoleBindingUpdate)
	r.GroupVersion, r.Name, r.SingularName, r.Kind, r.Namespaced = rbacV1, "rolebindings", "rolebinding", "RoleBinding", true
	r.New = func() runtime.Object { return &rbacv1.RoleBinding{} }
	r.NewList = func() runtime.Object { return &rbacv1.RoleBindingList{} }
	r.Fields = func(obj runtime.Object) fields.Set { return metaFields(obj, true) }
	return r
}

func rbacClusterRoleBindings() *Resource {
	r := rbacValidators(func(in *rbacv1.ClusterRoleBinding, out *rbac.ClusterRoleBinding) error {
		return rbacv1conv.Convert_v1_ClusterRoleBinding_To_rbac_ClusterRoleBinding(in, out, nil)
	}, rbacvalidation.ValidateClusterRoleBinding, rbacvalidation.ValidateClusterRoleBindingUpdate)
	r.GroupVersion, r.Name, r.SingularName, r.Kind = rbacV1, "clusterrolebindings", "clusterrolebinding", "ClusterRoleBinding"
	r.New = func() runtime.Object { return &rbacv1.ClusterRoleBinding{} }
	r.NewList = func() runtime.Object { return &rbacv1.ClusterRoleBindingList{} }
	r.Fields = func(obj runtime.Object) fields.Set { return metaFields(obj, false) }
	return r
}

// Review kinds are create-only and never stored: the API server answers
// them from its authenticator and authorizer. They are listed here so that
// discovery (which kubectl auth consults) shows them as Kubernetes does.
func reviewResource(gv schema.GroupVersion, name, kind string, namespaced bool, newObj func() runtime.Object) *Resource {
	return &Resource{
		GroupVersion: gv, Name: name, SingularName: "", Kind: kind, Namespaced: namespaced,
		Verbs: []string{"create"}, NotStored: true,
		New: newObj, NewList: newObj,
		Fields: func(obj runtime.Object) fields.Set { return metaFields(obj, namespaced) },
	}
}

func selfSubjectAccessReviews() *Resource {
	return reviewResource(authorizationv1.SchemeGroupVersion, "selfsubjectaccessreviews", "SelfSubjectAccessReview", false,
		func() runtime.Object { return &authorizationv1.SelfSubjectAccessReview{} })
}

func selfSubjectRulesReviews() *Resource {
	return reviewResource(authorizationv1.SchemeGroupVersion, "selfsubjectrulesreviews", "SelfSubjectRulesReview", false,
		func() runtime.Object { return &authorizationv1.SelfSubjectRulesReview{} })
}

func subjectAccessReviews() *Resource {
	return reviewResource(authorizationv1.SchemeGroupVersion, "subjectaccessreviews", "SubjectAccessReview", false,
		func() runtime.Object { return &authorizationv1.SubjectAccessReview{} })
}

func localSubjectAccessReviews() *Resource {
	return reviewResource(authorizationv1.SchemeGroupVersion, "localsubjectaccessreviews", "LocalSubjectAccessReview", true,
		func() runtime.Object { return &authorizationv1.LocalSubjectAccessReview{} })
}

func selfSubjectReviews() *Resource {
	return reviewResource(authenticationv1.SchemeGroupVersion, "selfsubjectreviews", "SelfSubjectReview", false,
		func() runtime.Object { return &authenticationv1.SelfSubjectReview{} })
}

func tokenReviews() *Resource {
	return reviewResource(authenticationv1.SchemeGroupVersion, "tokenreviews", "TokenReview", false,
		func() runtime.Object { return &authenticationv1.TokenReview{} })
}
