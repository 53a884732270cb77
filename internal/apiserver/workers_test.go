package apiserver

import (
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testutil/poll"
)

// TestHandlerWorkers: busy workers never make Go wait, finished ones take
// the next work instead of new goroutines, and no more than maxIdle stay.
func TestHandlerWorkers(t *testing.T) {
	const maxIdle, busy = 3, 10
	p := newHandlerWorkers(maxIdle)

	// All workers blocked at once: Go must still start every function.
	release := make(chan struct{})
	var started sync.WaitGroup
	started.Add(busy)
	for range busy {
		p.Go(func() { started.Done(); <-release })
	}
	started.Wait()
	close(release)

	// Only maxIdle of the ten stay.
	poll.Until(t, 10*time.Second, "idle workers to settle at the bound", func() bool {
		return p.idle.Load() == maxIdle && p.live.Load() == maxIdle
	})

	// Sequential work reuses them. (A worker counts itself idle just
	// before it waits, so a few functions may still start one.)
	before := p.spawned.Load()
	for range 100 {
		done := make(chan struct{})
		p.Go(func() { close(done) })
		<-done
	}
	if n := p.spawned.Load() - before; n > 50 {
		t.Errorf("100 functions one after the other started %d goroutines, want idle workers to take them", n)
	}
	poll.Until(t, 10*time.Second, "idle workers to settle at the bound again", func() bool {
		return p.idle.Load() == maxIdle && p.live.Load() == maxIdle
	})
}
