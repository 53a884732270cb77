// Package binder does the scheduler's job for berth: it binds each pod that
// names no node to a node that can take it, by POSTing a Binding as
// kube-scheduler does, so the node agent picks the pod up.
//
// A node can take a pod when the filters kube-scheduler runs first agree:
// the node is not cordoned (NodeUnschedulable), the pod tolerates the
// node's NoSchedule and NoExecute taints (TaintToleration) and the node
// matches the pod's nodeSelector and required node affinity (NodeAffinity).
// A node that is not Ready counts as tainted node.kubernetes.io/not-ready
// (or unreachable), the taint Kubernetes' node lifecycle controller would
// put on it. Resources, host ports and volumes are not checked: on one node
// the node agent is the judge of those.
//
// When no node fits, the pod stays Pending with PodScheduled=False, reason
// Unschedulable, and a FailedScheduling event whose message has
// kube-scheduler's shape, e.g.
//
//	0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.
//
// The pod is tried again when a node changes in a way that matters, when
// the pod's spec or labels change, and at every informer resync.
package binder

import (
	"context"
	"fmt"
	"github.com/berth-dev/berth/internal/controllers/workers"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/informers"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
)

// SchedulerName is the scheduler this controller stands in for: it binds
// pods whose spec.schedulerName is this or empty, and its events carry it
// as their source and reporting controller.
const SchedulerName = corev1.DefaultSchedulerName

// Event reasons, as kube-scheduler emits them.
const (
	ReasonScheduled        = "Scheduled"
	ReasonFailedScheduling = "FailedScheduling"
)

// resync is how often every pending pod is tried again without any event,
// matching kube-scheduler's longest wait for an unschedulable pod.
const resync = 5 * time.Minute

// Config holds the optional settings of a Controller.
type Config struct {
	// Informers, when set, supplies the node informer so that it is shared
	// with other controllers; Run starts the factory but does not shut it
	// down. Pods are always watched through the controller's own informer,
	// limited to pods without a node. Default: a private factory.
	Informers informers.SharedInformerFactory
	// Recorder receives the Scheduled and FailedScheduling events.
	// Default: events written to the API server as "default-scheduler".
	Recorder record.EventRecorder
	// Logger receives the controller's log lines. Default: slog.Default().
	Logger *slog.Logger
	// Pods, when set, is where the controller lists and watches pods (an
	// in-process source); it applies its own field selector on top.
	// Default: the API, through client.
	Pods PodSource
}

// PodSource lists and watches pods with the options it is given.
type PodSource interface {
	WithOptions(tweak func(*metav1.ListOptions)) cache.ListerWatcher
}

// Controller binds pending pods to nodes.
type Controller struct {
	client     kubernetes.Interface
	log        *slog.Logger
	factory    informers.SharedInformerFactory
	ownFactory bool
	recorder   record.EventRecorder

	podInformer cache.SharedIndexInformer
	podLister   corelisters.PodLister
	nodeLister  corelisters.NodeLister
	synced      []cache.InformerSynced
	queue       workqueue.TypedRateLimitingInterface[string]

	hasSynced atomic.Bool
}

// New returns a Controller that works through client. Event handlers are
// registered here, so a shared factory in cfg must be started after New
// (Run does that).
func New(client kubernetes.Interface, cfg Config) *Controller {
	c := &Controller{
		client:   client,
		log:      cfg.Logger,
		factory:  cfg.Informers,
		recorder: cfg.Recorder,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](100*time.Millisecond, 30*time.Second),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "binder"}),
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.log = c.log.With("controller", "binder")
	if c.factory == nil {
		c.factory = informers.NewSharedInformerFactory(client, 0)
		c.ownFactory = true
	}

	// Only pods without a node concern the binder; a bound pod leaves this
	// watch (the server reports it as deleted) the moment it is bound.
	unbound := func(o *metav1.ListOptions) {
		o.FieldSelector = fields.AndSelectors(
			fields.OneTermEqualSelector("spec.nodeName", ""),
			fields.OneTermNotEqualSelector("status.phase", string(corev1.PodSucceeded)),
			fields.OneTermNotEqualSelector("status.phase", string(corev1.PodFailed)),
		).String()
	}
	if cfg.Pods != nil {
		c.podInformer = cache.NewSharedIndexInformer(cfg.Pods.WithOptions(unbound), &corev1.Pod{}, resync, cache.Indexers{})
	} else {
		c.podInformer = coreinformers.NewFilteredPodInformer(client, metav1.NamespaceAll, resync, cache.Indexers{}, unbound)
	}
	c.podLister = corelisters.NewPodLister(c.podInformer.GetIndexer())
	podReg, _ := c.podInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueuePod,
		UpdateFunc: c.podUpdated,
	})

	nodeInformer := c.factory.Core().V1().Nodes()
	c.nodeLister = nodeInformer.Lister()
	nodeReg, _ := nodeInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.enqueueAllPods() },
		UpdateFunc: c.nodeUpdated,
	})
	c.synced = []cache.InformerSynced{podReg.HasSynced, nodeReg.HasSynced}
	return c
}

// HasSynced reports whether the controller's caches have synced, after
// which every pending pod has been queued.
func (c *Controller) HasSynced() bool { return c.hasSynced.Load() }

// Run starts the informers and the worker and blocks until ctx ends; it
// then returns nil. API errors never end it: failed bindings are retried
// with back-off.
// bindWorkers is how many pods are bound at once.
const bindWorkers = 4

func (c *Controller) Run(ctx context.Context) error {
	defer c.queue.ShutDown()
	if c.recorder == nil {
		broadcaster := record.NewBroadcaster(record.WithContext(ctx))
		broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.client.CoreV1().Events("")})
		defer broadcaster.Shutdown()
		c.recorder = broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: SchedulerName})
	}
	go c.podInformer.RunWithContext(ctx)
	c.factory.Start(ctx.Done())
	if c.ownFactory {
		defer c.factory.Shutdown()
	}
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return nil // ctx ended before the caches synced
	}
	c.hasSynced.Store(true)
	c.log.Debug("caches synced")

	// A few workers: each binding is an API round trip, and decisions do
	// not depend on each other (no resource accounting), so a burst of
	// pods is bound in parallel.
	workers.Run(ctx, c.queue, bindWorkers, c.syncPod, func(key string, err error) {
		c.log.Warn("retrying", "pod", key, "err", err)
	})
	return nil
}

func (c *Controller) enqueuePod(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || !responsible(pod) {
		return
	}
	c.queue.Add(pod.Namespace + "/" + pod.Name)
}

// podUpdated retries a pod on a resync or when something that decides
// where it fits changed, and not on status writes (our own included),
// which would otherwise repeat every failure at once.
func (c *Controller) podUpdated(oldObj, newObj any) {
	old, ok1 := oldObj.(*corev1.Pod)
	cur, ok2 := newObj.(*corev1.Pod)
	if !ok1 || !ok2 {
		return
	}
	resynced := old.ResourceVersion == cur.ResourceVersion && equality.Semantic.DeepEqual(old, cur)
	if resynced || !equality.Semantic.DeepEqual(old.Spec, cur.Spec) || !equality.Semantic.DeepEqual(old.Labels, cur.Labels) {
		c.enqueuePod(cur)
	}
}

// nodeUpdated retries every pending pod when a node's fitness changed;
// heartbeats, which only move timestamps, are ignored.
func (c *Controller) nodeUpdated(oldObj, newObj any) {
	old, ok1 := oldObj.(*corev1.Node)
	cur, ok2 := newObj.(*corev1.Node)
	if !ok1 || !ok2 {
		return
	}
	if old.Spec.Unschedulable != cur.Spec.Unschedulable ||
		!equality.Semantic.DeepEqual(effectiveTaints(old), effectiveTaints(cur)) ||
		!equality.Semantic.DeepEqual(old.Labels, cur.Labels) {
		c.enqueueAllPods()
	}
}

func (c *Controller) enqueueAllPods() {
	for _, obj := range c.podInformer.GetStore().List() {
		c.enqueuePod(obj)
	}
}

// responsible reports whether pod is this scheduler's to bind now.
func responsible(pod *corev1.Pod) bool {
	return pod.Spec.NodeName == "" &&
		(pod.Spec.SchedulerName == "" || pod.Spec.SchedulerName == SchedulerName) &&
		pod.DeletionTimestamp == nil &&
		pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed &&
		// A gated pod waits for its gates to be removed; the API server
		// has already set its PodScheduled=False/SchedulingGated condition.
		len(pod.Spec.SchedulingGates) == 0
}

// syncPod binds the pod named by key, or records why it cannot be bound.
func (c *Controller) syncPod(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil // not a key we queued; nothing to retry
	}
	pod, err := c.podLister.Pods(namespace).Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting pod %s from cache: %w", key, err)
	}
	if !responsible(pod) {
		return nil
	}
	nodes, err := c.nodeLister.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("listing nodes from cache: %w", err)
	}
	node, why := pickNode(pod, nodes)
	if node == "" {
		return c.unschedulable(ctx, pod, why)
	}
	return c.bind(ctx, pod, node)
}

// bind POSTs the pod's Binding to node.
func (c *Controller) bind(ctx context.Context, pod *corev1.Pod, node string) error {
	binding := &corev1.Binding{
		ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		Target:     corev1.ObjectReference{Kind: "Node", Name: node},
	}
	err := c.client.CoreV1().Pods(pod.Namespace).Bind(ctx, binding, metav1.CreateOptions{})
	switch {
	case err == nil:
		c.log.Info("bound pod", "pod", pod.Namespace+"/"+pod.Name, "node", node)
		c.recorder.Eventf(pod, corev1.EventTypeNormal, ReasonScheduled, "Successfully assigned %s/%s to %s", pod.Namespace, pod.Name, node)
		return nil
	case apierrors.IsNotFound(err):
		return nil // deleted meanwhile
	case apierrors.IsConflict(err):
		// "already assigned" or "being deleted" mean the pod is no longer
		// ours; any other conflict is retried. A live read tells them apart.
		cur, gerr := c.client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(gerr) || (gerr == nil && (cur.Spec.NodeName != "" || cur.DeletionTimestamp != nil || cur.UID != pod.UID)) {
			return nil
		}
		return fmt.Errorf("binding pod %s/%s to node %q: %w", pod.Namespace, pod.Name, node, err)
	default:
		c.recorder.Eventf(pod, corev1.EventTypeWarning, ReasonFailedScheduling, "Binding rejected: %v", err)
		return fmt.Errorf("binding pod %s/%s to node %q: %w", pod.Namespace, pod.Name, node, err)
	}
}

// unschedulable sets PodScheduled=False/Unschedulable with msg, unless the
// pod already says so, and emits FailedScheduling, as kube-scheduler does
// after every failed attempt.
func (c *Controller) unschedulable(ctx context.Context, pod *corev1.Pod, msg string) error {
	want := corev1.PodCondition{
		Type:    corev1.PodScheduled,
		Status:  corev1.ConditionFalse,
		Reason:  corev1.PodReasonUnschedulable,
		Message: msg,
	}
	i := slices.IndexFunc(pod.Status.Conditions, func(c corev1.PodCondition) bool { return c.Type == corev1.PodScheduled })
	if i < 0 || !sameCondition(pod.Status.Conditions[i], want) {
		upd := pod.DeepCopy()
		now := metav1.Now()
		if i < 0 {
			want.LastTransitionTime = now
			upd.Status.Conditions = append(upd.Status.Conditions, want)
		} else {
			if upd.Status.Conditions[i].Status != want.Status {
				want.LastTransitionTime = now
			} else {
				want.LastTransitionTime = upd.Status.Conditions[i].LastTransitionTime
			}
			upd.Status.Conditions[i] = want
		}
		_, err := c.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, upd, metav1.UpdateOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("updating PodScheduled condition of pod %s/%s: %w", pod.Namespace, pod.Name, err)
		}
	}
	c.log.Info("pod unschedulable", "pod", pod.Namespace+"/"+pod.Name, "reason", msg)
	c.recorder.Event(pod, corev1.EventTypeWarning, ReasonFailedScheduling, msg)
	return nil
}

func sameCondition(a, b corev1.PodCondition) bool {
	return a.Status == b.Status && a.Reason == b.Reason && a.Message == b.Message
}

// Filter failure reasons, worded as kube-scheduler's plugins word them.
const (
	errNodeUnschedulable = "node(s) were unschedulable"
	errNodeAffinity      = "node(s) didn't match Pod's node affinity/selector"
	errNoNodes           = "no nodes available to schedule pods"
)

// pickNode returns the first node, by name, that can take pod; when none
// can, it returns "" and kube-scheduler's explanation.
func pickNode(pod *corev1.Pod, nodes []*corev1.Node) (string, string) {
	if len(nodes) == 0 {
		return "", errNoNodes
	}
	nodes = slices.Clone(nodes)
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	reasons := map[string]int{}
	for _, node := range nodes {
		why := filter(pod, node)
		if why == "" {
			return node.Name, ""
		}
		reasons[why]++
	}
	return "", fitError(len(nodes), reasons)
}

// filter returns why node cannot take pod, or "" when it can. The checks
// run in kube-scheduler's filter order and the first failure is the
// reason, as it is there.
func filter(pod *corev1.Pod, node *corev1.Node) string {
	if node.Spec.Unschedulable && !tolerates(pod.Spec.Tolerations, corev1.Taint{
		Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule,
	}) {
		return errNodeUnschedulable
	}
	for _, taint := range effectiveTaints(node) {
		if taint.Effect != corev1.TaintEffectNoSchedule && taint.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		if !tolerates(pod.Spec.Tolerations, taint) {
			return fmt.Sprintf("node(s) had untolerated taint {%s: %s}", taint.Key, taint.Value)
		}
	}
	if !matchesNodeSelector(pod, node) {
		return errNodeAffinity
	}
	return ""
}

// fitError words the per-node reasons as kube-scheduler's FitError does,
// including the verdict of its preemption step: none of these reasons can
// be resolved by evicting other pods.
func fitError(total int, reasons map[string]int) string {
	parts := make([]string, 0, len(reasons))
	for why, n := range reasons {
		parts = append(parts, fmt.Sprintf("%d %s", n, why))
	}
	sort.Strings(parts)
	return fmt.Sprintf("0/%d nodes are available: %s. preemption: 0/%d nodes are available: %d Preemption is not helpful for scheduling.",
		total, strings.Join(parts, ", "), total, total)
}

// effectiveTaints is the node's taints plus the not-ready or unreachable
// taint its Ready condition implies. berth has no node lifecycle controller
// to write those taints, and deriving them keeps pods that tolerate them
// (as DaemonSet pods do) schedulable on a node that is not Ready.
func effectiveTaints(node *corev1.Node) []corev1.Taint {
	taints := node.Spec.Taints
	var implied string
	switch readyStatus(node) {
	case corev1.ConditionTrue:
		return taints
	case corev1.ConditionUnknown:
		implied = corev1.TaintNodeUnreachable
	default: // False, or no Ready condition yet: the node is not ready
		implied = corev1.TaintNodeNotReady
	}
	for _, t := range taints {
		if t.Key == implied && t.Effect == corev1.TaintEffectNoSchedule {
			return taints
		}
	}
	return append(slices.Clone(taints), corev1.Taint{Key: implied, Effect: corev1.TaintEffectNoSchedule})
}

func readyStatus(node *corev1.Node) corev1.ConditionStatus {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return ""
}

// tolerates reports whether any of tolerations tolerates taint, with
// Kubernetes' matching rules: an empty effect matches every effect, an
// empty key (with operator Exists) every key; Exists ignores the value,
// Equal (the default) compares it. Lt and Gt sit behind a feature gate that
// is off by default, so they match nothing here either.
func tolerates(tolerations []corev1.Toleration, taint corev1.Taint) bool {
	for _, t := range tolerations {
		if t.Effect != "" && t.Effect != taint.Effect {
			continue
		}
		if t.Key != "" && t.Key != taint.Key {
			continue
		}
		switch t.Operator {
		case corev1.TolerationOpExists:
			return true
		case "", corev1.TolerationOpEqual:
			if t.Value == taint.Value {
				return true
			}
		}
	}
	return false
}

// matchesNodeSelector reports whether node satisfies the pod's nodeSelector
// and required node affinity; both must hold when both are set.
func matchesNodeSelector(pod *corev1.Pod, node *corev1.Node) bool {
	nodeLabels := labels.Set(node.Labels)
	if len(pod.Spec.NodeSelector) > 0 && !labels.SelectorFromSet(pod.Spec.NodeSelector).Matches(nodeLabels) {
		return false
	}
	aff := pod.Spec.Affinity
	if aff == nil || aff.NodeAffinity == nil || aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return true
	}
	// Terms are ORed; the requirements inside one term are ANDed.
	for _, term := range aff.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		if termMatches(term, node) {
			return true
		}
	}
	return false
}

var selectorOps = map[corev1.NodeSelectorOperator]selection.Operator{
	corev1.NodeSelectorOpIn:           selection.In,
	corev1.NodeSelectorOpNotIn:        selection.NotIn,
	corev1.NodeSelectorOpExists:       selection.Exists,
	corev1.NodeSelectorOpDoesNotExist: selection.DoesNotExist,
	corev1.NodeSelectorOpGt:           selection.GreaterThan,
	corev1.NodeSelectorOpLt:           selection.LessThan,
}

// termMatches evaluates one node selector term. An empty term matches no
// node, and a malformed requirement fails its term, as in Kubernetes.
func termMatches(term corev1.NodeSelectorTerm, node *corev1.Node) bool {
	if len(term.MatchExpressions) == 0 && len(term.MatchFields) == 0 {
		return false
	}
	for _, e := range term.MatchExpressions {
		op, ok := selectorOps[e.Operator]
		if !ok {
			return false
		}
		req, err := labels.NewRequirement(e.Key, op, e.Values)
		if err != nil || !req.Matches(labels.Set(node.Labels)) {
			return false
		}
	}
	for _, f := range term.MatchFields {
		// metadata.name is the only field Kubernetes supports here.
		if f.Key != "metadata.name" {
			return false
		}
		switch f.Operator {
		case corev1.NodeSelectorOpIn:
			if !slices.Contains(f.Values, node.Name) {
				return false
			}
		case corev1.NodeSelectorOpNotIn:
			if slices.Contains(f.Values, node.Name) {
				return false
			}
		default:
			return false
		}
	}
	return true
}
