package app

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/berth-dev/berth/internal/admission/alwayspullimages"
	"github.com/berth-dev/berth/internal/admission/podsecurity"
	"github.com/berth-dev/berth/internal/admission/pullsecretlint"
	saadmission "github.com/berth-dev/berth/internal/admission/serviceaccount"
	"github.com/berth-dev/berth/internal/apiserver"
	"github.com/berth-dev/berth/internal/controllers/binder"
	"github.com/berth-dev/berth/internal/controllers/bootstrap"
	"github.com/berth-dev/berth/internal/controllers/endpoints"
	"github.com/berth-dev/berth/internal/controllers/namespace"
	"github.com/berth-dev/berth/internal/controllers/serviceaccount"
	"github.com/berth-dev/berth/internal/controllers/workloads"
	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/storage"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// admissionPlugins builds the admission chain in Kubernetes' order:
// ServiceAccount, then the optional AlwaysPullImages, then berth's
// pull-secret lint (which only warns), PodSecurity (on by default, as in
// kube-apiserver).
func admissionPlugins(store storage.Store, reg *registry.Registry, enabled []string) ([]any, error) {
	rd := apiserver.NewReader(store, reg)
	accounts := accountGetter{rd}
	plugins := []any{saadmission.New(accounts)}
	for _, name := range enabled {
		if name == alwayspullimages.PluginName {
			plugins = append(plugins, alwayspullimages.New())
		}
	}
	plugins = append(plugins, pullsecretlint.New(secretGetter{rd}, accounts))
	psa, err := podsecurity.New(podSecurityReader{rd}, podSecurityReader{rd}, slog.Default())
	if err != nil {
		return nil, err
	}
	plugins = append(plugins, psa)
	return plugins, nil
}

type accountGetter struct{ rd *apiserver.Reader }

func (a accountGetter) Get(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	return a.rd.ServiceAccount(ctx, namespace, name)
}

// podSecurityReader gives PodSecurity the namespace's labels and pods.
type podSecurityReader struct{ rd *apiserver.Reader }

func (p podSecurityReader) GetNamespace(ctx context.Context, name string) (*corev1.Namespace, error) {
	return p.rd.Namespace(ctx, name)
}

func (p podSecurityReader) ListPods(ctx context.Context, namespace string) ([]*corev1.Pod, error) {
	return p.rd.Pods(ctx, namespace)
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
	// dnsEndpointIP is where the cluster DNS server listens: the kube-dns
	// Endpoints' address.
	dnsEndpointIP string
	port          string
	log           *slog.Logger
	// shared is the typed informer factory of the authorizer, the
	// endpoints and workload controllers and the garbage collector: one
	// watch and one cache per kind for all of them.
	shared informers.SharedInformerFactory
	// local builds informers on the watch cache in process (nil: none,
	// every informer goes through the API).
	local *apiserver.LocalSources
}

func (c controllerSet) bootstrapController() (*bootstrap.Controller, error) {
	port, err := strconv.Atoi(c.port)
	if err != nil {
		return nil, fmt.Errorf("API server port %q: %w", c.port, err)
	}
	return bootstrap.New(c.client, bootstrap.Config{ServiceCIDR: c.serviceCIDR, AdvertiseIP: c.advertiseIP,
		DNSEndpointIP: c.dnsEndpointIP, Port: int32(port), Logger: c.log}), nil
}

// bootstrap creates what must exist before the server reports ready: the
// four system namespaces and the kubernetes Service.
func (c controllerSet) bootstrap(ctx context.Context) error {
	b, err := c.bootstrapController()
	if err != nil {
		return err
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := b.EnsureOnce(ctx)
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// runners are the long-running controllers, by name.
func (c controllerSet) runners() map[string]func(context.Context) error {
	dyn, err := dynamic.NewForConfig(c.restConfig)
	if err != nil {
		return map[string]func(context.Context) error{"dynamic": func(context.Context) error { return err }}
	}
	b, _ := c.bootstrapController()
	return map[string]func(context.Context) error{
		"serviceaccount-controller": serviceaccount.New(c.client, serviceaccount.Config{Logger: c.log,
			Informers: localFactory(c.client, 10*time.Minute, c.local, gvrNamespaces, gvrServiceAccounts)}).Run,
		"namespace-controller": namespace.New(c.client, namespace.Config{Dynamic: dyn, Discover: true, Logger: c.log,
			Informers: localFactory(c.client, 10*time.Minute, c.local, gvrNamespaces, gvrPods)}).Run,
		"bootstrap-controller":  b.Run,
		"binder":                binder.New(c.client, binderConfig(c.log, c.shared, c.local)).Run,
		"endpoints-controllers": endpoints.New(c.client, endpoints.Config{Logger: c.log, Informers: c.shared}).Run,
		"workload-controllers":  workloads.New(c.client, workloads.Config{RESTConfig: c.restConfig, Logger: c.log, Informers: c.shared}).Run,
	}
}

var (
	gvrPods            = corev1.SchemeGroupVersion.WithResource("pods")
	gvrNamespaces      = corev1.SchemeGroupVersion.WithResource("namespaces")
	gvrServiceAccounts = corev1.SchemeGroupVersion.WithResource("serviceaccounts")
	gvrConfigMaps      = corev1.SchemeGroupVersion.WithResource("configmaps")
)

// localFactory is an informer factory whose informers of gvrs read the
// watch cache in process (apiserver.LocalSources); any other kind it is
// asked for goes through the API.
func localFactory(client kubernetes.Interface, resync time.Duration, local *apiserver.LocalSources, gvrs ...schema.GroupVersionResource) informers.SharedInformerFactory {
	f := informers.NewSharedInformerFactory(client, resync)
	for _, gvr := range gvrs {
		if newInformer, obj, ok := local.Informer(gvr); ok {
			f.InformerFor(obj, newInformer)
		}
	}
	return f
}

// binderConfig gives the binder the shared factory's nodes and, with a
// watch cache, its pods in process.
func binderConfig(log *slog.Logger, shared informers.SharedInformerFactory, local *apiserver.LocalSources) binder.Config {
	cfg := binder.Config{Logger: log, Informers: shared}
	if pods, ok := local.ListerWatcher(gvrPods); ok {
		cfg.Pods = pods
	}
	return cfg
}
