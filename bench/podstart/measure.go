package main

import (
	"slices"
	"time"
)

// latencies are the durations of one step, one per pod.
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

// step collects, over pods, the time from one instant to another; pods
// missing either instant are left out.
func step(ps []podTiming, from, to func(p podTiming) time.Time) latencies {
	var out latencies
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
	return func(p podTiming) time.Time { return p.events[reason] }
}
