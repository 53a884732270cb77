package watchcache

import (
	"context"
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
// history first. A fromRevision older than the history yields one
// EventError carrying a *storage.CompactedError (Kubernetes: 410 Gone, "too
// old resource version"). A watcher that falls watcherBuffer events behind
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
		floor := c.floor
		c.mu.Unlock()
		out <- storage.Event{Type: storage.EventError, Err: &storage.CompactedError{Requested: fromRevision, Oldest: floor}}
		close(out)
		return out, nil
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
