package agent

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"github.com/berth-dev/berth/internal/cri/fakecri"
	corev1 "k8s.io/api/core/v1"
)

// TestStartPathCalls checks the runtime calls on a pod's way to Running:
// the status written after a new sandbox's container started comes without
// listing the runtime again (the sync knows what it created), and a new
// pod's worker does not sync a second time straight after its first sync
// (its start-up timer firing along with the poke that started it). The
// second failure shows only for some pods, so several are started.
func TestStartPathCalls(t *testing.T) {
	w := newWorld(t)
	logs := &syncLog{}
	w.startAgentLogging(w.rt, slog.New(logs))
	for i := range 4 {
		pod := w.createPod(newTestPod(fmt.Sprintf("start-%d", i), corev1.RestartPolicyAlways))
		got := w.waitPod(pod, "Running", func(p *corev1.Pod) bool {
			return p.Status.Phase == corev1.PodRunning && len(p.Status.ContainerStatuses) == 1 &&
				p.Status.ContainerStatuses[0].State.Running != nil
		})
		if id := got.Status.ContainerStatuses[0].ContainerID; id == "" {
			t.Fatalf("%s: Running without a container ID: %s", pod.Name, describeStatus(got.Status))
		}
		// The first status saying Running, and the calls made before it.
		w.mu.Lock()
		n := -1
		for j, s := range w.statuses[pod.UID] {
			if s.Phase == corev1.PodRunning {
				n = w.callsAt[pod.UID][j]
				break
			}
		}
		w.mu.Unlock()
		if n < 0 {
			t.Fatalf("%s: no Running status was written", pod.Name)
		}
		calls := w.rt.Calls()[:n]
		start := -1
		for j, c := range calls {
			if c.Method == "StartContainer" {
				if cfg, _ := w.rt.ContainerConfig(c.ID); cfg.GetLabels()[labelPodUID] == string(pod.UID) {
					start = j
				}
			}
		}
		if start < 0 {
			t.Fatalf("%s: no StartContainer before the Running status", pod.Name)
		}
		// The relist lists sandboxes and containers together; a
		// ListContainers of its own is the sync listing again.
		if lc, ls := count(calls[start:], "ListContainers"), count(calls[start:], "ListPodSandbox"); lc > ls {
			t.Errorf("%s: the runtime was listed between StartContainer and the Running status: %v", pod.Name, methods(calls[start:]))
		}
		// Every sync so far was asked for: none came from the worker's
		// resync timer, which is not due for 10 s.
		if n := logs.timerSyncs(pod.Namespace + "/" + pod.Name); n > 0 {
			t.Errorf("%s: synced %d time(s) on its timer within its first seconds", pod.Name, n)
		}
	}
}

func count(calls []fakecri.Call, method string) int {
	n := 0
	for _, c := range calls {
		if c.Method == method {
			n++
		}
	}
	return n
}

func methods(calls []fakecri.Call) []string {
	out := make([]string, len(calls))
	for i, c := range calls {
		out[i] = c.Method
	}
	return out
}

// syncLog is a slog.Handler keeping the agent's "syncing pod" records.
type syncLog struct {
	mu    sync.Mutex
	syncs []map[string]string
}

func (h *syncLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *syncLog) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *syncLog) WithGroup(string) slog.Handler            { return h }
func (h *syncLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "syncing pod" {
		return nil
	}
	m := map[string]string{}
	r.Attrs(func(a slog.Attr) bool { m[a.Key] = a.Value.String(); return true })
	h.mu.Lock()
	h.syncs = append(h.syncs, m)
	h.mu.Unlock()
	return nil
}

func (h *syncLog) timerSyncs(pod string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, m := range h.syncs {
		if m["pod"] == pod && m["trigger"] == "timer" {
			n++
		}
	}
	return n
}
