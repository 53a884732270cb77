package auth

import (
	"context"
	"fmt"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	authzunion "k8s.io/apiserver/pkg/authorization/union"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	rbacregistryvalidation "k8s.io/kubernetes/pkg/registry/rbac/validation"
	"k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac"
)

// RBAC is Kubernetes' Node and RBAC authorizers over informer caches of the four
// rbac.authorization.k8s.io kinds, behind the system:masters shortcut
// kube-apiserver has. The informers must use a system:masters client (the
// loopback identity): until they have synced, everyone else is denied.
type RBAC struct {
	// Authorizer decides requests: system:masters, then RBAC.
	Authorizer authorizer.Authorizer
	// Rules lists what a user may do (SelfSubjectRulesReview).
	Rules authorizer.RuleResolver
	// Resolver is what escalation checks compare rules against.
	Resolver rbacregistryvalidation.AuthorizationRuleResolver

	factory    informers.SharedInformerFactory
	nodeSynced []cache.InformerSynced
}

// NewRBAC builds the authorizer over f's caches (a factory the process's
// controllers may share: its informers carry no managedFields, which
// neither authorizer reads); Run starts them.
func NewRBAC(f informers.SharedInformerFactory) (*RBAC, error) {
	rb := f.Rbac().V1()
	roles := &rbac.RoleGetter{Lister: rb.Roles().Lister()}
	bindings := &rbac.RoleBindingLister{Lister: rb.RoleBindings().Lister()}
	clusterRoles := &rbac.ClusterRoleGetter{Lister: rb.ClusterRoles().Lister()}
	clusterBindings := &rbac.ClusterRoleBindingLister{Lister: rb.ClusterRoleBindings().Lister()}
	rbacAuthz := rbac.New(roles, bindings, clusterRoles, clusterBindings)
	nodeAuthz, nodeSynced := newNodeAuthorizer(f)
	// kube-apiserver's order and names for --authorization-mode=Node,RBAC,
	// behind its system:masters shortcut (a union's reasons are prefixed
	// with the name, "node: no relationship found ...", as there).
	a, err := authzunion.New(
		authzunion.NamedAuthorizer{AuthorizerName: "kubernetes.io/system-privileged-group", Authorizer: authorizerfactory.NewPrivilegedGroups(user.SystemPrivilegedGroup)},
		authzunion.NamedAuthorizer{AuthorizerName: "node", Authorizer: nodeAuthz},
		authzunion.NamedAuthorizer{AuthorizerName: "rbac", Authorizer: rbacAuthz},
	)
	if err != nil {
		return nil, err
	}
	return &RBAC{
		Authorizer: a, Rules: authzunion.NewRuleResolvers(nodeAuthz, rbacAuthz),
		Resolver: rbacregistryvalidation.NewDefaultRuleResolver(roles, bindings, clusterRoles, clusterBindings),
		factory:  f, nodeSynced: nodeSynced,
	}, nil
}

// Informers is the factory the caches come from (for controllers that
// share them, such as ClusterRole aggregation).
func (r *RBAC) Informers() informers.SharedInformerFactory { return r.factory }

// Run starts the caches and returns once they have synced (or ctx ends).
func (r *RBAC) Run(ctx context.Context) error {
	rb := r.factory.Rbac().V1()
	synced := []cache.InformerSynced{
		rb.Roles().Informer().HasSynced, rb.RoleBindings().Informer().HasSynced,
		rb.ClusterRoles().Informer().HasSynced, rb.ClusterRoleBindings().Informer().HasSynced,
	}
	synced = append(synced, r.nodeSynced...)
	r.factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return fmt.Errorf("rbac: caches did not sync: %w", ctx.Err())
	}
	return nil
}
