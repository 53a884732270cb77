package app

import (
	"context"
	"log/slog"

	"github.com/berth-dev/berth/internal/apiserver"
	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/storage"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// admissionPlugins builds the admission chain in Kubernetes' order.
func admissionPlugins(store storage.Store, reg *registry.Registry, enabled []string) ([]any, error) {
	_ = apiserver.NewReader(store, reg)
	return nil, nil
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
