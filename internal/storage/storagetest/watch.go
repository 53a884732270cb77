package storagetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/storage"
)

func created(key, value string, rev int64) storage.Event {
	return storage.Event{Type: storage.EventCreated, Key: key, Value: []byte(value), Revision: rev}
}

func modified(key, value, prev string, rev int64) storage.Event {
	return storage.Event{Type: storage.EventModified, Key: key, Value: []byte(value), PrevValue: []byte(prev), Revision: rev}
}

func deleted(key, value string, rev int64) storage.Event {
	return storage.Event{Type: storage.EventDeleted, Key: key, Value: []byte(value), PrevValue: []byte(value), Revision: rev}
}

// testWatchFromNow: fromRevision 0 sees only the changes after Watch returns.
func testWatchFromNow(t *testing.T, ctx context.Context, s storage.Store, root string) {
	a, b := root+"a", root+"b"
	aRev := mustCreate(t, ctx, s, a, "a1") // before the watch: not seen
	ch := mustWatch(t, ctx, s, root, 0)

	r1 := mustUpdate(t, ctx, s, a, "a2", aRev)
	r2 := mustCreate(t, ctx, s, b, "b1")
	r3 := mustDelete(t, ctx, s, b)
	expectEvents(t, ch,
		modified(a, "a2", "a1", r1),
		created(b, "b1", r2),
		deleted(b, "b1", r3),
	)
}

// testWatchReplay: a watch from an old revision replays the history after it
// in order, then goes on with live changes.
func testWatchReplay(t *testing.T, ctx context.Context, s storage.Store, root string) {
	a, b := root+"a", root+"b"
	r0 := mustRevision(t, ctx, s)
	r1 := mustCreate(t, ctx, s, a, "a1")
	r2 := mustUpdate(t, ctx, s, a, "a2", r1)
	r3 := mustCreate(t, ctx, s, b, "b1")
	r4 := mustDelete(t, ctx, s, a)
	history := []storage.Event{
		created(a, "a1", r1),
		modified(a, "a2", "a1", r2),
		created(b, "b1", r3),
		deleted(a, "a2", r4),
	}
	tests := []struct {
		name string
		from int64
		want []storage.Event
	}{
		{"before the first write", r0, history},
		{"at the create", r1, history[1:]},
		{"at the second create", r3, history[3:]},
		{"at the last write", r4, nil},
	}
	chans := make([]<-chan storage.Event, len(tests))
	for i, tc := range tests {
		chans[i] = mustWatch(t, ctx, s, root, tc.from)
	}
	live := mustUpdate(t, ctx, s, b, "b2", r3)
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := append(append([]storage.Event(nil), tc.want...), modified(b, "b2", "b1", live))
			expectEvents(t, chans[i], want...)
		})
	}
}

// testWatchPrefixIsolation: a watch sees only keys with its prefix.
func testWatchPrefixIsolation(t *testing.T, ctx context.Context, s storage.Store, root string) {
	chA := mustWatch(t, ctx, s, root+"pods/a/", 0)
	chAB := mustWatch(t, ctx, s, root+"pods/ab/", 0)

	ab := mustCreate(t, ctx, s, root+"pods/ab/x", "ab")
	mustCreate(t, ctx, s, root+"pods/b/x", "b")
	mustCreate(t, ctx, s, root+"pods/a", "a without slash")
	mustCreate(t, ctx, s, root+"podsx/a/x", "other resource")
	a := mustCreate(t, ctx, s, root+"pods/a/x", "a")
	ab2 := mustCreate(t, ctx, s, root+"pods/ab/y", "ab2")

	expectEvents(t, chA, created(root+"pods/a/x", "a", a))
	expectEvents(t, chAB, created(root+"pods/ab/x", "ab", ab), created(root+"pods/ab/y", "ab2", ab2))
}

// testWatchCompacted: a watch from before the compacted revision yields one
// ERROR event wrapping storage.ErrCompacted, then its channel closes.
func testWatchCompacted(t *testing.T, ctx context.Context, s storage.Store, root string) {
	key := root + "a"
	r0 := mustRevision(t, ctx, s)
	r1 := mustCreate(t, ctx, s, key, "v1")
	r2 := mustUpdate(t, ctx, s, key, "v2", r1)
	r3 := mustUpdate(t, ctx, s, key, "v3", r2)
	if err := s.Compact(ctx, r2); err != nil {
		t.Fatalf("Compact(%d): %v", r2, err)
	}
	tests := []struct {
		name      string
		from      int64
		compacted bool
		want      []storage.Event // before the live event
	}{
		{name: "long before", from: r0, compacted: true},
		{name: "just before", from: r1, compacted: true}, // the change at r2 is gone
		{name: "at the compacted revision", from: r2, want: []storage.Event{modified(key, "v3", "v2", r3)}},
		{name: "after it", from: r3},
		{name: "from now", from: 0},
	}
	chans := make([]<-chan storage.Event, len(tests))
	for i, tc := range tests {
		chans[i] = mustWatch(t, ctx, s, root, tc.from)
	}
	live := mustUpdate(t, ctx, s, key, "v4", r3)
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.compacted {
				expectCompacted(t, chans[i])
				return
			}
			expectEvents(t, chans[i], append(tc.want, modified(key, "v4", "v3", live))...)
		})
	}
}

// testWatchCancel: the channel closes when the watch's ctx ends, whether or
// not events are waiting to be read.
func testWatchCancel(t *testing.T, ctx context.Context, s storage.Store, root string) {
	from := mustRevision(t, ctx, s)
	for i := range 5 {
		mustCreate(t, ctx, s, fmt.Sprintf("%sk%d", root, i), "v")
	}
	tests := []struct {
		name string
		from int64
		idle bool // no event can be pending
	}{
		{name: "idle watch", from: 0, idle: true},
		{name: "unread events", from: from},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wctx, cancel := context.WithCancel(ctx)
			ch := mustWatch(t, wctx, s, root, tc.from)
			cancel()
			if tc.idle {
				expectClosed(t, ch)
			} else {
				drainUntilClosed(t, ch)
			}
		})
	}
	// The store still works after its watches ended.
	ch := mustWatch(t, ctx, s, root, 0)
	rev := mustCreate(t, ctx, s, root+"after", "v")
	expectEvents(t, ch, created(root+"after", "v", rev))
}

// testWatchManyEvents: writers do not wait for a watch that is not read. Once
// read, the watch delivers every change in order; a store may instead end a
// watch that fell too far behind with one ERROR event, after a gap-free
// prefix of the changes.
func testWatchManyEvents(t *testing.T, ctx context.Context, s storage.Store, root string) {
	const n = 300
	ch := mustWatch(t, ctx, s, root, 0)
	revs := make([]int64, n)
	for i := range n {
		revs[i] = mustCreate(t, ctx, s, fmt.Sprintf("%sk%03d", root, i), "v")
	}
	for i := range n {
		ev := recv(t, ch)
		if ev.Type == storage.EventError {
			if ev.Err == nil {
				t.Fatalf("ERROR event without Err after %d events", i)
			}
			expectClosed(t, ch)
			t.Logf("watch ended after %d of %d events: %v", i, n, ev.Err)
			return
		}
		want := created(fmt.Sprintf("%sk%03d", root, i), "v", revs[i])
		if !sameEvent(ev, want) {
			t.Fatalf("event %d:\n got %s\nwant %s", i, format(ev), format(want))
		}
	}
}

// testClose: Close ends the store's watches: their channels close, after at
// most an ERROR event.
func testClose(t *testing.T, ctx context.Context, s storage.Store, root string) {
	ch := mustWatch(t, ctx, s, root, 0)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	timer := time.NewTimer(eventTimeout)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return
			}
			if ev.Type != storage.EventError || errors.Is(ev.Err, storage.ErrCompacted) {
				t.Fatalf("after Close: got %s, want the channel closed", format(ev))
			}
		case <-timer.C:
			t.Fatalf("watch channel still open %v after Close", eventTimeout)
		}
	}
}
