package benchkit

import (
	"slices"
	"time"
)

// Latencies are the durations of one operation or step, one per call, pod
// or run.
type Latencies []time.Duration

// Pct returns the q-th percentile (0 < q ≤ 100) by nearest rank (p50 of an
// even count is the lower middle); 0 when l is empty.
func (l Latencies) Pct(q float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	rank := int(q/100*float64(len(s))+0.999999) - 1
	return s[min(max(rank, 0), len(s)-1)]
}

// Min is the shortest; 0 when l is empty.
func (l Latencies) Min() time.Duration {
	if len(l) == 0 {
		return 0
	}
	return slices.Min(l)
}

// Max is the longest; 0 when l is empty.
func (l Latencies) Max() time.Duration {
	if len(l) == 0 {
		return 0
	}
	return slices.Max(l)
}
