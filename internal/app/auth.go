package app

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/berth-dev/berth/internal/admission/noderestriction"
	"github.com/berth-dev/berth/internal/admission/rbacescalation"
	"github.com/berth-dev/berth/internal/apiserver"
	"github.com/berth-dev/berth/internal/auth"
	"github.com/berth-dev/berth/internal/pki"
	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/storage"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/kubernetes/pkg/controller/certificates/rootcacertpublisher"
	"k8s.io/kubernetes/pkg/controller/clusterroleaggregation"
)

// accessControl is what the API server needs to authenticate and
// authorize: client certificates from the cluster CA, service-account
// JWTs signed by DATA_DIR/pki/sa.key, anonymous requests, and RBAC (with
// system:masters, the admin kubeconfig's group, always allowed).
type accessControl struct {
	rbac   *auth.RBAC
	tokens *auth.Tokens
	bundle *pki.Bundle
	client kubernetes.Interface
	local  *apiserver.LocalSources // nil: informers go through the API
}

func newAccessControl(bundle *pki.Bundle, store storage.Store, reg *registry.Registry, client kubernetes.Interface,
	shared informers.SharedInformerFactory) (*accessControl, error) {
	key, err := auth.LoadOrCreateKey(filepath.Join(bundle.Dir, auth.ServiceAccountKeyFile))
	if err != nil {
		return nil, err
	}
	tokens, err := auth.NewTokens(key, auth.DefaultIssuer, apiserver.NewReader(store, reg))
	if err != nil {
		return nil, err
	}
	rb, err := auth.NewRBAC(shared)
	if err != nil {
		return nil, err
	}
	return &accessControl{rbac: rb, tokens: tokens, bundle: bundle, client: client}, nil
}

// configure fills the API server's access fields.
func (a *accessControl) configure(cfg *apiserver.Config) {
	cfg.Authenticator = auth.NewAuthenticator(auth.AuthnConfig{ClientCA: a.bundle.CAPool(), Tokens: a.tokens, Anonymous: true})
	cfg.APIAudiences = a.tokens.Audiences
	cfg.Authorizer = a.rbac.Authorizer
	cfg.Rules = a.rbac.Rules
	cfg.RBACResolver = a.rbac.Resolver
	cfg.ServiceAccountTokens = a.tokens
	cfg.OpenIDMetadata = a.tokens
}

// escalationPlugin is the admission step that refuses RBAC escalation.
func (a *accessControl) escalationPlugin() any {
	return rbacescalation.New(a.rbac.Authorizer, a.rbac.Resolver)
}

// nodeRestrictionPlugin is Kubernetes' NodeRestriction admission plugin
// over the same caches the Node authorizer uses.
func (a *accessControl) nodeRestrictionPlugin() (any, error) {
	// Never started, so its client is never called: its listers
	// (PersistentVolumes, claims, CSIDrivers, none of which berth serves)
	// stay empty.
	empty := informers.NewSharedInformerFactory(a.client, 0)
	return noderestriction.New(a.rbac.Informers(), empty, a.rbac.Authorizer)
}

// bootstrap reconciles the bootstrap RBAC policy, retrying while the API
// server comes up.
func (a *accessControl) bootstrap(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := auth.EnsureBootstrapPolicy(ctx, a.client)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("bootstrap RBAC policy: %w", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// runners: the RBAC caches, Kubernetes' ClusterRole aggregation controller
// and its root-CA publisher (kube-root-ca.crt in every namespace).
func (a *accessControl) runners() map[string]func(context.Context) error {
	core := localFactory(a.client, 10*time.Minute, a.local, gvrConfigMaps, gvrNamespaces)
	return map[string]func(context.Context) error{
		"rbac-cache": a.rbac.Run,
		"clusterrole-aggregation": func(ctx context.Context) error {
			c := clusterroleaggregation.NewClusterRoleAggregation(a.rbac.Informers().Rbac().V1().ClusterRoles(), a.client.RbacV1())
			c.Run(ctx, 1)
			return nil
		},
		"root-ca-publisher": func(ctx context.Context) error {
			p, err := rootcacertpublisher.NewPublisher(core.Core().V1().ConfigMaps(), core.Core().V1().Namespaces(), a.client, a.bundle.CAPEM)
			if err != nil {
				return err
			}
			core.Start(ctx.Done())
			p.Run(ctx, 1)
			return nil
		},
	}
}
