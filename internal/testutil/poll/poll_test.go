package poll

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

func TestUntil(t *testing.T) {
	n := 0
	Until(t, time.Second, "three checks", func() bool { n++; return n == 3 })
	if n != 3 {
		t.Fatalf("checked %d times", n)
	}
	ft := &fatalRecorder{TB: t}
	done := make(chan struct{})
	go func() { // Fatalf stops its goroutine
		defer close(done)
		Until(ft, 30*time.Millisecond, "never", func() bool { return false })
	}()
	<-done
	if ft.msg != "timed out waiting for never" {
		t.Fatalf("failure %q", ft.msg)
	}
}

type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}
