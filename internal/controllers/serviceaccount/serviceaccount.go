// Package serviceaccount keeps a ServiceAccount named "default" in every
// namespace, as Kubernetes' service-account controller does. The
// ServiceAccount admission plugin gives every pod that names no service
// account the "default" one and rejects the pod when it is missing, so a
// namespace without it cannot run pods.
package serviceaccount

import (
	"context"
	"fmt"
	"github.com/berth-dev/berth/internal/controllers/workers"
	"log/slog"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// DefaultName is the name of the ServiceAccount ensured in every namespace.
const DefaultName = "default"

// Config holds the optional settings of a Controller.
type Config struct {
	// Informers, when set, supplies the namespace and ServiceAccount
	// informers so that they are shared with other controllers; Run starts
	// the factory but does not shut it down. Default: a private factory.
	Informers informers.SharedInformerFactory
	// Logger receives the controller's log lines. Default: slog.Default().
	Logger *slog.Logger
	// Workers is the number of namespaces synced in parallel. Default: 2.
	Workers int
}

// Controller ensures the "default" ServiceAccount exists in every namespace
// that is not terminating.
type Controller struct {
	client     kubernetes.Interface
	log        *slog.Logger
	factory    informers.SharedInformerFactory
	ownFactory bool
	workers    int

	nsLister corelisters.NamespaceLister
	saLister corelisters.ServiceAccountLister
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]

	hasSynced atomic.Bool
}

// New returns a Controller that works through client. Event handlers are
// registered here, so a shared factory in cfg must be started after New
// (Run does that).
func New(client kubernetes.Interface, cfg Config) *Controller {
	c := &Controller{
		client:  client,
		log:     cfg.Logger,
		factory: cfg.Informers,
		workers: cfg.Workers,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(newRateLimiter(),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "serviceaccount"}),
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.log = c.log.With("controller", "serviceaccount")
	if c.workers <= 0 {
		c.workers = 2
	}
	if c.factory == nil {
		// A periodic resync re-checks every namespace, which heals a
		// "default" ServiceAccount whose deletion event was missed.
		c.factory = informers.NewSharedInformerFactory(client, 10*time.Minute)
		c.ownFactory = true
	}

	nsInformer := c.factory.Core().V1().Namespaces()
	saInformer := c.factory.Core().V1().ServiceAccounts()
	c.nsLister = nsInformer.Lister()
	c.saLister = saInformer.Lister()

	nsReg, _ := nsInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueueNamespace,
		UpdateFunc: func(_, obj any) { c.enqueueNamespace(obj) },
	})
	saReg, _ := saInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: c.serviceAccountDeleted,
	})
	c.synced = []cache.InformerSynced{nsReg.HasSynced, saReg.HasSynced}
	return c
}

// newRateLimiter retries a failing namespace with per-item exponential
// back-off capped at 30 s: the Kubernetes default cap of 1000 s would leave a
// namespace without its ServiceAccount for many minutes after an API outage.
func newRateLimiter() workqueue.TypedRateLimiter[string] {
	return workqueue.NewTypedItemExponentialFailureRateLimiter[string](5*time.Millisecond, 30*time.Second)
}

// HasSynced reports whether the controller's caches have synced, after
// which every existing namespace has been queued.
func (c *Controller) HasSynced() bool { return c.hasSynced.Load() }

// Run starts the informers and workers and blocks until ctx ends; it then
// returns nil. API errors never end it: failed namespaces are retried with
// back-off.
func (c *Controller) Run(ctx context.Context) error {
	defer c.queue.ShutDown()
	c.factory.Start(ctx.Done())
	if c.ownFactory {
		defer c.factory.Shutdown()
	}
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return nil // ctx ended before the caches synced
	}
	c.hasSynced.Store(true)
	c.log.Debug("caches synced")

	workers.Run(ctx, c.queue, c.workers, c.syncNamespace, func(name string, err error) {
		c.log.Warn("retrying", "namespace", name, "err", err)
	})
	return nil
}

func (c *Controller) enqueueNamespace(obj any) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return
	}
	c.queue.Add(ns.Name)
}

func (c *Controller) serviceAccountDeleted(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	sa, ok := obj.(*corev1.ServiceAccount)
	if !ok || sa.Name != DefaultName {
		return
	}
	c.queue.Add(sa.Namespace)
}

// syncNamespace creates the "default" ServiceAccount in namespace name
// unless it exists or the namespace is gone or terminating.
func (c *Controller) syncNamespace(ctx context.Context, name string) error {
	ns, err := c.nsLister.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting namespace %q from cache: %w", name, err)
	}
	if terminating(ns) {
		// The namespace controller is deleting the namespace's content;
		// recreating the ServiceAccount would only hold the deletion up.
		return nil
	}
	_, err = c.saLister.ServiceAccounts(name).Get(DefaultName)
	if err == nil {
		return nil
	}
	if !apierrors.IsNotFound(err) {
		return fmt.Errorf("getting serviceaccount %s/%s from cache: %w", name, DefaultName, err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: DefaultName, Namespace: name}}
	_, err = c.client.CoreV1().ServiceAccounts(name).Create(ctx, sa, metav1.CreateOptions{})
	switch {
	case err == nil:
		c.log.Info("created serviceaccount", "namespace", name, "serviceaccount", DefaultName)
		return nil
	case apierrors.IsAlreadyExists(err):
		// Created by someone else, or our cache is behind: either way it exists.
		return nil
	case apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		// Deletion began after our cache last saw the namespace.
		return nil
	case apierrors.IsNotFound(err):
		// The namespace is gone; its informer event will bring it back if
		// it is created again.
		return nil
	default:
		return fmt.Errorf("creating serviceaccount %s/%s: %w", name, DefaultName, err)
	}
}

// terminating reports whether ns is being deleted: the API server sets
// deletionTimestamp and phase Terminating together, but either alone is
// enough to stop adding content to it.
func terminating(ns *corev1.Namespace) bool {
	return ns.DeletionTimestamp != nil || ns.Status.Phase == corev1.NamespaceTerminating
}
