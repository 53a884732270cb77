package benchkit

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"
)

// Tracker follows the benchmark's pods and their events through two
// watches (pods, events; see Start) opened before the first pod is
// created, and stamps what it sees with the time it arrived: the
// benchmarks measure what a client of the API observes.
type Tracker struct {
	mu   sync.Mutex
	pods map[string]*tracked // by pod name
}

// SeenEvent is the first event of one reason for a pod: when the watch
// delivered it and what it said.
type SeenEvent struct {
	At      time.Time
	Message string
}

// Seen is a copy of what the watches saw of one pod.
type Seen struct {
	UID     string
	Bound   time.Time            // first seen with spec.nodeName
	Running time.Time            // first seen Running with every container running
	Events  map[string]SeenEvent // first arrival of each event reason
	Failed  string               // why it will not run, when it will not
	Last    string               // its last status, for timeouts
}

// tracked is what the watches saw of one pod, and the channels its
// waiters wait on.
type tracked struct {
	Seen
	done, gone         chan struct{} // done: running or failed
	doneOnce, goneOnce sync.Once
}

// NewTracker returns a tracker following no pod yet.
func NewTracker() *Tracker { return &Tracker{pods: map[string]*tracked{}} }

// Track registers a pod about to be created (before the create call, so
// no event can be missed).
func (t *Tracker) Track(name string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.pods[name] = &tracked{Seen: Seen{Events: map[string]SeenEvent{}}, done: make(chan struct{}), gone: make(chan struct{})}
}

// Snapshot copies what was seen of the tracked pod name.
func (t *Tracker) Snapshot(name string) Seen {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.pods[name].Seen
	s.Events = maps.Clone(s.Events)
	return s
}

func (t *Tracker) get(name string) *tracked {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.pods[name]
}

// WaitRunning waits until the tracked pod name runs (nil), will not run,
// or timeout.
func (t *Tracker) WaitRunning(ctx context.Context, name string, timeout time.Duration) error {
	select {
	case <-t.get(name).done:
		if s := t.Snapshot(name); s.Failed != "" {
			return fmt.Errorf("pod %s will not run: %s", name, s.Failed)
		}
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("pod %s not Running after %s; last status: %s", name, timeout, t.Snapshot(name).Last)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// WaitEvent waits until an event with reason has arrived for the tracked
// pod name (events are sent asynchronously: one may trail the status it
// reports).
func (t *Tracker) WaitEvent(ctx context.Context, name, reason string, timeout time.Duration) (SeenEvent, error) {
	deadline := time.Now().Add(timeout)
	for {
		events := t.Snapshot(name).Events
		if ev, ok := events[reason]; ok {
			return ev, nil
		}
		if time.Now().After(deadline) {
			return SeenEvent{}, fmt.Errorf("no %s event for pod %s within %s (events seen: %v)",
				reason, name, timeout, slices.Sorted(maps.Keys(events)))
		}
		select {
		case <-ctx.Done():
			return SeenEvent{}, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// WaitGone waits until the watch reports the tracked pod name deleted.
func (t *Tracker) WaitGone(ctx context.Context, name string, timeout time.Duration) error {
	select {
	case <-t.get(name).gone:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("pod %s still there %s after its deletion; last status: %s", name, timeout, t.Snapshot(name).Last)
	case <-ctx.Done():
		return ctx.Err()
	}
}
