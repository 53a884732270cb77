package benchkit

import (
	"fmt"
	"time"
)

// Dur prints a duration with three significant digits or so ("412 µs",
// "3.41 ms", "27.3 ms", "412 ms", "1.23 s"); "–" when not positive.
func Dur(d time.Duration) string { return FormatDuration(d, 2) }

// FormatDuration is Dur with secondDecimals decimals for durations of a
// second or more.
func FormatDuration(d time.Duration, secondDecimals int) string {
	switch {
	case d <= 0:
		return "–"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	case d < 100*time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.*f s", secondDecimals, d.Seconds())
}

// Ratio is a ÷ b with decimals decimals and a "×" ("1.23×"); "–" unless
// both are positive.
func Ratio(a, b time.Duration, decimals int) string {
	if a <= 0 || b <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.*f×", decimals, float64(a)/float64(b))
}

// Size prints a byte count in B, KiB or MiB.
func Size(n int64) string {
	switch {
	case n < 1024:
		return fmt.Sprintf("%d B", n)
	case n < 1024*1024:
		return fmt.Sprintf("%.1f KiB", float64(n)/1024)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1024*1024))
}

// MiB prints a byte count in MiB with decimals decimals; "unknown" when
// negative (memory readers return -1 when /proc cannot tell).
func MiB(n int64, decimals int) string {
	if n < 0 {
		return "unknown"
	}
	return fmt.Sprintf("%.*f MiB", decimals, float64(n)/(1024*1024))
}
