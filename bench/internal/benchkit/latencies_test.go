package benchkit

import (
	"testing"
	"time"
)

func TestLatencies(t *testing.T) {
	l := Latencies{4, 1, 3, 2} // nanoseconds, unsorted
	for q, want := range map[float64]time.Duration{50: 2, 75: 3, 99: 4, 100: 4, 1: 1} {
		if got := l.Pct(q); got != want {
			t.Errorf("Pct(%v) = %v, want %v", q, got, want)
		}
	}
	if l[0] != 4 {
		t.Error("Pct sorted the caller's slice")
	}
	if l.Min() != 1 || l.Max() != 4 {
		t.Errorf("Min, Max = %v, %v; want 1, 4", l.Min(), l.Max())
	}
	var empty Latencies
	if empty.Pct(50) != 0 || empty.Min() != 0 || empty.Max() != 0 {
		t.Error("an empty Latencies should give 0")
	}
}
