package memory_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/storage"
	"github.com/berth-dev/berth/internal/storage/memory"
	"github.com/berth-dev/berth/internal/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store {
		s := memory.New()
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// TestUnreadWatchDoesNotBlockWriters: writes far beyond a watch channel's
// buffer complete while nobody reads, and the watch still gets them all.
func TestUnreadWatchDoesNotBlockWriters(t *testing.T) {
	const n = 5000
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	s := memory.New()
	defer s.Close()
	ch, err := s.Watch(ctx, "/", 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := s.Create(ctx, fmt.Sprintf("/k%d", i), []byte("v")); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	var last int64
	for i := range n {
		select {
		case ev := <-ch:
			if ev.Type != storage.EventCreated || ev.Revision <= last {
				t.Fatalf("event %d: %+v after revision %d", i, ev, last)
			}
			last = ev.Revision
		case <-ctx.Done():
			t.Fatalf("got %d of %d events", i, n)
		}
	}
}

// TestCancelledWatchEnds: a cancelled watch with events nobody will read
// still ends its goroutine.
func TestCancelledWatchEnds(t *testing.T) {
	ctx := t.Context()
	s := memory.New()
	defer s.Close()
	before := runtime.NumGoroutine()
	wctx, cancel := context.WithCancel(ctx)
	if _, err := s.Watch(wctx, "/", 0); err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		if _, err := s.Create(ctx, fmt.Sprintf("/k%d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	cancel()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines, %d before the watch", runtime.NumGoroutine(), before)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond) // polling interval
	}
}

// TestClosed: every method fails after Close.
func TestClosed(t *testing.T) {
	ctx := t.Context()
	s := memory.New()
	if _, err := s.Create(ctx, "/k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	calls := map[string]func() error{
		"Get":      func() error { _, err := s.Get(ctx, "/k"); return err },
		"List":     func() error { _, _, err := s.List(ctx, "/"); return err },
		"Create":   func() error { _, err := s.Create(ctx, "/j", nil); return err },
		"Update":   func() error { _, err := s.Update(ctx, "/k", nil, 2); return err },
		"Delete":   func() error { _, _, err := s.Delete(ctx, "/k", 0); return err },
		"Watch":    func() error { _, err := s.Watch(ctx, "/", 0); return err },
		"Revision": func() error { _, err := s.Revision(ctx); return err },
		"Compact":  func() error { return s.Compact(ctx, 1) },
	}
	for name, call := range calls {
		if err := call(); err == nil {
			t.Errorf("%s after Close: no error", name)
		}
	}
}
