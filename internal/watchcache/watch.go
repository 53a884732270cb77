package watchcache

import (
	"context"
	"errors"
	"strings"

	"github.com/berth-dev/berth/internal/storage"
)

// watcher is one client watch fed by the cache: apply puts each event
// for it straight into live, which is the channel the client reads.
type watcher struct {
	prefix string
	// from: events at or before it are not this watcher's (a watch from
	// a revision the cache has not reached yet).
	from int64
	live chan *storage.Event // closed by the cache when it drops the watcher
}

// dropLocked closes w's live events, which ends its watch.
func (c *Cache) dropLocked(w *watcher) {
	if _, ok := c.watchers[w]; ok {
		delete(c.watchers, w)
		close(w.live)
	}
}

// Watch streams changes to keys with the prefix strictly after
// fromRevision (0: from the newest revision on), replaying the cache's
// history first. A fromRevision older than the history is watched on the
// store, which replays it from its own history or, once compacted, yields
// one EventError wrapping storage.ErrCompacted (Kubernetes: 410 Gone,
// "too old resource version"). A watcher that falls watcherBuffer events behind
// is closed without an error, as kube-apiserver closes one: its client
// watches again from the last revision it saw.
func (c *Cache) Watch(ctx context.Context, prefix string, fromRevision int64) (<-chan storage.Event, error) {
	in, err := c.WatchShared(ctx, prefix, fromRevision)
	if err != nil {
		return nil, err
	}
	out := make(chan storage.Event, 100)
	go func() {
		defer close(out)
		for ev := range in {
			select {
			case out <- *ev:
			case <-ctx.Done():
				return // in is closed when ctx ends
			}
		}
	}()
	return out, nil
}

// WatchShared is Watch without the copy: the events are the cache's own,
// shared by every watcher (never modify them), and the channel is the one
// the cache feeds, with no goroutine between them. It holds at most
// watcherBuffer events beyond the replayed history: a reader that falls
// further behind has its channel closed, and watches again. The channel
// is closed when ctx ends.
func (c *Cache) WatchShared(ctx context.Context, prefix string, fromRevision int64) (<-chan *storage.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(prefix, c.opts.Prefix) {
		in, err := c.store.Watch(ctx, prefix, fromRevision)
		if err != nil {
			return nil, err
		}
		return bounded(ctx, in), nil
	}
	if fromRevision <= 0 {
		rev, err := c.freshRevision(ctx)
		if err != nil {
			return nil, err
		}
		// The cache may be ahead of a sole writer's last write (keys that
		// expired, or the initial list).
		c.mu.RLock()
		fromRevision = max(rev, c.rev)
		c.mu.RUnlock()
	}
	c.mu.Lock()
	if fromRevision < c.floor {
		// Older than the cache's history (a revision from before berth
		// restarted, or one the history has dropped): the store still has
		// it unless compacted, and answers with 410 Gone if it is.
		floor := c.floor
		c.mu.Unlock()
		in, err := c.store.Watch(ctx, prefix, fromRevision)
		if err != nil {
			return nil, err
		}
		return bounded(ctx, compactedFrom(ctx, in, fromRevision, floor)), nil
	}
	var replay []*storage.Event
	for _, ev := range c.history {
		if ev.Revision > fromRevision && strings.HasPrefix(ev.Key, prefix) {
			replay = append(replay, ev)
		}
	}
	w := &watcher{prefix: prefix, from: fromRevision, live: make(chan *storage.Event, len(replay)+watcherBuffer)}
	for _, ev := range replay {
		w.live <- ev
	}
	c.watchers[w] = struct{}{}
	c.mu.Unlock()
	context.AfterFunc(ctx, func() {
		c.mu.Lock()
		c.dropLocked(w)
		c.mu.Unlock()
	})
	return w.live, nil
}

// bounded hands a store's watch on as shared events, closing the channel
// when its reader falls watcherBuffer events behind, as the cache's own
// watchers.
func bounded(ctx context.Context, in <-chan storage.Event) <-chan *storage.Event {
	out := make(chan *storage.Event, watcherBuffer)
	go func() {
		defer close(out)
		for ev := range in {
			select {
			case out <- &ev:
			case <-ctx.Done():
				return // the store closes in once it sees ctx end
			default:
				return // fell behind: the reader watches again
			}
		}
	}()
	return out
}

// compactedFrom forwards a store's watch, giving its ErrCompacted the
// oldest revision the cache can serve, for Kubernetes' message "too old
// resource version: N (M)".
func compactedFrom(ctx context.Context, in <-chan storage.Event, requested, oldest int64) <-chan storage.Event {
	out := make(chan storage.Event, cap(in))
	go func() {
		defer close(out)
		defer func() {
			for range in { // until the store's watch sees ctx end
			}
		}()
		for ev := range in {
			var ce *storage.CompactedError
			if ev.Type == storage.EventError && errors.Is(ev.Err, storage.ErrCompacted) && !errors.As(ev.Err, &ce) {
				ev.Err = &storage.CompactedError{Requested: requested, Oldest: oldest}
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}
