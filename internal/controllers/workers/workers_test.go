package workers

import (
	"context"
	"errors"
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
