package benchkit

import (
	"testing"
	"time"
)

func TestFormatDuration(t *testing.T) {
	for _, c := range []struct {
		d        time.Duration
		decimals int
		want     string
	}{
		{0, 2, "–"},
		{-time.Second, 2, "–"},
		{412 * time.Microsecond, 2, "412 µs"},
		{3412 * time.Microsecond, 2, "3.41 ms"},
		{27345 * time.Microsecond, 2, "27.3 ms"},
		{412 * time.Millisecond, 2, "412 ms"},
		{1234567 * time.Microsecond, 2, "1.23 s"},
		{1234567 * time.Microsecond, 3, "1.235 s"},
	} {
		if got := FormatDuration(c.d, c.decimals); got != c.want {
			t.Errorf("FormatDuration(%v, %d) = %q, want %q", c.d, c.decimals, got, c.want)
		}
	}
	if got := Dur(1234567 * time.Microsecond); got != "1.23 s" {
		t.Errorf("Dur = %q, want two decimals", got)
	}
}

func TestRatio(t *testing.T) {
	if got := Ratio(3*time.Second, 2*time.Second, 1); got != "1.5×" {
		t.Errorf("Ratio(3s, 2s, 1) = %q", got)
	}
	if got := Ratio(time.Second, 3*time.Second, 2); got != "0.33×" {
		t.Errorf("Ratio(1s, 3s, 2) = %q", got)
	}
	if got := Ratio(time.Second, 0, 2); got != "–" {
		t.Errorf("Ratio(1s, 0, 2) = %q, want –", got)
	}
}

func TestSizes(t *testing.T) {
	for n, want := range map[int64]string{512: "512 B", 1536: "1.5 KiB", 3 << 20: "3.0 MiB"} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
	if got := MiB(3<<20+1<<19, 1); got != "3.5 MiB" {
		t.Errorf("MiB(3.5 MiB, 1) = %q", got)
	}
	if got := MiB(3<<20+1<<19, 0); got != "4 MiB" {
		t.Errorf("MiB(3.5 MiB, 0) = %q", got)
	}
	if got := MiB(-1, 1); got != "unknown" {
		t.Errorf("MiB(-1, 1) = %q, want unknown", got)
	}
}
