package agent

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/cri/fakecri"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// gatedRuntime holds chosen calls of a fakecri runtime to force one
// interleaving of the agent's goroutines.
type gatedRuntime struct {
	*fakecri.Runtime
	victimSandbox string // PodSandboxStatus of it blocks until its ctx ends
	orphanUID     string // listing its sandboxes blocks until orphanGate

	victimBlocked, victimStopped chan struct{}
	relistBlocked                chan struct{}
	orphanGate                   chan struct{}
	once1, once2, once3          sync.Once
}

func (g *gatedRuntime) PodSandboxStatus(ctx context.Context, id string) (*runtimeapi.PodSandboxStatus, error) {
	if id == g.victimSandbox {
		g.once1.Do(func() { close(g.victimBlocked) })
		<-ctx.Done() // only the worker's stop ends this
		g.once2.Do(func() { close(g.victimStopped) })
	}
	return g.Runtime.PodSandboxStatus(ctx, id)
}

func (g *gatedRuntime) ListPodSandbox(ctx context.Context, filter *runtimeapi.PodSandboxFilter) ([]*runtimeapi.PodSandbox, error) {
	sel := filter.GetLabelSelector()
	switch {
	case sel[labelManaged] == "true": // the relist's orphan listing
		first := false
		g.once3.Do(func() { first = true; close(g.relistBlocked) })
		if first {
			// Answer after Run's context ended, once Run is stopping its
			// workers (the victim's worker was cancelled), as a slow
			// runtime could. An agent that waits for the relist before
			// stopping workers never cancels the victim first: answer
			// after a moment then.
			<-ctx.Done()
			select {
			case <-g.victimStopped:
			case <-time.After(200 * time.Millisecond):
			}
			return g.Runtime.ListPodSandbox(context.Background(), filter)
		}
	case sel[labelPodUID] == g.orphanUID:
		select {
		case <-g.orphanGate:
		case <-ctx.Done():
		}
	}
	return g.Runtime.ListPodSandbox(ctx, filter)
}

// TestRunStopsEveryWorker: Run stops the pod workers (stopWorkers) before
// the relist goroutine has ended (wg.Wait comes after), so a relist that is
// under way can still start a worker (syncUID, for an orphan or a changed
// container) after stopWorkers took its list. That worker outlives Run and
// goes on changing the runtime — alongside the next agent's workers.
func TestRunStopsEveryWorker(t *testing.T) {
	w := newWorld(t)
	_, stop := w.startAgent()
	victim := w.createPod(newTestPod("victim", corev1.RestartPolicyAlways))
	orphan := w.createPod(newTestPod("orphan", corev1.RestartPolicyAlways))
	vc := w.runningContainer(victim.UID, "app")
	w.runningContainer(orphan.UID, "app")
	stop()
	if err := w.cs.CoreV1().Pods("default").Delete(context.Background(), "orphan", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	g := &gatedRuntime{Runtime: w.rt, victimSandbox: vc.PodSandboxId, orphanUID: string(orphan.UID),
		victimBlocked: make(chan struct{}), victimStopped: make(chan struct{}), relistBlocked: make(chan struct{}),
		orphanGate: make(chan struct{})}
	released := false
	release := func() {
		if !released {
			released = true
			close(g.orphanGate)
		}
	}
	defer release()
	a, stop2 := w.startAgentWith(g)
	<-g.victimBlocked
	<-g.relistBlocked
	stop2() // Run returns

	a.mu.Lock()
	_, leaked := a.workers[types.UID(g.orphanUID)]
	n := len(a.workers)
	a.mu.Unlock()
	release()
	if leaked || n != 0 {
		t.Errorf("after Run returned, %d pod worker(s) still run (orphan's: %v)", n, leaked)
	}
	// Let a leaked worker finish before the test ends.
	eventually(t, "the workers to end", func() (bool, string) {
		a.mu.Lock()
		defer a.mu.Unlock()
		return len(a.workers) == 0, ""
	})
}
