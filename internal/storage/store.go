// Package storage is berth's key-value storage for API objects: an interface
// with an etcd implementation (embedded or external) and an in-memory one for
// unit tests, both held to one conformance suite (storagetest).
//
// Values are opaque bytes (the apiserver stores JSON). Revisions are etcd
// revisions: every write gets a new, strictly increasing store revision and
// that revision becomes the object's resourceVersion.
package storage

import (
	"context"
	"errors"
	"time"
)

// Errors returned by every Store. Callers test them with errors.Is.
var (
	// ErrNotFound: the key does not exist (Get, Update, Delete).
	ErrNotFound = errors.New("storage: key not found")
	// ErrExists: Create on a key that already exists.
	ErrExists = errors.New("storage: key already exists")
	// ErrConflict: the key's current revision is not the expected one.
	ErrConflict = errors.New("storage: revision conflict")
	// ErrCompacted: a watch asked for a revision older than the compacted one.
	ErrCompacted = errors.New("storage: revision compacted")
	// ErrNoSpace: the store is full (etcd's backend quota); nothing can be
	// written until space is freed. Deletes still work.
	ErrNoSpace = errors.New("storage: database space exceeded")
)

// Expiring is implemented by stores whose keys can expire (etcd leases).
// A write through it gives the key a time to live: unless written again,
// the key is deleted (a DELETED event) once ttl has passed. A store may
// keep a key up to a few percent longer than ttl, never shorter.
type Expiring interface {
	CreateWithTTL(ctx context.Context, key string, value []byte, ttl time.Duration) (int64, error)
	UpdateWithTTL(ctx context.Context, key string, value []byte, expectedRevision int64, ttl time.Duration) (int64, error)
}

// KeyValue is one stored value with its last modification revision.
type KeyValue struct {
	Key      string
	Value    []byte
	Revision int64 // mod revision: the revision of the last write to Key
	// Memo, if set, is shared by every reader of this value (a watch
	// cache sets it); see Memo.
	Memo *Memo
}

// EventType says what happened to a key.
type EventType string

const (
	EventCreated  EventType = "CREATED"  // the key did not exist before this revision
	EventModified EventType = "MODIFIED" // the key existed and was overwritten
	EventDeleted  EventType = "DELETED"
	EventError    EventType = "ERROR" // Err is set; the channel closes after it
)

// Event is one change seen by a watch.
type Event struct {
	Type      EventType
	Key       string
	Value     []byte // the new value; for EventDeleted, the value just before deletion
	PrevValue []byte // the value before this change (nil for EventCreated)
	Revision  int64  // the revision of this change
	Err       error  // only for EventError (ErrCompacted, or a transport error)
	// Memo and PrevMemo, if set, are shared by every reader of Value and
	// PrevValue at this event (a watch cache sets them); see Memo.
	Memo, PrevMemo *Memo
}

// Store is the storage contract. All methods are safe for concurrent use.
type Store interface {
	// Get returns the value at key, or ErrNotFound.
	Get(ctx context.Context, key string) (KeyValue, error)
	// List returns every key with the given prefix, sorted by key, and the
	// store revision the list was read at.
	List(ctx context.Context, prefix string) (items []KeyValue, revision int64, err error)
	// Create writes key only if it does not exist (else ErrExists) and
	// returns the new revision.
	Create(ctx context.Context, key string, value []byte) (int64, error)
	// Update overwrites key only if its mod revision equals expectedRevision
	// (ErrConflict otherwise; ErrNotFound if the key is gone) and returns the
	// new revision.
	Update(ctx context.Context, key string, value []byte, expectedRevision int64) (int64, error)
	// Delete removes key. With expectedRevision > 0 it deletes only if the mod
	// revision matches (ErrConflict otherwise). It returns the deleted value
	// and the revision of the deletion.
	Delete(ctx context.Context, key string, expectedRevision int64) (deleted KeyValue, revision int64, err error)
	// Watch streams changes to keys with the prefix, strictly after
	// fromRevision (0 means: from now on). A fromRevision older than the
	// compacted revision yields one EventError carrying ErrCompacted. The
	// channel is closed when ctx ends or after an EventError.
	Watch(ctx context.Context, prefix string, fromRevision int64) (<-chan Event, error)
	// Revision returns the current store revision.
	Revision(ctx context.Context) (int64, error)
	// Compact discards history up to and including revision (for tests and
	// periodic compaction).
	Compact(ctx context.Context, revision int64) error
	// Close releases the store's resources.
	Close() error
}
