// Package watchcache is a storage.Store that serves reads and watches from
// memory, as kube-apiserver's watch cache (the "cacher") does: one watch on
// the underlying store feeds a sorted copy of every key under a prefix and a
// window of recent events. Gets and lists are served from that copy at a
// resourceVersion with Kubernetes' semantics (consistent, "any", or "not
// older than N"), every client watch is served from the one store watch,
// and each value carries a storage.Memo so that what readers derive from it
// (the decoded object, its encodings) is computed once for all of them.
// Writes go to the underlying store.
//
// It depends on storage only; it knows nothing of API objects.
package watchcache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/btree"

	"github.com/berth-dev/berth/internal/storage"
)

// Defaults for Options.
const (
	DefaultPrefix      = "/registry/"
	DefaultHistorySize = 4096
	// DefaultFreshWait is how long a consistent read waits for the cache to
	// catch up with the store before it reads the store instead.
	DefaultFreshWait = 200 * time.Millisecond
	// DefaultTooLargeWait is how long a read "not older than N" waits for
	// revision N before it fails, as kube-apiserver's 3 s.
	DefaultTooLargeWait = 3 * time.Second
	// watcherBuffer is how many events a watcher may fall behind the feed
	// before it is closed (its client then watches again from its last
	// resourceVersion, as with kube-apiserver's cacher).
	watcherBuffer = 1024
)

// ErrTooLargeResourceVersion: a read asked for a revision the cache did not
// reach within the wait (kube-apiserver's "Too large resource version").
var ErrTooLargeResourceVersion = errors.New("watchcache: too large resource version")

// TooLargeError is ErrTooLargeResourceVersion with the revisions.
type TooLargeError struct{ Requested, Current int64 }

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("Too large resource version: %d, current: %d", e.Requested, e.Current)
}

// Is makes errors.Is(err, ErrTooLargeResourceVersion) true.
func (e *TooLargeError) Is(target error) bool { return target == ErrTooLargeResourceVersion }

// Options configure a Cache; zero values take the defaults.
type Options struct {
	// Prefix is what the cache holds (default DefaultPrefix). Keep every
	// key the store holds under it, so that the cache's revision follows
	// the store's.
	Prefix string
	// HistorySize is how many recent events are kept for watches that
	// resume from an older revision (default DefaultHistorySize); older
	// ones get storage.ErrCompacted (410 Gone).
	HistorySize int
	// SoleWriter says every write to the store goes through this Cache
	// (berth's embedded etcd, reachable only on a private unix socket): a
	// consistent read then waits for the newest revision this Cache wrote
	// instead of asking the store for its revision. False (an external etcd
	// that others may write to): every consistent read asks the store.
	SoleWriter bool
	// FreshWait and TooLargeWait: see the defaults.
	FreshWait, TooLargeWait time.Duration
	Log                     *slog.Logger
}

// Cache is a storage.Store over another, serving reads and watches from
// memory. All methods are safe for concurrent use.
type Cache struct {
	store storage.Store
	opts  Options

	mu       sync.RWMutex
	tree     *btree.BTreeG[storage.KeyValue]
	rev      int64 // the revision the cache reflects
	floor    int64 // watches may resume after any revision ≥ floor
	history  []*storage.Event
	watchers map[*watcher]struct{}
	advanced chan struct{} // closed (and replaced) whenever rev advances
	healthy  bool          // false while the feed is being re-established

	lastWrite atomic.Int64 // newest revision written through the cache

	cancel context.CancelFunc
	done   chan struct{}
}

var (
	_ storage.Store    = (*Cache)(nil)
	_ storage.Expiring = (*Cache)(nil)
)

func less(a, b storage.KeyValue) bool { return a.Key < b.Key }

// New lists the store under the prefix, starts the feed and returns the
// Cache; Close stops it (and closes the store).
func New(ctx context.Context, store storage.Store, opts Options) (*Cache, error) {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.HistorySize <= 0 {
		opts.HistorySize = DefaultHistorySize
	}
	if opts.FreshWait <= 0 {
		opts.FreshWait = DefaultFreshWait
	}
	if opts.TooLargeWait <= 0 {
		opts.TooLargeWait = DefaultTooLargeWait
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	c := &Cache{store: store, opts: opts, watchers: map[*watcher]struct{}{},
		advanced: make(chan struct{}), done: make(chan struct{})}
	// The feed outlives ctx, which bounds only the first list.
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancel)
	events, err := c.relist(fctx)
	stop()
	if err != nil {
		cancel()
		return nil, err
	}
	c.cancel = cancel
	go c.feed(fctx, events)
	return c, nil
}

// relist replaces the cache's contents with a fresh list and returns the
// store watch that continues it. Watchers of the old contents are closed:
// they resume from their last revision, or get 410 if that is gone.
func (c *Cache) relist(ctx context.Context) (<-chan storage.Event, error) {
	items, rev, err := c.store.List(ctx, c.opts.Prefix)
	if err != nil {
		return nil, fmt.Errorf("watchcache: listing %q: %w", c.opts.Prefix, err)
	}
	tree := btree.NewG(32, less)
	for _, kv := range items {
		kv.Memo = &storage.Memo{}
		tree.ReplaceOrInsert(kv)
	}
	events, err := c.store.Watch(ctx, c.opts.Prefix, rev)
	if err != nil {
		return nil, fmt.Errorf("watchcache: watching %q: %w", c.opts.Prefix, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tree, c.history, c.floor, c.healthy = tree, nil, rev, true
	for w := range c.watchers {
		c.dropLocked(w)
	}
	c.advanceLocked(rev)
	return events, nil
}

// feed applies the store's events until Close; a failed store watch is
// replaced by a fresh list and watch.
func (c *Cache) feed(ctx context.Context, events <-chan storage.Event) {
	defer close(c.done)
	for {
		for ev := range events {
			if ev.Type == storage.EventError {
				c.opts.Log.Warn("watch cache: the store's watch failed; listing again", "err", ev.Err)
				break
			}
			c.apply(ev)
		}
		if ctx.Err() != nil {
			return
		}
		c.mu.Lock()
		c.healthy = false
		c.mu.Unlock()
		for {
			var err error
			if events, err = c.relist(ctx); err == nil {
				break
			}
			c.opts.Log.Warn("watch cache: relisting", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}
}

// apply records one event and hands it to the watchers.
func (c *Cache) apply(ev storage.Event) {
	e := ev
	e.Memo = &storage.Memo{}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.tree.Get(storage.KeyValue{Key: ev.Key}); ok {
		e.PrevMemo = prev.Memo
		// The same bytes as the event's previous value: keep one copy.
		if ev.Type == storage.EventDeleted {
			e.Value, e.PrevValue = prev.Value, prev.Value
		} else if ev.PrevValue != nil {
			e.PrevValue = prev.Value
		}
	}
	switch ev.Type {
	case storage.EventDeleted:
		c.tree.Delete(storage.KeyValue{Key: ev.Key})
	default:
		c.tree.ReplaceOrInsert(storage.KeyValue{Key: ev.Key, Value: ev.Value, Revision: ev.Revision, Memo: e.Memo})
	}
	c.history = append(c.history, &e)
	if n := len(c.history); n > c.opts.HistorySize*2 {
		// Trim in batches: copying once per HistorySize events.
		drop := n - c.opts.HistorySize
		c.floor = c.history[drop-1].Revision
		c.history = append([]*storage.Event(nil), c.history[drop:]...)
	}
	for w := range c.watchers {
		if e.Revision <= w.from || !strings.HasPrefix(e.Key, w.prefix) {
			continue
		}
		select {
		case w.live <- &e:
		default:
			c.opts.Log.Warn("watch cache: closing a watcher that fell behind", "prefix", w.prefix, "buffered", watcherBuffer)
			c.dropLocked(w)
		}
	}
	c.advanceLocked(ev.Revision)
}

func (c *Cache) advanceLocked(rev int64) {
	if rev > c.rev {
		c.rev = rev
	}
	close(c.advanced)
	c.advanced = make(chan struct{})
}

// waitFor waits until the cache reflects rev, for at most d; it reports
// whether it does.
func (c *Cache) waitFor(ctx context.Context, rev int64, d time.Duration) bool {
	var timer *time.Timer
	for {
		c.mu.RLock()
		cur, ch, ok := c.rev, c.advanced, c.healthy
		c.mu.RUnlock()
		if ok && cur >= rev {
			return true
		}
		if timer == nil {
			timer = time.NewTimer(d)
			defer timer.Stop()
		}
		select {
		case <-ch:
		case <-timer.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// freshRevision is the revision a consistent read must see.
func (c *Cache) freshRevision(ctx context.Context) (int64, error) {
	if c.opts.SoleWriter {
		return c.lastWrite.Load(), nil
	}
	return c.store.Revision(ctx)
}

// Consistent, as GetAt's and ListAt's minRev, asks for a consistent read:
// the state as of now (Kubernetes' resourceVersion unset).
const Consistent int64 = -1

// Get returns a copy of the value at key as of now (a consistent read).
func (c *Cache) Get(ctx context.Context, key string) (storage.KeyValue, error) {
	kv, err := c.GetAt(ctx, key, Consistent)
	kv.Value = clone(kv.Value)
	return kv, err
}

// GetAt returns the value at key from a cache state not older than minRev:
// Consistent is a consistent read (from the store when the cache does not
// catch up within FreshWait); 0 is whatever the cache holds now
// (Kubernetes' resourceVersion "0"); N waits up to TooLargeWait for N, then
// fails with a *TooLargeError. The value is shared: never modify it.
func (c *Cache) GetAt(ctx context.Context, key string, minRev int64) (storage.KeyValue, error) {
	if minRev == Consistent {
		rev, err := c.freshRevision(ctx)
		if err != nil {
			return storage.KeyValue{}, err
		}
		if !c.waitFor(ctx, rev, c.opts.FreshWait) {
			return c.store.Get(ctx, key)
		}
	} else if !c.waitFor(ctx, minRev, c.opts.TooLargeWait) {
		return storage.KeyValue{}, c.tooLarge(ctx, minRev)
	}
	kv, _, err := c.get(key)
	return kv, err
}

func (c *Cache) get(key string) (storage.KeyValue, int64, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	kv, ok := c.tree.Get(storage.KeyValue{Key: key})
	if !ok {
		return storage.KeyValue{}, c.rev, fmt.Errorf("watchcache: getting %q: %w", key, storage.ErrNotFound)
	}
	return kv, c.rev, nil
}

// List returns copies of every key with the prefix as of now (a
// consistent read) and the revision it reflects.
func (c *Cache) List(ctx context.Context, prefix string) ([]storage.KeyValue, int64, error) {
	items, rev, err := c.ListAt(ctx, prefix, Consistent)
	for i := range items {
		items[i].Value = clone(items[i].Value)
	}
	return items, rev, err
}

// ListAt returns every key with the prefix from a cache state not older
// than minRev, and the revision of that state; see GetAt. The values are
// shared: never modify them.
func (c *Cache) ListAt(ctx context.Context, prefix string, minRev int64) ([]storage.KeyValue, int64, error) {
	if !strings.HasPrefix(prefix, c.opts.Prefix) {
		return c.store.List(ctx, prefix)
	}
	if minRev == Consistent {
		rev, err := c.freshRevision(ctx)
		if err != nil {
			return nil, 0, err
		}
		if !c.waitFor(ctx, rev, c.opts.FreshWait) {
			return c.store.List(ctx, prefix)
		}
	} else if !c.waitFor(ctx, minRev, c.opts.TooLargeWait) {
		return nil, 0, c.tooLarge(ctx, minRev)
	}
	items, rev := c.list(prefix)
	return items, rev, nil
}

func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

func (c *Cache) list(prefix string) ([]storage.KeyValue, int64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var items []storage.KeyValue
	c.tree.AscendGreaterOrEqual(storage.KeyValue{Key: prefix}, func(kv storage.KeyValue) bool {
		if !strings.HasPrefix(kv.Key, prefix) {
			return false
		}
		items = append(items, kv)
		return true
	})
	return items, c.rev
}

func (c *Cache) tooLarge(ctx context.Context, rev int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return &TooLargeError{Requested: rev, Current: c.rev}
}

// Revision returns the store's current revision.
func (c *Cache) Revision(ctx context.Context) (int64, error) { return c.store.Revision(ctx) }

func (c *Cache) wrote(rev int64, err error) (int64, error) {
	if err == nil {
		for {
			cur := c.lastWrite.Load()
			if rev <= cur || c.lastWrite.CompareAndSwap(cur, rev) {
				break
			}
		}
	}
	return rev, err
}

// Create writes through to the store.
func (c *Cache) Create(ctx context.Context, key string, value []byte) (int64, error) {
	return c.wrote(c.store.Create(ctx, key, value))
}

// Update writes through to the store.
func (c *Cache) Update(ctx context.Context, key string, value []byte, expectedRevision int64) (int64, error) {
	return c.wrote(c.store.Update(ctx, key, value, expectedRevision))
}

// Delete writes through to the store.
func (c *Cache) Delete(ctx context.Context, key string, expectedRevision int64) (storage.KeyValue, int64, error) {
	kv, rev, err := c.store.Delete(ctx, key, expectedRevision)
	_, _ = c.wrote(rev, err)
	return kv, rev, err
}

// CreateWithTTL writes through; a store that cannot expire keys keeps them.
func (c *Cache) CreateWithTTL(ctx context.Context, key string, value []byte, ttl time.Duration) (int64, error) {
	if exp, ok := c.store.(storage.Expiring); ok {
		return c.wrote(exp.CreateWithTTL(ctx, key, value, ttl))
	}
	return c.Create(ctx, key, value)
}

// UpdateWithTTL writes through; a store that cannot expire keys keeps them.
func (c *Cache) UpdateWithTTL(ctx context.Context, key string, value []byte, expectedRevision int64, ttl time.Duration) (int64, error) {
	if exp, ok := c.store.(storage.Expiring); ok {
		return c.wrote(exp.UpdateWithTTL(ctx, key, value, expectedRevision, ttl))
	}
	return c.Update(ctx, key, value, expectedRevision)
}

// Compact compacts the store, and the cache's history with it: watches
// from revision or before then get storage.ErrCompacted.
func (c *Cache) Compact(ctx context.Context, revision int64) error {
	// The feed must be past revision first, or the store would cancel its
	// watch (and the cache would relist and drop every watcher).
	c.waitFor(ctx, revision, c.opts.FreshWait)
	if err := c.store.Compact(ctx, revision); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if revision <= c.floor {
		return nil
	}
	i := 0
	for i < len(c.history) && c.history[i].Revision <= revision {
		i++
	}
	c.history = append([]*storage.Event(nil), c.history[i:]...)
	c.floor = revision
	return nil
}

// Close stops the feed and the watches, and closes the store.
func (c *Cache) Close() error {
	c.cancel()
	err := c.store.Close()
	<-c.done
	c.mu.Lock()
	for w := range c.watchers {
		c.dropLocked(w)
	}
	c.mu.Unlock()
	return err
}
