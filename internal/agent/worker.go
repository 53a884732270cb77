package agent

import (
	"context"
	"time"

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
}

type prepullResult struct {
	ref string
	err error
}

type waitReason struct{ reason, message string }

func newPodWorker(a *Agent, uid types.UID, namespace, name string) *podWorker {
	ctx, cancel := context.WithCancel(context.Background())
	return &podWorker{a: a, uid: uid, namespace: namespace, name: name, pokeCh: make(chan struct{}, 1),
		ctx: ctx, cancel: cancel, done: make(chan struct{}), reasons: map[string]waitReason{},
		prepulls: map[string]chan prepullResult{}}
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

func (w *podWorker) run() {
	defer close(w.done)
	defer w.a.workerDone(w.uid)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-w.pokeCh:
		case <-timer.C:
		}
		finished, requeue := w.sync(w.ctx)
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
