package ci

import (
	"testing"
)

// fakeT records what Skipf does instead of ending the test.
type fakeT struct {
	testing.TB
	skipped, failed bool
}

func (f *fakeT) Helper()               {}
func (f *fakeT) Skip(...any)           { f.skipped = true }
func (f *fakeT) Fatalf(string, ...any) { f.failed = true }

func TestSkipfFailsInCI(t *testing.T) {
	for _, tc := range []struct {
		ci              string
		skipped, failed bool
	}{{"true", false, true}, {"", true, false}, {"false", true, false}} {
		t.Setenv("CI", tc.ci)
		f := &fakeT{}
		Skipf(f, "containerd missing")
		if f.skipped != tc.skipped || f.failed != tc.failed {
			t.Errorf("CI=%q: skipped %v failed %v, want %v %v", tc.ci, f.skipped, f.failed, tc.skipped, tc.failed)
		}
	}
}
