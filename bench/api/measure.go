package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// latencies are the durations of one operation, measured one at a time.
type latencies []time.Duration

// pct returns the q-th percentile (0 < q ≤ 100) by nearest rank.
func (l latencies) pct(q float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	rank := int(q/100*float64(len(s))+0.999999) - 1
	return s[min(max(rank, 0), len(s)-1)]
}

// sequential runs op n times, one after the other, and times each call.
func sequential(ctx context.Context, n int, op func(ctx context.Context, i int) error) (latencies, error) {
	out := make(latencies, 0, n)
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
	lat     latencies // every call's latency under load
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
	lats := make([]latencies, clients)
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
	var all latencies
	for _, l := range lats {
		all = append(all, l...)
	}
	return rate{ops: len(all), elapsed: elapsed, lat: all}, nil
}
