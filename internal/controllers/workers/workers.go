// Package workers runs a controller's work queue: n goroutines take keys,
// sync them, forget them on success and retry them with the queue's
// rate-limited back-off on failure, until ctx ends.
package workers

import (
	"context"
	"fmt"
	"runtime/debug"
	"sync"

	"k8s.io/client-go/util/workqueue"
)

// PanicError is a sync that panicked: the worker recovers, reports it
// through onError with the stack, and retries the key with back-off, so one
// bad object cannot take the node down.
type PanicError struct {
	Key   string
	Value any
	Stack []byte
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("panic syncing %q: %v\n%s", e.Key, e.Value, e.Stack)
}

// Run starts n workers over q and blocks until ctx ends; it then shuts q
// down and waits for the workers. onError is told about each failed sync
// that will be retried (not about failures caused by ctx ending).
func Run(ctx context.Context, q workqueue.TypedRateLimitingInterface[string], n int,
	syncKey func(ctx context.Context, key string) error, onError func(key string, err error)) {
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for next(ctx, q, syncKey, onError) {
			}
		})
	}
	<-ctx.Done()
	q.ShutDown()
	wg.Wait()
}

func next(ctx context.Context, q workqueue.TypedRateLimitingInterface[string],
	syncKey func(ctx context.Context, key string) error, onError func(key string, err error)) bool {
	key, quit := q.Get()
	if quit {
		return false
	}
	defer q.Done(key)
	err := syncRecovered(ctx, key, syncKey)
	switch {
	case err == nil:
		q.Forget(key)
	case ctx.Err() != nil:
	default:
		onError(key, err)
		q.AddRateLimited(key)
	}
	return true
}

func syncRecovered(ctx context.Context, key string, syncKey func(ctx context.Context, key string) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Key: key, Value: v, Stack: debug.Stack()}
		}
	}()
	return syncKey(ctx, key)
}
