// Package memory is an in-memory storage.Store for unit tests. It keeps a
// history log of every write so that watches can replay from a revision, the
// way etcd does; Compact drops that history. It is held to the same
// conformance suite (storagetest) as the etcd store.
package memory

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/storage"
)

// errClosed is returned by every method after Close.
var errClosed = errors.New("memory: store closed")

// record is the current state of one key.
type record struct {
	value    []byte
	revision int64       // mod revision
	expiry   *time.Timer // deletes the key when its TTL ends (nil: no TTL)
}

// Store is an in-memory storage.Store. The zero value is not usable: call New.
// All methods are safe for concurrent use. Writers never wait for watchers:
// each watch reads the history log at its own pace, and a watch that falls
// behind a Compact gets an EventError carrying storage.ErrCompacted.
type Store struct {
	mu        sync.Mutex
	revision  int64 // current store revision
	compacted int64 // history up to and including this revision is gone
	data      map[string]record
	history   []storage.Event // one event per revision > compacted, in order
	changed   chan struct{}   // closed and replaced on every write or compaction
	done      chan struct{}   // closed by Close
	closed    bool
}

var (
	_ storage.Store    = (*Store)(nil)
	_ storage.Expiring = (*Store)(nil)
)

// New returns an empty store. Like a fresh etcd, its revision starts at 1.
func New() *Store {
	return &Store{
		revision: 1,
		data:     make(map[string]record),
		changed:  make(chan struct{}),
		done:     make(chan struct{}),
	}
}

// Get returns the value at key, or storage.ErrNotFound.
func (s *Store) Get(ctx context.Context, key string) (storage.KeyValue, error) {
	if err := ctx.Err(); err != nil {
		return storage.KeyValue{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return storage.KeyValue{}, errClosed
	}
	r, ok := s.data[key]
	if !ok {
		return storage.KeyValue{}, fmt.Errorf("memory: getting %q: %w", key, storage.ErrNotFound)
	}
	return storage.KeyValue{Key: key, Value: clone(r.value), Revision: r.revision}, nil
}

// List returns every key with the prefix, sorted by key, and the store
// revision the list was read at.
func (s *Store) List(ctx context.Context, prefix string) ([]storage.KeyValue, int64, error) {
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, 0, errClosed
	}
	var items []storage.KeyValue
	for k, r := range s.data {
		if strings.HasPrefix(k, prefix) {
			items = append(items, storage.KeyValue{Key: k, Value: clone(r.value), Revision: r.revision})
		}
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Key < items[j].Key })
	return items, s.revision, nil
}

// Create writes key only if it does not exist (else storage.ErrExists).
func (s *Store) Create(ctx context.Context, key string, value []byte) (int64, error) {
	return s.CreateWithTTL(ctx, key, value, 0)
}

// CreateWithTTL is Create of a key deleted after ttl (0: never).
func (s *Store) CreateWithTTL(ctx context.Context, key string, value []byte, ttl time.Duration) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, errClosed
	}
	if _, ok := s.data[key]; ok {
		return 0, fmt.Errorf("memory: creating %q: %w", key, storage.ErrExists)
	}
	return s.put(key, value, ttl), nil
}

// Update overwrites key only if its mod revision equals expectedRevision.
func (s *Store) Update(ctx context.Context, key string, value []byte, expectedRevision int64) (int64, error) {
	return s.UpdateWithTTL(ctx, key, value, expectedRevision, 0)
}

// UpdateWithTTL is Update that gives the key a new time to live (0: none).
func (s *Store) UpdateWithTTL(ctx context.Context, key string, value []byte, expectedRevision int64, ttl time.Duration) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, errClosed
	}
	r, ok := s.data[key]
	if !ok {
		return 0, fmt.Errorf("memory: updating %q: %w", key, storage.ErrNotFound)
	}
	if r.revision != expectedRevision {
		return 0, fmt.Errorf("memory: updating %q at revision %d (current %d): %w",
			key, expectedRevision, r.revision, storage.ErrConflict)
	}
	return s.put(key, value, ttl), nil
}

// Delete removes key; with expectedRevision > 0 only if its mod revision
// matches. It returns the deleted value and the revision of the deletion.
func (s *Store) Delete(ctx context.Context, key string, expectedRevision int64) (storage.KeyValue, int64, error) {
	if err := ctx.Err(); err != nil {
		return storage.KeyValue{}, 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return storage.KeyValue{}, 0, errClosed
	}
	r, ok := s.data[key]
	if !ok {
		return storage.KeyValue{}, 0, fmt.Errorf("memory: deleting %q: %w", key, storage.ErrNotFound)
	}
	if expectedRevision > 0 && r.revision != expectedRevision {
		return storage.KeyValue{}, 0, fmt.Errorf("memory: deleting %q at revision %d (current %d): %w",
			key, expectedRevision, r.revision, storage.ErrConflict)
	}
	s.remove(key, r)
	return storage.KeyValue{Key: key, Value: clone(r.value), Revision: r.revision}, s.revision, nil
}

// remove deletes key and records the event. s.mu must be held.
func (s *Store) remove(key string, r record) {
	if r.expiry != nil {
		r.expiry.Stop()
	}
	delete(s.data, key)
	s.revision++
	s.record(storage.Event{
		Type: storage.EventDeleted, Key: key, Value: r.value, PrevValue: r.value, Revision: s.revision,
	})
}

// expire deletes key if it is still at rev when its TTL ends.
func (s *Store) expire(key string, rev int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r, ok := s.data[key]; ok && !s.closed && r.revision == rev {
		s.remove(key, r)
	}
}

// Revision returns the current store revision.
func (s *Store) Revision(ctx context.Context) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, errClosed
	}
	return s.revision, nil
}

// Compact discards history up to and including revision. Compacting an
// already compacted revision does nothing; a future revision is an error.
func (s *Store) Compact(ctx context.Context, revision int64) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	if revision > s.revision {
		return fmt.Errorf("memory: compacting to revision %d: beyond current revision %d", revision, s.revision)
	}
	if revision <= s.compacted {
		return nil
	}
	s.compacted = revision
	i := sort.Search(len(s.history), func(i int) bool { return s.history[i].Revision > revision })
	s.history = append([]storage.Event(nil), s.history[i:]...)
	s.broadcast()
	return nil
}

// Close ends every watch; later calls fail.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.done)
	}
	return nil
}

// put writes key at a new revision, with a TTL if ttl > 0 (a write
// without one clears it, as an etcd put without a lease), and records the
// event. s.mu must be held.
func (s *Store) put(key string, value []byte, ttl time.Duration) int64 {
	prev, existed := s.data[key]
	if existed && prev.expiry != nil {
		prev.expiry.Stop()
	}
	s.revision++
	v := clone(value)
	rec := record{value: v, revision: s.revision}
	if ttl > 0 {
		rev := s.revision
		rec.expiry = time.AfterFunc(ttl, func() { s.expire(key, rev) })
	}
	s.data[key] = rec
	ev := storage.Event{Type: storage.EventCreated, Key: key, Value: v, Revision: s.revision}
	if existed {
		ev.Type, ev.PrevValue = storage.EventModified, prev.value
	}
	s.record(ev)
	return s.revision
}

// record appends ev to the history and wakes the watches. s.mu must be held.
func (s *Store) record(ev storage.Event) {
	s.history = append(s.history, ev)
	s.broadcast()
}

// broadcast wakes every watch. s.mu must be held.
func (s *Store) broadcast() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// clone copies b so that callers never share memory with the store; nil
// stays nil and an empty value stays empty.
func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}
