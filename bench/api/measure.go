package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/berth-dev/berth/bench/internal/benchkit"
)

// sequential runs op n times, one after the other, and times each call.
func sequential(ctx context.Context, n int, op func(ctx context.Context, i int) error) (benchkit.Latencies, error) {
	out := make(benchkit.Latencies, 0, n)
	for i := range n {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		start := time.Now()
		if err := op(ctx, i); err != nil {
			return nil, fmt.Errorf("call %d of %d: %w", i+1, n, err)
		}
		out = append(out, time.Since(start))
	}
	return out, nil
}

// rate is the result of a throughput run.
type rate struct {
	ops     int
	elapsed time.Duration
	lat     benchkit.Latencies // every call's latency under load
}

func (r rate) perSecond() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ops) / r.elapsed.Seconds()
}

// concurrent runs op from clients goroutines, each calling it in a loop for
// d; op gets the goroutine's index and its call count. The first error stops
// every goroutine and is returned: a rate with failed calls would mislead.
func concurrent(ctx context.Context, clients int, d time.Duration, op func(ctx context.Context, worker, i int) error) (rate, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	deadline := time.Now().Add(d)
	lats := make([]benchkit.Latencies, clients)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				t := time.Now()
				if !t.Before(deadline) {
					return
				}
				if err := op(ctx, w, i); err != nil {
					if ctx.Err() == nil {
						cancel(fmt.Errorf("client %d, call %d: %w", w, i+1, err))
					}
					return
				}
				lats[w] = append(lats[w], time.Since(t))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := context.Cause(ctx); err != nil {
		return rate{}, err
	}
	var all benchkit.Latencies
	for _, l := range lats {
		all = append(all, l...)
	}
	return rate{ops: len(all), elapsed: elapsed, lat: all}, nil
}
