// Package rbacescalation is Kubernetes' RBAC escalation prevention: a
// user may write a Role or ClusterRole only with rules they already hold
// (or with the escalate verb on it), and a RoleBinding or
// ClusterRoleBinding only to a role whose rules they already hold (or with
// the bind verb on it). Kubernetes does this in its rbac registries
// (pkg/registry/rbac/*/policybased); berth runs the same checks, with the
// same upstream functions and messages, as a validating admission step.
package rbacescalation

import (
	"context"
	"errors"

	"github.com/berth-dev/berth/internal/admission"
	rbacv1 "k8s.io/api/rbac/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/kubernetes/pkg/apis/rbac"
	rbacregistry "k8s.io/kubernetes/pkg/registry/rbac"
	rbacregistryvalidation "k8s.io/kubernetes/pkg/registry/rbac/validation"
)

// Plugin checks writes of the four RBAC kinds.
type Plugin struct {
	authz    authorizer.UnconditionalAuthorizer
	resolver rbacregistryvalidation.AuthorizationRuleResolver
}

// New returns the plugin; both arguments must be non-nil.
func New(authz authorizer.UnconditionalAuthorizer, resolver rbacregistryvalidation.AuthorizationRuleResolver) *Plugin {
	return &Plugin{authz: authz, resolver: resolver}
}

// fullAuthority is what setting an aggregationRule requires.
var fullAuthority = []rbacv1.PolicyRule{
	{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}},
	{Verbs: []string{"*"}, NonResourceURLs: []string{"*"}},
}

// Validate rejects an escalating write with Kubernetes' Forbidden error.
func (p *Plugin) Validate(ctx context.Context, a *admission.Attributes) error {
	if a.Resource.Group != rbacv1.GroupName || a.Subresource != "" || (a.Operation != admission.Create && a.Operation != admission.Update) {
		return nil
	}
	if rbacregistry.EscalationAllowed(ctx) {
		return nil
	}
	if a.Operation == admission.Update && a.OldObject != nil && rbacregistry.IsOnlyMutatingGCFields(a.Object, a.OldObject, apiequality.Semantic) {
		return nil
	}
	gr := a.Resource.GroupResource()
	switch o := a.Object.(type) {
	case *rbacv1.Role:
		return p.checkRules(ctx, gr, o.Name, o.Rules, false)
	case *rbacv1.ClusterRole:
		return p.checkRules(ctx, gr, o.Name, o.Rules, o.AggregationRule != nil)
	case *rbacv1.RoleBinding:
		return p.checkBinding(ctx, gr, o.Name, o.RoleRef, a.Namespace)
	case *rbacv1.ClusterRoleBinding:
		return p.checkBinding(ctx, gr, o.Name, o.RoleRef, "")
	}
	return nil
}

func (p *Plugin) checkRules(ctx context.Context, gr schema.GroupResource, name string, rules []rbacv1.PolicyRule, aggregating bool) error {
	if rbacregistry.RoleEscalationAuthorized(ctx, p.authz) {
		return nil
	}
	if err := rbacregistryvalidation.ConfirmNoEscalation(ctx, p.resolver, rules); err != nil {
		return apierrors.NewForbidden(gr, name, err)
	}
	if aggregating {
		if err := rbacregistryvalidation.ConfirmNoEscalation(ctx, p.resolver, fullAuthority); err != nil {
			return apierrors.NewForbidden(gr, name, errors.New("must have cluster-admin privileges to use the aggregationRule"))
		}
	}
	return nil
}

func (p *Plugin) checkBinding(ctx context.Context, gr schema.GroupResource, name string, ref rbacv1.RoleRef, namespace string) error {
	if rbacregistry.BindingAuthorized(ctx, rbac.RoleRef{APIGroup: ref.APIGroup, Kind: ref.Kind, Name: ref.Name}, namespace, p.authz) {
		return nil
	}
	rules, err := p.resolver.GetRoleReferenceRules(ctx, ref, namespace)
	if err != nil {
		return err
	}
	if err := rbacregistryvalidation.ConfirmNoEscalation(ctx, p.resolver, rules); err != nil {
		return apierrors.NewForbidden(gr, name, err)
	}
	return nil
}

var _ runtime.Object = (*rbacv1.Role)(nil)
