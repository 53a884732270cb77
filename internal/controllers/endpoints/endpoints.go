// Package endpoints keeps every Service's Endpoints and EndpointSlices, by
// running kube-controller-manager's own controllers in-process against
// berth's API through client-go (as k3s embeds them):
//
//   - endpoint (k8s.io/kubernetes/pkg/controller/endpoint): core/v1
//     Endpoints from the pods matching a selector Service;
//   - endpointslice (…/endpointslice): discovery.k8s.io/v1 EndpointSlices
//     for the same Services;
//   - endpointslicemirroring (…/endpointslicemirroring): slices for
//     selectorless Services whose Endpoints a user or another controller
//     writes.
//
// Besides them it writes the "kubernetes" Service's EndpointSlice, which
// kube-apiserver writes itself on a real cluster (see apiserver.go).
//
// Taking them rather than rewriting them means readiness, named target
// ports, publishNotReadyAddresses, terminating pods, hostname/subdomain,
// slice packing and the managed-by labels are exactly Kubernetes', and stay
// so as berth follows Kubernetes releases.
package endpoints

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/go-logr/logr"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
	endpointcontroller "k8s.io/kubernetes/pkg/controller/endpoint"
	endpointslicecontroller "k8s.io/kubernetes/pkg/controller/endpointslice"
	mirroringcontroller "k8s.io/kubernetes/pkg/controller/endpointslicemirroring"
)

// Defaults of kube-controller-manager's flags for these controllers.
const (
	// --max-endpoints-per-slice
	maxEndpointsPerSlice = 100
	// --mirroring-max-endpoints-subset-size
	mirroringMaxEndpointsPerSubset = 1000
)

// Config holds the optional settings of a Controller.
type Config struct {
	// Informers, when set, supplies the shared informers; Run starts the
	// factory but does not shut it down. Default: a private factory.
	Informers informers.SharedInformerFactory
	// Logger receives the controllers' log lines. Default: slog.Default().
	Logger *slog.Logger
	// Workers per controller. Default: 2 (kube-controller-manager uses 5
	// for endpoints and slices; one node needs fewer).
	Workers int
	// BatchPeriod groups pod changes into one sync
	// (--endpoint-updates-batch-period). Default 0: every change is
	// written at once, as kube-controller-manager's default.
	BatchPeriod time.Duration
}

// Controller runs the three upstream controllers on shared informers.
type Controller struct {
	client kubernetes.Interface
	cfg    Config
}

// New returns a Controller that works through client.
func New(client kubernetes.Interface, cfg Config) *Controller {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	return &Controller{client: client, cfg: cfg}
}

// keepRunningOnPanic sets apimachinery's process-wide switch once.
var keepRunningOnPanic sync.Once

// Run builds the controllers, starts the informers and blocks until ctx
// ends.
func (c *Controller) Run(ctx context.Context) error {
	// Kubernetes' controllers recover panics with HandleCrash, which by
	// default re-panics and ends the process. In berth that process is the
	// node: log the panic with its stack and let the worker loop go on.
	keepRunningOnPanic.Do(func() { utilruntime.ReallyCrash = false })
	ctx = klog.NewContext(ctx, logr.FromSlogHandler(c.cfg.Logger.Handler()))
	factory, own := c.cfg.Informers, false
	if factory == nil {
		factory, own = informers.NewSharedInformerFactory(c.client, 0), true
	}
	pods := factory.Core().V1().Pods()
	services := factory.Core().V1().Services()
	endpoints := factory.Core().V1().Endpoints()
	slices := factory.Discovery().V1().EndpointSlices()
	nodes := factory.Core().V1().Nodes()

	ep := endpointcontroller.NewEndpointController(ctx, pods, services, endpoints, c.client, c.cfg.BatchPeriod)
	es := endpointslicecontroller.NewController(ctx, pods, services, nodes, slices, maxEndpointsPerSlice, c.client, c.cfg.BatchPeriod)
	mir := mirroringcontroller.NewController(ctx, endpoints, slices, services, mirroringMaxEndpointsPerSubset, c.client, c.cfg.BatchPeriod)
	api := newAPIServerSlice(c.client, endpoints.Informer(), endpoints.Lister(), c.cfg.Logger)

	factory.Start(ctx.Done())
	if own {
		defer factory.Shutdown()
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if !cache.WaitForCacheSync(ctx.Done(), endpoints.Informer().HasSynced) {
			return
		}
		api.run(ctx)
	})
	for _, run := range []func(context.Context, int){ep.Run, es.Run, mir.Run} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run(ctx, c.cfg.Workers)
		}()
	}
	wg.Wait()
	return nil
}
