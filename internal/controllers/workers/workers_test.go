package workers

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/util/workqueue"
)

func TestRunRetriesFailuresAndStops(t *testing.T) {
	q := workqueue.NewTypedRateLimitingQueue(workqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Millisecond, 10*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	calls := map[string]int{}
	var failures []string
	done := make(chan struct{})
	syncKey := func(_ context.Context, key string) error {
		mu.Lock()
		defer mu.Unlock()
		calls[key]++
		if key == "flaky" && calls[key] < 3 {
			return errors.New("not yet")
		}
		if calls["ok"] >= 1 && calls["flaky"] >= 3 {
			select {
			case <-done:
			default:
				close(done)
			}
		}
		return nil
	}
	q.Add("ok")
	q.Add("flaky")
	stopped := make(chan struct{})
	go func() {
		Run(ctx, q, 2, syncKey, func(key string, err error) {
			mu.Lock()
			failures = append(failures, key)
			mu.Unlock()
		})
		close(stopped)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("keys were not synced and retried in time")
	}
	cancel()
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after ctx ended")
	}
	mu.Lock()
	defer mu.Unlock()
	if calls["ok"] != 1 || calls["flaky"] != 3 || len(failures) != 2 {
		t.Errorf("calls = %v, failures = %v; want ok once, flaky three times, two failures reported", calls, failures)
	}
}

// TestRunRecoversPanics: a sync that panics is reported with its stack and
// retried; the workers keep serving other keys.
func TestRunRecoversPanics(t *testing.T) {
	q := workqueue.NewTypedRateLimitingQueue(workqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Millisecond, 10*time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var reported []error
	synced := make(chan string, 10)
	panicked := false
	q.Add("bad")
	q.Add("good")
	go Run(ctx, q, 1, func(_ context.Context, key string) error {
		mu.Lock()
		defer mu.Unlock()
		if key == "bad" && !panicked {
			panicked = true
			panicInSync()
		}
		synced <- key
		return nil
	}, func(key string, err error) {
		mu.Lock()
		reported = append(reported, err)
		mu.Unlock()
	})
	seen := map[string]bool{}
	for len(seen) < 2 {
		select {
		case k := <-synced:
			seen[k] = true
		case <-time.After(5 * time.Second):
			t.Fatalf("after a panic, synced only %v", seen)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	var pe *PanicError
	if len(reported) != 1 || !errors.As(reported[0], &pe) || !strings.Contains(pe.Error(), "panicInSync") {
		t.Errorf("reported %v, want one PanicError with the stack", reported)
	}
}

func panicInSync() { panic("boom in a sync") }
