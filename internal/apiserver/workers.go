package apiserver

import "sync/atomic"

// handlerWorkers run request handlers on goroutines that outlive one
// request. A new goroutine starts with an 8 KiB stack (Go sizes it by the
// average of all goroutines, which berth's hundreds of idle watchers keep
// small), and a write's handler — decoding, managedFields' recursive walks,
// etcd — grows it to 32–64 KiB, copying it at each doubling: that was 11%
// of the server's CPU for writes and 14–17% for gets. A worker keeps its
// grown stack between requests (the GC halves an idle one now and then).
type handlerWorkers struct {
	work    chan func() // unbuffered: a send succeeds only into an idle worker
	idle    atomic.Int32
	maxIdle int32
	spawned atomic.Int64 // goroutines started, for tests
	live    atomic.Int32 // goroutines running, for tests
}

func newHandlerWorkers(maxIdle int) *handlerWorkers {
	return &handlerWorkers{work: make(chan func()), maxIdle: int32(maxIdle)}
}

// Go runs f on an idle worker, or on a new one when none is idle: it never
// waits, so it adds no limit of its own (maxInFlight is the limit). f must
// not panic (the timeout filter recovers inside it).
func (p *handlerWorkers) Go(f func()) {
	select {
	case p.work <- f:
	default:
		p.spawned.Add(1)
		p.live.Add(1)
		go p.run(f)
	}
}

// run runs f, then waits for more work unless maxIdle workers already
// wait; workers beyond that exit, so a burst leaves no more than maxIdle
// goroutines behind.
func (p *handlerWorkers) run(f func()) {
	defer p.live.Add(-1)
	for {
		f()
		if p.idle.Add(1) > p.maxIdle {
			p.idle.Add(-1)
			return
		}
		f = <-p.work
		p.idle.Add(-1)
	}
}
