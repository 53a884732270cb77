package main

import (
	"time"

	"github.com/berth-dev/berth/bench/internal/benchkit"
)

// step collects, over pods, the time from one instant to another; pods
// missing either instant are left out.
func step(ps []podTiming, from, to func(p podTiming) time.Time) benchkit.Latencies {
	var out benchkit.Latencies
	for _, p := range ps {
		a, b := from(p), to(p)
		if a.IsZero() || b.IsZero() {
			continue
		}
		out = append(out, b.Sub(a))
	}
	return out
}

// Instants of a pod's start, for step.
func atStart(p podTiming) time.Time            { return p.start }
func atCreated(p podTiming) time.Time          { return p.created }
func atBound(p podTiming) time.Time            { return p.bound }
func atSandboxed(p podTiming) time.Time        { return p.sandboxed }
func atSandboxCreated(p podTiming) time.Time   { return p.sandboxCreated }
func atContainerCreated(p podTiming) time.Time { return p.containerCreated }
func atContainerStarted(p podTiming) time.Time { return p.containerStarted }
func atRunning(p podTiming) time.Time          { return p.running }

// atEvent is the first arrival of an event with that reason.
func atEvent(reason string) func(p podTiming) time.Time {
	return func(p podTiming) time.Time { return p.events[reason].At }
}
