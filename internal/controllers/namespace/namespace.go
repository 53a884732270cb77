// Package namespace finishes namespace deletion, as Kubernetes' namespace
// controller does. On DELETE the API server only marks a namespace (it sets
// deletionTimestamp and status.phase=Terminating) and keeps it while
// spec.finalizers holds "kubernetes". This controller deletes every
// namespaced object in it, waits until they are gone (pods leave only once
// their containers stopped, after their grace period), and then removes the
// "kubernetes" finalizer through the namespace's finalize subresource, after
// which the API server removes the namespace.
//
// While it works it keeps the namespace's deletion conditions current
// (NamespaceContentRemaining, NamespaceFinalizersRemaining,
// NamespaceDeletionContentFailure, …) with Kubernetes' reasons and
// messages, so `kubectl describe namespace` says what deletion waits for.
package namespace

import (
	"context"
	"errors"
	"fmt"
	"github.com/berth-dev/berth/internal/controllers/workers"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// DefaultResources are the namespaced resources berth serves, pods first so
// that their grace periods start as early as possible.
var DefaultResources = []schema.GroupVersionResource{
	{Version: "v1", Resource: "pods"},
	{Version: "v1", Resource: "services"},
	{Version: "v1", Resource: "endpoints"},
	{Version: "v1", Resource: "configmaps"},
	{Version: "v1", Resource: "secrets"},
	{Version: "v1", Resource: "serviceaccounts"},
	{Version: "v1", Resource: "events"},
	{Group: "coordination.k8s.io", Version: "v1", Resource: "leases"},
}

// Config holds the dependencies and settings of a Controller.
type Config struct {
	// Dynamic deletes and lists the namespace's content. Required.
	Dynamic dynamic.Interface
	// Resources are the namespaced resources whose objects are deleted.
	// Default: DefaultResources.
	Resources []schema.GroupVersionResource
	// Discover, when true, deletes every namespaced resource the API server
	// lists in discovery (that supports list and delete) instead of
	// Resources, so resources added to the server later are covered too.
	Discover bool
	// Informers, when set, supplies the namespace and pod informers so
	// that they are shared with other controllers; Run starts the factory
	// but does not shut it down. Default: a private factory.
	Informers informers.SharedInformerFactory
	// Logger receives the controller's log lines. Default: slog.Default().
	Logger *slog.Logger
	// Workers is the number of namespaces processed in parallel. Default: 2.
	Workers int
}

// Controller deletes the content of terminating namespaces and then
// finalizes them.
type Controller struct {
	client     kubernetes.Interface
	dynamic    dynamic.Interface
	resources  []schema.GroupVersionResource
	discover   bool
	log        *slog.Logger
	factory    informers.SharedInformerFactory
	ownFactory bool
	workers    int

	nsLister corelisters.NamespaceLister
	synced   []cache.InformerSynced
	queue    workqueue.TypedRateLimitingInterface[string]

	hasSynced atomic.Bool
}

// New returns a Controller that reads and finalizes namespaces through
// client and deletes their content through cfg.Dynamic. Event handlers are
// registered here, so a shared factory in cfg must be started after New
// (Run does that).
func New(client kubernetes.Interface, cfg Config) *Controller {
	c := &Controller{
		client:    client,
		dynamic:   cfg.Dynamic,
		resources: cfg.Resources,
		discover:  cfg.Discover,
		log:       cfg.Logger,
		factory:   cfg.Informers,
		workers:   cfg.Workers,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			// Content that remains (pods within their grace period,
			// objects with finalizers) is polled with the same back-off as
			// failures; the cap keeps `kubectl delete namespace` from
			// waiting long after the last object left.
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](50*time.Millisecond, 5*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "namespace"}),
	}
	if len(c.resources) == 0 {
		c.resources = DefaultResources
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.log = c.log.With("controller", "namespace")
	if c.workers <= 0 {
		c.workers = 2
	}
	if c.factory == nil {
		c.factory = informers.NewSharedInformerFactory(client, 10*time.Minute)
		c.ownFactory = true
	}

	nsInformer := c.factory.Core().V1().Namespaces()
	c.nsLister = nsInformer.Lister()
	nsReg, _ := nsInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueueNamespace,
		UpdateFunc: func(_, obj any) { c.enqueueNamespace(obj) },
	})
	// A pod leaving a terminating namespace is usually the last thing its
	// deletion waits for; reacting to it avoids waiting out the back-off.
	podReg, _ := c.factory.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: c.podDeleted,
	})
	c.synced = []cache.InformerSynced{nsReg.HasSynced, podReg.HasSynced}
	return c
}

// HasSynced reports whether the controller's caches have synced.
func (c *Controller) HasSynced() bool { return c.hasSynced.Load() }

// Run starts the informers and workers and blocks until ctx ends; it then
// returns nil. It fails at once only when Config.Dynamic is missing. API
// errors never end it: namespaces are retried with back-off until their
// content is gone and they are finalized.
func (c *Controller) Run(ctx context.Context) error {
	if c.dynamic == nil {
		return errors.New("namespace controller: no dynamic client configured")
	}
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
		if errors.As(err, new(*remainingError)) {
			// Not a failure: deletion is under way and this is a poll.
			c.log.Debug("waiting for namespace content", "namespace", name, "remaining", err)
			return
		}
		c.log.Warn("retrying", "namespace", name, "err", err)
	})
	return nil
}

func (c *Controller) enqueueNamespace(obj any) {
	ns, ok := obj.(*corev1.Namespace)
	if !ok || ns.DeletionTimestamp == nil {
		return
	}
	c.queue.Add(ns.Name)
}

func (c *Controller) podDeleted(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if ns, err := c.nsLister.Get(pod.Namespace); err == nil && ns.DeletionTimestamp != nil {
		c.queue.Add(ns.Name)
	}
}

// remainingError says that a namespace still holds objects, so it cannot be
// finalized yet.
type remainingError struct{ msg string }

func (e *remainingError) Error() string { return e.msg }

// syncNamespace advances the deletion of namespace name by one step: delete
// what is left, record the outcome in status conditions and, once nothing
// is left, remove the "kubernetes" finalizer.
func (c *Controller) syncNamespace(ctx context.Context, name string) error {
	// Read the namespace live, as Kubernetes does: a finalize built on a
	// stale copy would only fail on its resourceVersion.
	ns, err := c.client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting namespace %q: %w", name, err)
	}
	if ns.DeletionTimestamp == nil {
		return nil
	}
	if !slices.Contains(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
		// Already finalized; other finalizers are not ours to act on.
		return nil
	}

	res := c.deleteContent(ctx, name)
	ns, err = c.updateStatus(ctx, ns, res.conditions())
	if err != nil {
		return err
	}
	if res.discoveryErr != nil {
		res.errs = append(res.errs, fmt.Errorf("discovering resources: %w", res.discoveryErr))
	}
	if len(res.errs) > 0 {
		return fmt.Errorf("deleting content of namespace %q: %w", name, errors.Join(res.errs...))
	}
	if parts := res.remainingParts(); len(parts) > 0 {
		return &remainingError{msg: strings.Join(parts, ", ")}
	}
	return c.finalize(ctx, ns)
}

// finalize removes the "kubernetes" finalizer through the finalize
// subresource, the only way spec.finalizers can change.
func (c *Controller) finalize(ctx context.Context, ns *corev1.Namespace) error {
	ns = ns.DeepCopy()
	ns.Spec.Finalizers = slices.DeleteFunc(ns.Spec.Finalizers, func(f corev1.FinalizerName) bool {
		return f == corev1.FinalizerKubernetes
	})
	_, err := c.client.CoreV1().Namespaces().Finalize(ctx, ns, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("finalizing namespace %q: %w", ns.Name, err)
	}
	c.log.Info("finalized namespace", "namespace", ns.Name)
	return nil
}

// result is what one pass over a namespace's content found.
type result struct {
	discoveryErr error
	errs         []error
	// remaining counts objects still present per resource; finalizers
	// counts, per finalizer name, the remaining objects that carry it.
	remaining  map[schema.GroupVersionResource]int
	finalizers map[string]int
}

// deleteContent deletes every object of every resource in the namespace and
// counts what is still there afterwards.
func (c *Controller) deleteContent(ctx context.Context, namespace string) *result {
	res := &result{remaining: map[schema.GroupVersionResource]int{}, finalizers: map[string]int{}}
	gvrs := c.resources
	if c.discover {
		gvrs, res.discoveryErr = c.discoverResources(ctx)
	}
	// Background propagation, as Kubernetes uses, so that deleting an
	// owner never waits for its dependents.
	background := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &background}
	for _, gvr := range gvrs {
		client := c.dynamic.Resource(gvr).Namespace(namespace)
		err := client.DeleteCollection(ctx, opts, metav1.ListOptions{})
		if apierrors.IsMethodNotSupported(err) {
			err = c.deleteEach(ctx, gvr, namespace, opts)
		}
		if err != nil && !apierrors.IsNotFound(err) {
			res.errs = append(res.errs, fmt.Errorf("deleting %s in namespace %q: %w", resourceName(gvr), namespace, err))
			continue
		}
		list, err := client.List(ctx, metav1.ListOptions{})
		if apierrors.IsNotFound(err) {
			// The server does not serve this resource: nothing to wait for.
			continue
		}
		if err != nil {
			res.errs = append(res.errs, fmt.Errorf("listing %s in namespace %q: %w", resourceName(gvr), namespace, err))
			continue
		}
		if n := len(list.Items); n > 0 {
			res.remaining[gvr] = n
		}
		for _, item := range list.Items {
			for _, f := range item.GetFinalizers() {
				res.finalizers[f]++
			}
		}
	}
	return res
}

// deleteEach is the fallback for resources without deletecollection.
func (c *Controller) deleteEach(ctx context.Context, gvr schema.GroupVersionResource, namespace string, opts metav1.DeleteOptions) error {
	client := c.dynamic.Resource(gvr).Namespace(namespace)
	list, err := client.List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	var errs []error
	for _, item := range list.Items {
		if err := client.Delete(ctx, item.GetName(), opts); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("%s %q: %w", resourceName(gvr), item.GetName(), err))
		}
	}
	return errors.Join(errs...)
}

// discoverResources lists the namespaced resources that can be listed and
// deleted. A failure for some groups still returns the others, so that
// deletion proceeds as far as it can; the namespace is then not finalized.
func (c *Controller) discoverResources(ctx context.Context) ([]schema.GroupVersionResource, error) {
	lists, err := discovery.ServerPreferredNamespacedResourcesWithContext(ctx,
		discovery.ToDiscoveryInterfaceWithContext(c.client.Discovery()))
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		return nil, err
	}
	deletable := discovery.FilteredBy(discovery.SupportsAllVerbs{Verbs: []string{"list", "delete"}}, lists)
	set, perr := discovery.GroupVersionResources(deletable)
	if perr != nil {
		err = errors.Join(err, perr)
	}
	gvrs := make([]schema.GroupVersionResource, 0, len(set))
	for gvr := range set {
		gvrs = append(gvrs, gvr)
	}
	// Pods first (their grace periods are the long wait), then a stable order.
	sort.Slice(gvrs, func(i, j int) bool {
		pi, pj := gvrs[i].Group == "" && gvrs[i].Resource == "pods", gvrs[j].Group == "" && gvrs[j].Resource == "pods"
		if pi != pj {
			return pi
		}
		return gvrs[i].String() < gvrs[j].String()
	})
	return gvrs, err
}

// resourceName is the resource as Kubernetes names it in namespace
// conditions: "pods." for core, "leases.coordination.k8s.io" otherwise.
func resourceName(gvr schema.GroupVersionResource) string {
	return gvr.Resource + "." + gvr.Group
}

// remainingParts lists, sorted, the resources that still have objects in
// the namespace, worded as Kubernetes words them.
func (r *result) remainingParts() []string {
	var parts []string
	for gvr, n := range r.remaining {
		parts = append(parts, fmt.Sprintf("%s has %d resource instances", resourceName(gvr), n))
	}
	sort.Strings(parts)
	return parts
}

// Reasons and messages of the deletion conditions, as Kubernetes' namespace
// controller writes them.
const (
	reasonDiscoveryFailed  = "DiscoveryFailed"
	reasonDiscovered       = "ResourcesDiscovered"
	reasonGVParsed         = "ParsedGroupVersions"
	reasonContentFailed    = "ContentDeletionFailed"
	reasonContentDeleted   = "ContentDeleted"
	reasonResourcesRemain  = "SomeResourcesRemain"
	reasonContentRemoved   = "ContentRemoved"
	reasonFinalizersRemain = "SomeFinalizersRemain"
	reasonNoFinalizers     = "ContentHasNoFinalizers"
)

// conditions returns the full set of deletion conditions for this pass:
// True with the failure when something is wrong, False with the "ok"
// reason otherwise, so a resolved problem visibly clears.
func (r *result) conditions() []corev1.NamespaceCondition {
	cond := func(t corev1.NamespaceConditionType, failed bool, reason, msg, okReason, okMsg string) corev1.NamespaceCondition {
		if failed {
			return corev1.NamespaceCondition{Type: t, Status: corev1.ConditionTrue, Reason: reason, Message: msg}
		}
		return corev1.NamespaceCondition{Type: t, Status: corev1.ConditionFalse, Reason: okReason, Message: okMsg}
	}

	var discoveryMsg string
	if r.discoveryErr != nil {
		discoveryMsg = fmt.Sprintf("Discovery failed for some groups: %v", r.discoveryErr)
	}
	contentMsg := ""
	if len(r.errs) > 0 {
		contentMsg = fmt.Sprintf("Failed to delete all resource types, %d remaining: %s", len(r.errs), listErrors(r.errs))
	}
	remaining := r.remainingParts()
	var finalizers []string
	for f, n := range r.finalizers {
		finalizers = append(finalizers, fmt.Sprintf("%s in %d resource instances", f, n))
	}
	sort.Strings(finalizers)

	return []corev1.NamespaceCondition{
		cond(corev1.NamespaceDeletionDiscoveryFailure, r.discoveryErr != nil, reasonDiscoveryFailed, discoveryMsg,
			reasonDiscovered, "All resources successfully discovered"),
		cond(corev1.NamespaceDeletionGVParsingFailure, false, "", "",
			reasonGVParsed, "All legacy kube types successfully parsed"),
		cond(corev1.NamespaceDeletionContentFailure, len(r.errs) > 0, reasonContentFailed, contentMsg,
			reasonContentDeleted, "All content successfully deleted, may be waiting on finalization"),
		cond(corev1.NamespaceContentRemaining, len(remaining) > 0, reasonResourcesRemain,
			"Some resources are remaining: "+strings.Join(remaining, ", "),
			reasonContentRemoved, "All content successfully removed"),
		cond(corev1.NamespaceFinalizersRemaining, len(finalizers) > 0, reasonFinalizersRemain,
			"Some content in the namespace has finalizers remaining: "+strings.Join(finalizers, ", "),
			reasonNoFinalizers, "All content-preserving finalizers finished"),
	}
}

// listErrors formats errors on one line, as Kubernetes' aggregate error
// does, because condition messages are shown in one table cell.
func listErrors(errs []error) string {
	if len(errs) == 1 {
		return errs[0].Error()
	}
	msgs := make([]string, len(errs))
	for i, err := range errs {
		msgs[i] = err.Error()
	}
	return "[" + strings.Join(msgs, ", ") + "]"
}

// updateStatus writes phase Terminating and the deletion conditions when
// they differ from what ns has, and returns the namespace to finalize.
func (c *Controller) updateStatus(ctx context.Context, ns *corev1.Namespace, want []corev1.NamespaceCondition) (*corev1.Namespace, error) {
	updated := ns.DeepCopy()
	changed := updated.Status.Phase != corev1.NamespaceTerminating
	updated.Status.Phase = corev1.NamespaceTerminating
	now := metav1.Now()
	for _, w := range want {
		i := slices.IndexFunc(updated.Status.Conditions, func(c corev1.NamespaceCondition) bool { return c.Type == w.Type })
		if i < 0 {
			w.LastTransitionTime = now
			updated.Status.Conditions = append(updated.Status.Conditions, w)
			changed = true
			continue
		}
		cur := &updated.Status.Conditions[i]
		if cur.Status == w.Status && cur.Reason == w.Reason && cur.Message == w.Message {
			continue
		}
		if cur.Status != w.Status {
			cur.LastTransitionTime = now
		}
		cur.Status, cur.Reason, cur.Message = w.Status, w.Reason, w.Message
		changed = true
	}
	if !changed {
		return ns, nil
	}
	out, err := c.client.CoreV1().Namespaces().UpdateStatus(ctx, updated, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("updating status of namespace %q: %w", ns.Name, err)
	}
	return out, nil
}
