// Package poll waits in tests for a condition, with a deadline: what the
// tests do instead of fixed sleeps.
package poll

import (
	"testing"
	"time"
)

// interval is how often the condition is checked.
const interval = 10 * time.Millisecond

// Until checks cond every 10 ms until it holds, and fails the test
// ("timed out waiting for what") once timeout has passed.
func Until(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(interval)
	}
}
