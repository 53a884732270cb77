package app

import (
	"context"
	"log/slog"

	"github.com/berth-dev/berth/internal/admission/alwayspullimages"
	"github.com/berth-dev/berth/internal/admission/pullsecretlint"
	"github.com/berth-dev/berth/internal/admission/serviceaccount"
	"github.com/berth-dev/berth/internal/apiserver"
	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/storage"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// admissionPlugins builds the admission chain in Kubernetes' order:
// ServiceAccount, then the optional AlwaysPullImages, then berth's
// pull-secret lint (which only warns).
func admissionPlugins(store storage.Store, reg *registry.Registry, enabled []string) ([]any, error) {
	rd := apiserver.NewReader(store, reg)
	accounts := accountGetter{rd}
	plugins := []any{serviceaccount.New(accounts)}
	for _, name := range enabled {
		if name == alwayspullimages.PluginName {
			plugins = append(plugins, alwayspullimages.New())
		}
	}
	plugins = append(plugins, pullsecretlint.New(secretGetter{rd}, accounts))
	return plugins, nil
}

type accountGetter struct{ rd *apiserver.Reader }

func (a accountGetter) Get(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	return a.rd.ServiceAccount(ctx, namespace, name)
}

type secretGetter struct{ rd *apiserver.Reader }

func (s secretGetter) Get(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	return s.rd.Secret(ctx, namespace, name)
}

// Namespaces lists the namespaces holding a secret named name.
func (s secretGetter) Namespaces(ctx context.Context, name string) ([]string, error) {
	all, err := s.rd.Secrets(ctx, "")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, sec := range all {
		if sec.Name == name {
			out = append(out, sec.Namespace)
		}
	}
	return out, nil
}

// controllerSet holds what the in-process controllers share.
type controllerSet struct {
	client      kubernetes.Interface
	restConfig  *rest.Config
	serviceCIDR string
	advertiseIP string
	port        string
	log         *slog.Logger
}

// bootstrap creates what must exist before the server reports ready.
func (c controllerSet) bootstrap(ctx context.Context) error { return nil }

func (c controllerSet) runners() map[string]func(context.Context) error { return nil }
