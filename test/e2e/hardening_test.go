package e2e

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// TestHardening: what a bad request or a bad client does to a real berth
// server (no agent): a JSON patch bomb, a watcher that stops reading, and a
// SIGKILL in the middle of many concurrent writes.
func TestHardening(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())
	const ns = "hardening"
	s.namespace(t, ns)
	cs := s.clientset(t)
	ctx := context.Background()

	// Serial: each subtest measures the server's memory.
	t.Run("JSONPatchBomb", func(t *testing.T) {
		if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "bomb"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		ops := []string{fmt.Sprintf(`{"op":"add","path":"/x","value":{"v":%q}}`, strings.Repeat("a", 1024))}
		// 16 doublings of a kilobyte: 64 MiB of copies, from a 1.5 KiB patch.
		for i := range 16 {
			ops = append(ops, fmt.Sprintf(`{"op":"copy","from":"/x","path":"/x/c%d"}`, i))
		}
		before := s.rss(t)
		start := time.Now()
		_, err := cs.CoreV1().ConfigMaps(ns).Patch(ctx, "bomb", types.JSONPatchType, []byte("["+strings.Join(ops, ",")+"]"), metav1.PatchOptions{})
		elapsed := time.Since(start)
		if !apierrors.IsInvalid(err) || apierrors.ReasonForError(err) != metav1.StatusReasonInvalid {
			t.Fatalf("patch bomb: %v (%s), want 422 Invalid", err, apierrors.ReasonForError(err))
		}
		if elapsed > 3*time.Second {
			t.Errorf("patch bomb refused after %v, want fast", elapsed)
		}
		if grew := s.rss(t) - before; grew > 32<<20 {
			t.Errorf("the server's RSS grew by %d MiB during a refused patch bomb", grew>>20)
		}
	})

	t.Run("StoppedWatcher", func(t *testing.T) {
		msg := strings.Repeat("m", 4096) // 10,000 of them: far more than socket and HTTP/2 buffers hold
		event := func(i int) *corev1.Event {
			return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("ev-%05d", i)},
				InvolvedObject: corev1.ObjectReference{Kind: "ConfigMap", Name: "bomb", Namespace: ns},
				Reason:         "Flood", Message: msg, Type: corev1.EventTypeNormal}
		}
		if _, err := cs.CoreV1().Events(ns).Create(ctx, event(0), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		w := s.kubectlBackground(t, 3*time.Minute, "-n", ns, "get", "events", "-w")
		eventually(t, 20*time.Second, func() error {
			if !strings.Contains(w.stdout.String(), "Flood") {
				return fmt.Errorf("kubectl get events -w printed nothing yet: %q %q", w.stdout.String(), w.stderr.String())
			}
			return nil
		})
		if err := w.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		stopped := true
		defer func() {
			if stopped {
				_ = w.cmd.Process.Signal(syscall.SIGCONT)
			}
		}()
		before := s.rss(t)
		writeConcurrently(t, 32, 10000, func(i int) error {
			_, err := cs.CoreV1().Events(ns).Create(ctx, event(i+1), metav1.CreateOptions{})
			return err
		})
		eventually(t, 40*time.Second, func() error {
			// Either way out: the watch cache's buffer for this watch
			// fills (when the HTTP/2 window and socket took the rest), or
			// a write blocks for the stall timeout.
			log := s.readLog(s.logPath)
			if !strings.Contains(log, "closing a watch whose client stopped reading") &&
				!strings.Contains(log, "watch cache: closing a watcher that fell behind") {
				return fmt.Errorf("the server has not closed the stalled watch")
			}
			return nil
		})
		if grew := s.rss(t) - before; grew > 200<<20 {
			t.Errorf("the server's RSS grew by %d MiB while a stopped watcher missed 10,000 events", grew>>20)
		}
		_ = w.cmd.Process.Signal(syscall.SIGCONT)
		stopped = false
		if !w.wait(30 * time.Second) {
			t.Errorf("kubectl get events -w still runs after its watch was closed")
		}
	})

	t.Run("SIGKILLDuringWrites", func(t *testing.T) {
		var acked sync.Map
		var n atomic.Int64
		killed := make(chan struct{})
		var once sync.Once
		kill := func() {
			once.Do(func() {
				go func() {
					_, _ = s.stop(syscall.SIGKILL)
					close(killed)
				}()
			})
		}
		// The kill lands once 300 writes are acknowledged, while the
		// other workers' writes are in flight.
		writeAll(32, 1000, func(i int) {
			name := fmt.Sprintf("w-%04d", i)
			_, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name},
				Data: map[string]string{"i": strconv.Itoa(i)}}, metav1.CreateOptions{})
			if err == nil {
				acked.Store(name, true)
				if n.Add(1) == 300 {
					kill()
				}
			}
		})
		kill()
		<-killed
		s.start(t)
		cs := s.clientset(t)
		list, err := cs.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		have := map[string]bool{}
		for _, cm := range list.Items {
			have[cm.Name] = true
		}
		var lost []string
		total := 0
		acked.Range(func(k, _ any) bool {
			total++
			if !have[k.(string)] {
				lost = append(lost, k.(string))
			}
			return true
		})
		t.Logf("%d of 1000 writes were acknowledged before SIGKILL; %d objects after restart", total, len(list.Items)-1)
		if len(lost) > 0 {
			t.Errorf("%d acknowledged writes were lost: %v", len(lost), lost)
		}
	})
}

// clientset is a client-go clientset for the server, without client-side
// rate limits.
func (s *server) clientset(t testing.TB) *kubernetes.Clientset {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", s.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS, cfg.Burst = 5000, 5000
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// rss is the server process's resident memory in bytes.
func (s *server) rss(t testing.TB) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmRSS in /proc status")
	return 0
}

// writeAll runs f(0..n-1) on workers goroutines.
func writeAll(workers, n int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				f(i)
			}
		})
	}
	wg.Wait()
}

// writeConcurrently is writeAll that fails the test on the first error.
func writeConcurrently(t *testing.T, workers, n int, f func(i int) error) {
	t.Helper()
	var firstErr atomic.Value
	writeAll(workers, n, func(i int) {
		if firstErr.Load() != nil {
			return
		}
		if err := f(i); err != nil {
			firstErr.CompareAndSwap(nil, fmt.Errorf("write %d: %w", i, err))
		}
	})
	if err := firstErr.Load(); err != nil {
		t.Fatal(err)
	}
}
