package agent

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"k8s.io/apimachinery/pkg/types"
)

// podWorker is the one goroutine that syncs one pod, so that a pod's
// sandbox, containers and status are only ever changed serially. Pokes
// coalesce: the worker always syncs the latest spec.
type podWorker struct {
	a         *Agent
	uid       types.UID
	namespace string
	name      string
	pokeCh    chan struct{}
	ctx       context.Context
	cancel    context.CancelFunc
	done      chan struct{}
	// reasons holds each container's last start failure (the kubelet's
	// reasonCache), shown as the waiting reason and message.
	reasons map[string]waitReason
	// prepulls are image pulls started together with the sandbox, by
	// container name; startContainer takes their result.
	prepulls map[string]chan prepullResult
	// pullCtx bounds the prepulls; it ends when the pod is deleted.
	pullCtx    context.Context
	pullCancel context.CancelFunc
	// syncBegan is when the sync in progress began (for debug timings).
	syncBegan time.Time
	// synced is set once a sync read the runtime for this pod.
	synced bool
	// made holds the containers the sync in progress created, oldest
	// first, as the runtime lists them (syncPod).
	made []*runtimeapi.Container

	mu sync.Mutex
	// cancelSync cancels the sync in progress when the pod is deleted, as
	// the kubelet cancels its pod worker's context: a postStart hook, a
	// pull or a start in progress must not hold back termination. nil
	// while a termination runs (nothing cancels that but the agent's stop).
	cancelSync context.CancelFunc
	// lastPod is the last spec the worker synced, for stopping a pod that
	// vanished from the API (force deletion) as its spec says.
	lastPod *corev1.Pod
	// evictMsg is a pending eviction (eviction.go); evicted is set once
	// the pod was evicted.
	evictMsg string
	evicted  bool
}

type prepullResult struct {
	ref string
	err error
}

type waitReason struct{ reason, message string }

func newPodWorker(a *Agent, uid types.UID, namespace, name string) *podWorker {
	ctx, cancel := context.WithCancel(context.Background())
	pullCtx, pullCancel := context.WithCancel(ctx)
	return &podWorker{a: a, uid: uid, namespace: namespace, name: name, pokeCh: make(chan struct{}, 1),
		ctx: ctx, cancel: cancel, done: make(chan struct{}), reasons: map[string]waitReason{},
		prepulls: map[string]chan prepullResult{}, pullCtx: pullCtx, pullCancel: pullCancel}
}

// terminate asks the worker to stop the pod now: the sync in progress, if
// it is not a termination already, is cancelled, and so are prepulls.
func (w *podWorker) terminateNow() {
	w.mu.Lock()
	if w.cancelSync != nil {
		w.cancelSync()
	}
	w.mu.Unlock()
	w.pullCancel()
	w.poke()
}

// terminating marks the sync in progress as a termination, which deletion
// does not cancel.
func (w *podWorker) terminating() {
	w.mu.Lock()
	w.cancelSync = nil
	w.mu.Unlock()
}

func (w *podWorker) poke() {
	select {
	case w.pokeCh <- struct{}{}:
	default:
	}
}

func (w *podWorker) stop() {
	w.cancel()
	<-w.done
}

// resyncInterval bounds how long a pod goes unsynced even without events.
const resyncInterval = 10 * time.Second

// panicRetryInterval is how soon a pod whose sync panicked is tried again.
const panicRetryInterval = time.Second

// syncRecovered is one sync; a panic in it is logged with its stack and
// the pod retried after panicRetryInterval, so one pod cannot take the node
// (and every other pod's worker) down.
func (w *podWorker) syncRecovered(ctx context.Context) (finished bool, requeue time.Duration) {
	defer func() {
		if v := recover(); v != nil {
			w.a.log.Error("recovered from a panic syncing a pod; it is retried", "pod", w.namespace+"/"+w.name,
				"uid", w.uid, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			finished, requeue = false, panicRetryInterval
		}
	}()
	return w.sync(ctx)
}

func (w *podWorker) run() {
	defer close(w.done)
	defer w.a.workerDone(w.uid)
	// Whoever starts a worker pokes it; a timer firing at once as well
	// would sync the pod a second time straight after the first, from a
	// lister that may not have the status just written.
	timer := time.NewTimer(resyncInterval)
	defer timer.Stop()
	for {
		trigger := "poke"
		select {
		case <-w.ctx.Done():
			return
		case <-w.pokeCh:
		case <-timer.C:
			trigger = "timer"
		}
		w.a.log.Debug("syncing pod", "pod", w.namespace+"/"+w.name, "trigger", trigger)
		sctx, cancel := context.WithCancel(w.ctx)
		w.mu.Lock()
		w.cancelSync = cancel
		w.mu.Unlock()
		w.syncBegan = time.Now()
		finished, requeue := w.syncRecovered(sctx)
		w.mu.Lock()
		w.cancelSync = nil
		w.mu.Unlock()
		cancel()
		if finished {
			return
		}
		if requeue <= 0 || requeue > resyncInterval {
			requeue = resyncInterval
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(requeue)
	}
}
