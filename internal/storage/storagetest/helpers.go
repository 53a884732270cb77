package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/storage"
)

// eventTimeout is how long a watch may take to deliver an expected event.
const eventTimeout = 10 * time.Second

func mustCreate(t *testing.T, ctx context.Context, s storage.Store, key, value string) int64 {
	t.Helper()
	rev, err := s.Create(ctx, key, []byte(value))
	if err != nil {
		t.Fatalf("Create(%q): %v", key, err)
	}
	return rev
}

func mustUpdate(t *testing.T, ctx context.Context, s storage.Store, key, value string, expected int64) int64 {
	t.Helper()
	rev, err := s.Update(ctx, key, []byte(value), expected)
	if err != nil {
		t.Fatalf("Update(%q, %d): %v", key, expected, err)
	}
	return rev
}

func mustDelete(t *testing.T, ctx context.Context, s storage.Store, key string) int64 {
	t.Helper()
	_, rev, err := s.Delete(ctx, key, 0)
	if err != nil {
		t.Fatalf("Delete(%q): %v", key, err)
	}
	return rev
}

func mustRevision(t *testing.T, ctx context.Context, s storage.Store) int64 {
	t.Helper()
	rev, err := s.Revision(ctx)
	if err != nil {
		t.Fatalf("Revision: %v", err)
	}
	return rev
}

func mustWatch(t *testing.T, ctx context.Context, s storage.Store, prefix string, from int64) <-chan storage.Event {
	t.Helper()
	ch, err := s.Watch(ctx, prefix, from)
	if err != nil {
		t.Fatalf("Watch(%q, %d): %v", prefix, from, err)
	}
	return ch
}

// wantKV fails unless got has the key, value and revision.
func wantKV(t *testing.T, got storage.KeyValue, key, value string, rev int64) {
	t.Helper()
	if got.Key != key || string(got.Value) != value || got.Revision != rev {
		t.Fatalf("got {%q %q rev %d}, want {%q %q rev %d}", got.Key, got.Value, got.Revision, key, value, rev)
	}
}

// wantErr fails unless err matches want (nil: no error).
func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	switch {
	case want == nil && err != nil:
		t.Fatalf("%s: unexpected error %v", what, err)
	case want != nil && !errors.Is(err, want):
		t.Fatalf("%s: got error %v, want %v", what, err, want)
	}
}

// recv returns the next event, failing if none comes in time or the channel
// closes.
func recv(t *testing.T, ch <-chan storage.Event) storage.Event {
	t.Helper()
	timer := time.NewTimer(eventTimeout)
	defer timer.Stop()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatalf("watch channel closed, want an event")
		}
		return ev
	case <-timer.C:
		t.Fatalf("no watch event within %v", eventTimeout)
	}
	return storage.Event{}
}

// expectEvents fails unless the next events are exactly want, in order.
func expectEvents(t *testing.T, ch <-chan storage.Event, want ...storage.Event) {
	t.Helper()
	for i, w := range want {
		got := recv(t, ch)
		if !sameEvent(got, w) {
			t.Fatalf("event %d:\n got %s\nwant %s", i, format(got), format(w))
		}
	}
}

// expectClosed fails unless the channel closes in time with no more events.
func expectClosed(t *testing.T, ch <-chan storage.Event) {
	t.Helper()
	timer := time.NewTimer(eventTimeout)
	defer timer.Stop()
	select {
	case ev, ok := <-ch:
		if ok {
			t.Fatalf("got event %s, want the channel closed", format(ev))
		}
	case <-timer.C:
		t.Fatalf("watch channel still open after %v", eventTimeout)
	}
}

// drainUntilClosed reads and drops events until the channel closes.
func drainUntilClosed(t *testing.T, ch <-chan storage.Event) {
	t.Helper()
	timer := time.NewTimer(eventTimeout)
	defer timer.Stop()
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timer.C:
			t.Fatalf("watch channel still open after %v", eventTimeout)
		}
	}
}

// expectCompacted fails unless the watch yields one EventError carrying
// storage.ErrCompacted and then closes.
func expectCompacted(t *testing.T, ch <-chan storage.Event) {
	t.Helper()
	ev := recv(t, ch)
	if ev.Type != storage.EventError || !errors.Is(ev.Err, storage.ErrCompacted) {
		t.Fatalf("got %s, want an ERROR event wrapping %v", format(ev), storage.ErrCompacted)
	}
	expectClosed(t, ch)
}

func sameEvent(a, b storage.Event) bool {
	return a.Type == b.Type && a.Key == b.Key && a.Revision == b.Revision &&
		bytes.Equal(a.Value, b.Value) && bytes.Equal(a.PrevValue, b.PrevValue) &&
		(a.PrevValue == nil) == (b.PrevValue == nil) && a.Err == nil && b.Err == nil
}

func format(ev storage.Event) string {
	s := fmt.Sprintf("%s %s value=%s prev=%s rev=%d", ev.Type, ev.Key, quote(ev.Value), quote(ev.PrevValue), ev.Revision)
	if ev.Err != nil {
		s += " err=" + ev.Err.Error()
	}
	return s
}

func quote(b []byte) string {
	if b == nil {
		return "nil"
	}
	return fmt.Sprintf("%q", b)
}
