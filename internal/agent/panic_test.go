package agent

import (
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/cri/fakecri"
	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// panickingRuntime panics in the first RunPodSandbox.
type panickingRuntime struct {
	*fakecri.Runtime
	once sync.Once
}

func (p *panickingRuntime) RunPodSandbox(ctx context.Context, cfg *runtimeapi.PodSandboxConfig, handler string) (string, error) {
	p.once.Do(func() { panicInRuntime() })
	return p.Runtime.RunPodSandbox(ctx, cfg, handler)
}

func panicInRuntime() { panic("boom in the runtime") }

type lockedLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestPodWorkerRecoversPanic: a panic in a pod's sync is logged with its
// stack, the agent keeps running and the pod is retried until it runs.
func TestPodWorkerRecoversPanic(t *testing.T) {
	w := newWorld(t)
	var logs lockedLog
	a, err := New(Config{Client: w.cs, Runtime: &panickingRuntime{Runtime: w.rt}, NodeName: "node1", DataDir: w.dataDir,
		NodeIP: "192.0.2.10", Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		select {
		case _ = <-done:
		case <-time.After(waitTimeout):
			t.Error("Run did not return")
		}
	}()
	<-a.Ready()
	pod := w.createPod(newTestPod("panics", corev1.RestartPolicyAlways))
	w.waitPod(pod, "phase Running after the panic", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	if s := logs.String(); !strings.Contains(s, "panicInRuntime") || !strings.Contains(s, "boom in the runtime") {
		t.Errorf("the panic is not logged with its stack:\n%.2000s", s)
	}
}
