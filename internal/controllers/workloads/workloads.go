// Package workloads runs kube-controller-manager's own workload
// controllers in-process against berth's API through client-go, wired as
// kube-controller-manager wires them (v1.37):
//
//   - deployment, replicaset, statefulset, daemonset (apps/v1), with the
//     controller-revision history they keep;
//   - job and cronjob (batch/v1);
//   - disruption (policy/v1 PodDisruptionBudget status);
//   - the garbage collector: a dependency graph of every deletable
//     resource found by discovery (typed informers where the shared factory
//     has them, metadata-only informers elsewhere), resynced every 30 s, which
//     deletes dependents whose owners are gone and runs the orphan and
//     foregroundDeletion finalizers.
//
// Their behaviour is therefore Kubernetes' by construction: rollout
// strategies, revision history, pod naming, backoff limits, schedules,
// adoption and release of pods by labels, cascading deletion.
//
// berth serves no ReplicationControllers and no PersistentVolumeClaims;
// the controllers that watch them (disruption, statefulset) get informers
// that are always empty.
package workloads

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/emptyinformer"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	cacheddiscovery "k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/scale"
	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/controller-manager/pkg/informerfactory"
	"k8s.io/klog/v2"
	"k8s.io/kubernetes/pkg/controller/cronjob"
	"k8s.io/kubernetes/pkg/controller/daemon"
	"k8s.io/kubernetes/pkg/controller/deployment"
	"k8s.io/kubernetes/pkg/controller/disruption"
	"k8s.io/kubernetes/pkg/controller/garbagecollector"
	"k8s.io/kubernetes/pkg/controller/job"
	"k8s.io/kubernetes/pkg/controller/replicaset"
	"k8s.io/kubernetes/pkg/controller/statefulset"
)

// Worker counts: kube-controller-manager's defaults, scaled down for one
// node where they are 5 or more.
const (
	deploymentWorkers  = 3
	replicaSetWorkers  = 3
	statefulSetWorkers = 2
	daemonSetWorkers   = 2
	jobWorkers         = 3
	cronJobWorkers     = 2
	disruptionWorkers  = 1
	gcWorkers          = 5
	// gcSyncPeriod is how often the garbage collector re-reads discovery
	// (kube-controller-manager: 30 s), and restMapperReset how often the
	// REST mapper forgets what it learnt.
	gcSyncPeriod    = 30 * time.Second
	restMapperReset = 30 * time.Second
)

// Config holds the settings of a Controller.
type Config struct {
	// RESTConfig reaches the API server; the metadata, discovery and scale
	// clients are made from it. Required.
	RESTConfig *rest.Config
	// Logger receives the controllers' log lines. Default: slog.Default().
	Logger *slog.Logger
	// Informers is the typed factory the controllers and the garbage
	// collector share with the rest of the process (built with
	// TrimManagedFields, as their own would be); Run starts it and never
	// shuts it down. Nil: a factory of their own.
	Informers informers.SharedInformerFactory
}

// Controller runs the workload controllers and the garbage collector.
type Controller struct {
	client kubernetes.Interface
	cfg    Config
}

// New returns a Controller that works through client.
func New(client kubernetes.Interface, cfg Config) *Controller {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Controller{client: client, cfg: cfg}
}

// TrimManagedFields drops managedFields from informer caches, as
// kube-controller-manager does: no controller reads them and they are
// most of an object's size. It is an informers.WithTransform function.
func TrimManagedFields(obj any) (any, error) {
	if acc, ok := obj.(metav1.ObjectMetaAccessor); ok {
		acc.GetObjectMeta().SetManagedFields(nil)
	}
	return obj, nil
}

// Run builds the controllers, starts the informers and blocks until ctx
// ends. Only a configuration error ends it early.
func (c *Controller) Run(ctx context.Context) error {
	ctx = klog.NewContext(ctx, logr.FromSlogHandler(c.cfg.Logger.Handler()))
	factory, own := c.cfg.Informers, false
	if factory == nil {
		factory, own = informers.NewSharedInformerFactoryWithOptions(c.client, 0, informers.WithTransform(TrimManagedFields)), true
	}
	// Kinds berth does not serve: empty informers, registered before any
	// controller asks for them.
	factory.InformerFor(&corev1.PersistentVolumeClaim{}, emptyinformer.For(&corev1.PersistentVolumeClaim{}, &corev1.PersistentVolumeClaimList{}))
	factory.InformerFor(&corev1.ReplicationController{}, emptyinformer.For(&corev1.ReplicationController{}, &corev1.ReplicationControllerList{}))

	mdClient, err := metadata.NewForConfig(c.cfg.RESTConfig)
	if err != nil {
		return err
	}
	mdFactory := metadatainformer.NewSharedInformerFactoryWithOptions(mdClient, 0, metadatainformer.WithTransform(TrimManagedFields))
	disco, err := discovery.NewDiscoveryClientForConfig(c.cfg.RESTConfig)
	if err != nil {
		return err
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(cacheddiscovery.NewMemCacheClient(disco))
	go wait.Until(mapper.Reset, restMapperReset, ctx.Done())
	scaleClient, err := scale.NewForConfig(c.cfg.RESTConfig, mapper, dynamic.LegacyAPIPathResolverFunc,
		scale.NewDiscoveryScaleKindResolver(disco))
	if err != nil {
		return err
	}

	apps, batch, core := factory.Apps().V1(), factory.Batch().V1(), factory.Core().V1()
	var runs []func(context.Context)

	dc, err := deployment.NewDeploymentController(ctx, apps.Deployments(), apps.ReplicaSets(), core.Pods(), c.client)
	if err != nil {
		return err
	}
	runs = append(runs, func(ctx context.Context) { dc.Run(ctx, deploymentWorkers) })

	rsc := replicaset.NewReplicaSetController(ctx, apps.ReplicaSets(), core.Pods(), c.client, replicaset.BurstReplicas)
	runs = append(runs, func(ctx context.Context) { rsc.Run(ctx, replicaSetWorkers) })

	ssc := statefulset.NewStatefulSetController(ctx, core.Pods(), apps.StatefulSets(), core.PersistentVolumeClaims(),
		apps.ControllerRevisions(), c.client)
	runs = append(runs, func(ctx context.Context) { ssc.Run(ctx, statefulSetWorkers) })

	dsc, err := daemon.NewDaemonSetsController(ctx, apps.DaemonSets(), apps.ControllerRevisions(), core.Pods(), core.Nodes(),
		c.client, flowcontrol.NewBackOff(1*time.Second, 15*time.Minute))
	if err != nil {
		return err
	}
	runs = append(runs, func(ctx context.Context) { dsc.Run(ctx, daemonSetWorkers) })

	jc, err := job.NewController(ctx, c.client, core.Pods(), batch.Jobs(), nil, nil)
	if err != nil {
		return err
	}
	runs = append(runs, func(ctx context.Context) { jc.Run(ctx, jobWorkers) })

	cjc, err := cronjob.NewControllerV2(ctx, batch.Jobs(), batch.CronJobs(), c.client)
	if err != nil {
		return err
	}
	runs = append(runs, func(ctx context.Context) { cjc.Run(ctx, cronJobWorkers) })

	pdb := disruption.NewDisruptionController(ctx, core.Pods(), factory.Policy().V1().PodDisruptionBudgets(),
		core.ReplicationControllers(), apps.ReplicaSets(), apps.Deployments(), apps.StatefulSets(), c.client,
		mapper, scaleClient, disco)
	runs = append(runs, func(ctx context.Context) { pdb.Run(ctx, disruptionWorkers) })

	informersStarted := make(chan struct{})
	gc, err := garbagecollector.NewGarbageCollector(ctx, c.client, mdClient, mapper, GCIgnored(),
		informerfactory.NewInformerFactory(factory, mdFactory), informersStarted)
	if err != nil {
		return err
	}
	runs = append(runs,
		func(ctx context.Context) { gc.Run(ctx, gcWorkers, gcSyncPeriod) },
		func(ctx context.Context) { gc.Sync(ctx, disco, gcSyncPeriod) })

	var wg sync.WaitGroup
	for _, run := range runs {
		wg.Go(func() { run(ctx) })
	}
	// As kube-controller-manager: start the informers once every
	// controller has registered its own, then let the GC's graph start.
	factory.Start(ctx.Done())
	mdFactory.Start(ctx.Done())
	close(informersStarted)
	wg.Wait()
	if own {
		factory.Shutdown()
	}
	mdFactory.Shutdown()
	return nil
}

// GCIgnored is kube-controller-manager's default --gc-ignored-resources:
// events are never owners nor worth a graph node.
func GCIgnored() map[schema.GroupResource]struct{} {
	return map[schema.GroupResource]struct{}{
		{Group: "", Resource: "events"}:              {},
		{Group: "events.k8s.io", Resource: "events"}: {},
	}
}
