package watchcache

import (
	"context"
	"errors"
	"strings"

	"github.com/berth-dev/berth/internal/storage"
)

// watcher is one client watch fed by the cache.
type watcher struct {
	prefix string
	live   chan *storage.Event // closed by the cache when it drops the watcher
}

// dropLocked closes w's live events; its goroutine then ends the watch.
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
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !strings.HasPrefix(prefix, c.opts.Prefix) {
		return c.store.Watch(ctx, prefix, fromRevision)
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
	out := make(chan storage.Event, 100)
	c.mu.Lock()
	if fromRevision < c.floor {
		// Older than the cache's history (a revision from before berth
		// restarted, or one the history has dropped): the store still has
		// it unless compacted, and answers with 410 Gone if it is.
		floor := c.floor
		c.mu.Unlock()
		close(out)
		in, err := c.store.Watch(ctx, prefix, fromRevision)
		if err != nil {
			return nil, err
		}
		return compactedFrom(ctx, in, fromRevision, floor), nil
	}
	var replay []*storage.Event
	for _, ev := range c.history {
		if ev.Revision > fromRevision && strings.HasPrefix(ev.Key, prefix) {
			replay = append(replay, ev)
		}
	}
	w := &watcher{prefix: prefix, live: make(chan *storage.Event, watcherBuffer)}
	c.watchers[w] = struct{}{}
	c.mu.Unlock()
	go c.serve(ctx, w, replay, fromRevision, out)
	return out, nil
}

// serve sends the replayed events, then the live ones after from, until
// ctx ends or the cache drops the watcher.
func (c *Cache) serve(ctx context.Context, w *watcher, replay []*storage.Event, from int64, out chan<- storage.Event) {
	defer close(out)
	defer func() {
		c.mu.Lock()
		c.dropLocked(w)
		c.mu.Unlock()
	}()
	send := func(ev *storage.Event) bool {
		select {
		case out <- *ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for _, ev := range replay {
		if !send(ev) {
			return
		}
	}
	for {
		select {
		case ev, ok := <-w.live:
			if !ok {
				return
			}
			// A future fromRevision: events up to it are not this watch's.
			if ev.Revision > from && !send(ev) {
				return
			}
		case <-ctx.Done():
			return
		}
	}
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
