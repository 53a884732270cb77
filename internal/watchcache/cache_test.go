package watchcache_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/storage"
	"github.com/berth-dev/berth/internal/storage/memory"
	"github.com/berth-dev/berth/internal/storage/storagetest"
	"github.com/berth-dev/berth/internal/watchcache"
)

func newCache(t *testing.T, opts watchcache.Options) (*watchcache.Cache, *memory.Store) {
	t.Helper()
	st := memory.New()
	c, err := watchcache.New(t.Context(), st, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, st
}

// The cache is a storage.Store: the shared conformance suite holds it to
// the same contract as etcd and memory, as a sole writer and not.
func TestConformance(t *testing.T) {
	for _, sole := range []bool{false, true} {
		t.Run(fmt.Sprintf("SoleWriter=%v", sole), func(t *testing.T) {
			storagetest.Run(t, func(t *testing.T) storage.Store {
				c, _ := newCache(t, watchcache.Options{SoleWriter: sole})
				return c
			})
		})
	}
}

// TestReadsAtResourceVersion: the three kinds of read kube-apiserver's
// cacher serves (resourceVersion unset, "0", and "not older than N").
func TestReadsAtResourceVersion(t *testing.T) {
	const key = "/registry/pods/ns/a"
	tests := []struct {
		name string
		// write happens behind the cache's back, straight to the store,
		// when behind is set: only a consistent read must see it at once.
		behind  bool
		minRev  func(written int64) int64
		want    string // the value read; "" with wantErr
		wantErr error
	}{
		{name: "consistent read sees a write through the cache", minRev: func(int64) int64 { return watchcache.Consistent }, want: "v2"},
		{name: "consistent read sees a write straight to the store", behind: true, minRev: func(int64) int64 { return watchcache.Consistent }, want: "v2"},
		{name: "not older than the write", behind: true, minRev: func(w int64) int64 { return w }, want: "v2"},
		{name: "a revision the store never reaches is too large", minRev: func(w int64) int64 { return w + 100 }, wantErr: watchcache.ErrTooLargeResourceVersion},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, st := newCache(t, watchcache.Options{TooLargeWait: 200 * time.Millisecond})
			ctx := t.Context()
			rev, err := c.Create(ctx, key, []byte("v1"))
			if err != nil {
				t.Fatal(err)
			}
			var w storage.Store = c
			if tc.behind {
				w = st
			}
			written, err := w.Update(ctx, key, []byte("v2"), rev)
			if err != nil {
				t.Fatal(err)
			}
			kv, err := c.GetAt(ctx, key, tc.minRev(written))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("GetAt: err %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr == nil && string(kv.Value) != tc.want {
				t.Errorf("GetAt = %q, want %q", kv.Value, tc.want)
			}
			items, listRev, err := c.ListAt(ctx, "/registry/pods/", tc.minRev(written))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("ListAt: err %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				return
			}
			if len(items) != 1 || string(items[0].Value) != tc.want || listRev < written {
				t.Errorf("ListAt = %d items (%v), revision %d; want [%s] at ≥ %d", len(items), items, listRev, tc.want, written)
			}
		})
	}
}

// TestAnyRevisionDoesNotWait: resourceVersion "0" answers from what the
// cache holds, at once.
func TestAnyRevisionDoesNotWait(t *testing.T) {
	c, _ := newCache(t, watchcache.Options{TooLargeWait: 10 * time.Second})
	start := time.Now()
	if _, _, err := c.ListAt(t.Context(), "/registry/pods/", 0); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("ListAt(0) took %s", d)
	}
}

// TestWatchFromOldRevision: a watch resumes from any revision the history
// still holds, and one from before it gets 410 Gone's error, naming the
// oldest revision as Kubernetes' "too old resource version: N (M)".
func TestWatchFromOldRevision(t *testing.T) {
	const history = 4
	c, _ := newCache(t, watchcache.Options{HistorySize: history})
	ctx := t.Context()
	var revs []int64
	for i := range 3 * history {
		rev, err := c.Create(ctx, fmt.Sprintf("/registry/configmaps/ns/k%02d", i), []byte("v"))
		if err != nil {
			t.Fatal(err)
		}
		revs = append(revs, rev)
	}
	// Every event applied: a consistent read waits for it.
	if _, _, err := c.ListAt(ctx, "/registry/", watchcache.Consistent); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		from     int64
		wantGone bool
		wantN    int
	}{
		{name: "the newest revision: nothing to replay", from: revs[len(revs)-1], wantN: 0},
		{name: "two events back", from: revs[len(revs)-3], wantN: 2},
		// Older than the cache's history: the store replays it.
		{name: "before the history", from: revs[0], wantN: len(revs) - 1},
		// Compacted in the store too: 410 Gone.
		{name: "compacted", from: revs[0], wantGone: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.wantGone {
				if err := c.Compact(ctx, revs[2]); err != nil {
					t.Fatal(err)
				}
			}
			wctx, cancel := context.WithCancel(ctx)
			defer cancel()
			ch, err := c.Watch(wctx, "/registry/configmaps/", tc.from)
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantGone {
				ev := <-ch
				if ev.Type != storage.EventError || !errors.Is(ev.Err, storage.ErrCompacted) {
					t.Fatalf("first event = %v %v, want ErrCompacted for %d", ev.Type, ev.Err, tc.from)
				}
				if _, open := <-ch; open {
					t.Error("the channel stays open after the error")
				}
				return
			}
			for i := range tc.wantN {
				select {
				case ev := <-ch:
					if want := revs[len(revs)-tc.wantN+i]; ev.Revision != want || ev.Type != storage.EventCreated {
						t.Fatalf("event %d = %s at %d, want CREATED at %d", i, ev.Type, ev.Revision, want)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("event %d not replayed", i)
				}
			}
			select {
			case ev := <-ch:
				t.Fatalf("unexpected event %s %s at %d", ev.Type, ev.Key, ev.Revision)
			case <-time.After(50 * time.Millisecond):
			}
		})
	}
}

// TestMemoIsSharedPerValue: readers of one value share its Memo (the
// decoded object is computed once); a new value gets a new one.
func TestMemoIsSharedPerValue(t *testing.T) {
	c, _ := newCache(t, watchcache.Options{SoleWriter: true})
	ctx := t.Context()
	const key = "/registry/pods/ns/a"
	rev, err := c.Create(ctx, key, []byte("v1"))
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := c.Watch(wctx, "/registry/pods/", rev-1)
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.GetAt(ctx, key, watchcache.Consistent)
	if err != nil {
		t.Fatal(err)
	}
	items, _, err := c.ListAt(ctx, "/registry/pods/ns/", 0)
	if err != nil {
		t.Fatal(err)
	}
	ev := <-ch
	if a.Memo == nil || items[0].Memo != a.Memo || ev.Memo != a.Memo {
		t.Fatalf("memos: get %p, list %p, watch %p; want one, shared", a.Memo, items[0].Memo, ev.Memo)
	}
	if _, err := c.Update(ctx, key, []byte("v2"), rev); err != nil {
		t.Fatal(err)
	}
	b, err := c.GetAt(ctx, key, watchcache.Consistent)
	if err != nil {
		t.Fatal(err)
	}
	if ev := <-ch; b.Memo == a.Memo || ev.Memo != b.Memo || ev.PrevMemo != a.Memo {
		t.Errorf("after an update: get %p, event %p (prev %p); old %p", b.Memo, ev.Memo, ev.PrevMemo, a.Memo)
	}
}

// TestFanOut: many watchers, one store watch, every event to each.
func TestFanOut(t *testing.T) {
	c, _ := newCache(t, watchcache.Options{SoleWriter: true})
	ctx := t.Context()
	const watchers, events = 50, 20
	chans := make([]<-chan storage.Event, watchers)
	for i := range chans {
		var err error
		if chans[i], err = c.Watch(ctx, "/registry/pods/ns/", 0); err != nil {
			t.Fatal(err)
		}
	}
	for i := range events {
		if _, err := c.Create(ctx, fmt.Sprintf("/registry/pods/ns/p%d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
		// Not this prefix: no watcher sees it.
		if _, err := c.Create(ctx, fmt.Sprintf("/registry/pods/other/p%d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	for w, ch := range chans {
		for i := range events {
			select {
			case ev := <-ch:
				if want := fmt.Sprintf("/registry/pods/ns/p%d", i); ev.Key != want {
					t.Fatalf("watcher %d, event %d: %s, want %s", w, i, ev.Key, want)
				}
			case <-time.After(5 * time.Second):
				t.Fatalf("watcher %d: event %d missing", w, i)
			}
		}
	}
}

// TestWatchShared: the cache's own channel replays history, skips events
// up to a future fromRevision, is closed when its reader falls too far
// behind (the reader then watches again) and when ctx ends.
func TestWatchShared(t *testing.T) {
	c, _ := newCache(t, watchcache.Options{SoleWriter: true})
	ctx := t.Context()
	first, err := c.Create(ctx, "/registry/pods/ns/a", []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	// Replay from before the create, and a watch from a future revision.
	replayed, err := c.WatchShared(ctx, "/registry/pods/ns/", first-1)
	if err != nil {
		t.Fatal(err)
	}
	future, err := c.WatchShared(ctx, "/registry/pods/ns/", first+1)
	if err != nil {
		t.Fatal(err)
	}
	second, _ := c.Create(ctx, "/registry/pods/ns/b", []byte("v"))
	third, _ := c.Create(ctx, "/registry/pods/ns/c", []byte("v"))
	for _, want := range []int64{first, second, third} {
		if ev := <-replayed; ev.Revision != want {
			t.Fatalf("replayed watch: revision %d, want %d", ev.Revision, want)
		}
	}
	if ev := <-future; ev.Revision != third {
		t.Fatalf("watch from revision %d: first event at %d, want %d", first+1, ev.Revision, third)
	}

	// A reader that stops reading is dropped once it is 1024 events behind.
	wctx, cancel := context.WithCancel(ctx)
	stalled, err := c.WatchShared(wctx, "/registry/pods/ns/", 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1100 {
		if _, err := c.Create(ctx, fmt.Sprintf("/registry/pods/ns/x%d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	// A consistent read waits for the cache to have applied every write.
	if _, err := c.GetAt(ctx, "/registry/pods/ns/x1099", watchcache.Consistent); err != nil {
		t.Fatal(err)
	}
	n := 0
	for range stalled {
		n++
	}
	if n != 1024 {
		t.Fatalf("a stalled reader got %d events before its channel closed, want 1024", n)
	}
	cancel()

	// ctx ends: the channel is closed.
	wctx, cancel = context.WithCancel(ctx)
	ch, err := c.WatchShared(wctx, "/registry/pods/ns/", 0)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("an event after ctx ended, none was written")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the channel is still open after ctx ended")
	}
}
