// Package ci is how a test that needs a real component (containerd, runc,
// CNI plugins, a registry, root) reacts when it is missing: it skips on a
// developer's machine and fails in CI (CI=true), so CI cannot pass by
// skipping.
package ci

import (
	"fmt"
	"os"
	"testing"
)

// Enabled reports whether the tests run in CI.
func Enabled() bool { return os.Getenv("CI") == "true" }

// Skipf skips the test, or fails it in CI, with the message.
func Skipf(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if Enabled() {
		t.Fatalf("%s (required in CI: CI=true)", msg)
		return
	}
	t.Skip(msg)
}
