// Package etcd is berth's storage.Store over etcd: an embedded server under
// the data dir (StartEmbedded), or an external cluster (Dial). Keys are
// stored as they are given; revisions are etcd revisions, so an object's
// resourceVersion is its etcd mod revision.
package etcd

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/berth-dev/berth/internal/storage"
)

// Store is a storage.Store over an etcd client. All methods are safe for
// concurrent use.
type Store struct {
	client      *clientv3.Client
	ownsClient  bool
	watchBuffer int

	// ctx ends every watch on Close.
	ctx       context.Context
	cancel    context.CancelFunc
	closeOnce sync.Once
	closeErr  error

	leaseMu sync.Mutex
	leases  map[time.Duration]grantedLease // by TTL asked for
}

// grantedLease is a lease shared by keys written within a short window,
// as kube-apiserver's lease manager does: one lease per write would put
// thousands of leases in etcd for a busy event stream.
type grantedLease struct {
	id      clientv3.LeaseID
	granted time.Time
}

// leaseReuseFraction of a TTL is how long one lease is shared; the lease
// lasts that much longer than the TTL, so no key expires early (5%, as
// kube-apiserver).
const leaseReuseFraction = 0.05

var (
	_ storage.Store    = (*Store)(nil)
	_ storage.Expiring = (*Store)(nil)
)

// Option configures a Store.
type Option func(*Store)

// OwnClient makes Close close the client too (by default the caller keeps
// the client and closes it).
func OwnClient() Option {
	return func(s *Store) { s.ownsClient = true }
}

// WatchBuffer sets the capacity of watch channels (default 100). The etcd
// client buffers further events, so a slow reader does not stall writers.
func WatchBuffer(n int) Option {
	return func(s *Store) {
		if n >= 0 {
			s.watchBuffer = n
		}
	}
}

// New returns a Store over client.
func New(client *clientv3.Client, opts ...Option) *Store {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Store{client: client, watchBuffer: 100, ctx: ctx, cancel: cancel, leases: map[time.Duration]grantedLease{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Get returns the value at key, or storage.ErrNotFound. Reads are
// linearizable.
func (s *Store) Get(ctx context.Context, key string) (storage.KeyValue, error) {
	resp, err := s.client.Get(ctx, key)
	if err != nil {
		return storage.KeyValue{}, fmt.Errorf("etcd: getting %q: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return storage.KeyValue{}, fmt.Errorf("etcd: getting %q: %w", key, storage.ErrNotFound)
	}
	kv := resp.Kvs[0]
	return storage.KeyValue{Key: key, Value: kv.Value, Revision: kv.ModRevision}, nil
}

// List returns every key with the prefix, sorted by key, in one range
// request, and the revision it was read at.
func (s *Store) List(ctx context.Context, prefix string) ([]storage.KeyValue, int64, error) {
	resp, err := s.client.Get(ctx, prefix, clientv3.WithPrefix(),
		clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, 0, fmt.Errorf("etcd: listing %q: %w", prefix, err)
	}
	items := make([]storage.KeyValue, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		items = append(items, storage.KeyValue{Key: string(kv.Key), Value: kv.Value, Revision: kv.ModRevision})
	}
	return items, resp.Header.Revision, nil
}

// Create writes key only if it does not exist (else storage.ErrExists).
func (s *Store) Create(ctx context.Context, key string, value []byte) (int64, error) {
	return s.CreateWithTTL(ctx, key, value, 0)
}

// CreateWithTTL is Create with a lease of at least ttl (0: none).
func (s *Store) CreateWithTTL(ctx context.Context, key string, value []byte, ttl time.Duration) (int64, error) {
	put, err := s.opPut(ctx, key, value, ttl)
	if err != nil {
		return 0, fmt.Errorf("etcd: creating %q: %w", key, err)
	}
	resp, err := s.client.Txn(ctx).
		If(clientv3.Compare(clientv3.CreateRevision(key), "=", 0)).
		Then(put).
		Commit()
	if err != nil {
		return 0, fmt.Errorf("etcd: creating %q: %w", key, mapErr(err))
	}
	if !resp.Succeeded {
		return 0, fmt.Errorf("etcd: creating %q: %w", key, storage.ErrExists)
	}
	return resp.Header.Revision, nil
}

// Update overwrites key only if its mod revision equals expectedRevision.
func (s *Store) Update(ctx context.Context, key string, value []byte, expectedRevision int64) (int64, error) {
	return s.UpdateWithTTL(ctx, key, value, expectedRevision, 0)
}

// UpdateWithTTL is Update with a new lease of at least ttl (0: none).
func (s *Store) UpdateWithTTL(ctx context.Context, key string, value []byte, expectedRevision int64, ttl time.Duration) (int64, error) {
	put, err := s.opPut(ctx, key, value, ttl)
	if err != nil {
		return 0, fmt.Errorf("etcd: updating %q: %w", key, err)
	}
	resp, err := s.client.Txn(ctx).
		If(exists(key), clientv3.Compare(clientv3.ModRevision(key), "=", expectedRevision)).
		Then(put).
		Else(clientv3.OpGet(key, clientv3.WithKeysOnly())).
		Commit()
	if err != nil {
		return 0, fmt.Errorf("etcd: updating %q: %w", key, mapErr(err))
	}
	if !resp.Succeeded {
		return 0, fmt.Errorf("etcd: updating %q at revision %d: %w", key, expectedRevision, failure(resp))
	}
	return resp.Header.Revision, nil
}

// Delete removes key; with expectedRevision > 0 only if its mod revision
// matches. It returns the deleted value and the revision of the deletion.
func (s *Store) Delete(ctx context.Context, key string, expectedRevision int64) (storage.KeyValue, int64, error) {
	cmps := []clientv3.Cmp{exists(key)}
	if expectedRevision > 0 {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(key), "=", expectedRevision))
	}
	resp, err := s.client.Txn(ctx).
		If(cmps...).
		Then(clientv3.OpDelete(key, clientv3.WithPrevKV())).
		Else(clientv3.OpGet(key, clientv3.WithKeysOnly())).
		Commit()
	if err != nil {
		return storage.KeyValue{}, 0, fmt.Errorf("etcd: deleting %q: %w", key, mapErr(err))
	}
	if !resp.Succeeded {
		return storage.KeyValue{}, 0, fmt.Errorf("etcd: deleting %q at revision %d: %w", key, expectedRevision, failure(resp))
	}
	del := resp.Responses[0].GetResponseDeleteRange()
	if del == nil || len(del.PrevKvs) == 0 {
		// Cannot happen: the key existed within the same transaction.
		return storage.KeyValue{}, 0, fmt.Errorf("etcd: deleting %q: no previous value in the response", key)
	}
	prev := del.PrevKvs[0]
	return storage.KeyValue{Key: key, Value: prev.Value, Revision: prev.ModRevision}, resp.Header.Revision, nil
}

// Revision returns the current store revision (a linearizable read).
func (s *Store) Revision(ctx context.Context) (int64, error) {
	resp, err := s.client.Get(ctx, "\x00", clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("etcd: reading the revision: %w", err)
	}
	return resp.Header.Revision, nil
}

// Compact discards history before revision. Compacting an already compacted
// revision is not an error. etcd keeps the change at revision itself, but
// Watch reports it compacted too, as the storage contract says.
func (s *Store) Compact(ctx context.Context, revision int64) error {
	_, err := s.client.Compact(ctx, revision)
	if err != nil && !errors.Is(err, rpctypes.ErrCompacted) {
		return fmt.Errorf("etcd: compacting to revision %d: %w", revision, err)
	}
	return nil
}

// Close ends the store's watches and, with OwnClient, closes the client.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		if s.ownsClient {
			s.closeErr = closeClient(s.client)
		}
	})
	return s.closeErr
}

// opPut is the put of key, attached to a lease of at least ttl if ttl > 0.
func (s *Store) opPut(ctx context.Context, key string, value []byte, ttl time.Duration) (clientv3.Op, error) {
	if ttl <= 0 {
		return clientv3.OpPut(key, string(value)), nil
	}
	id, err := s.lease(ctx, ttl)
	if err != nil {
		return clientv3.Op{}, err
	}
	return clientv3.OpPut(key, string(value), clientv3.WithLease(id)), nil
}

// lease returns a lease that lives at least ttl from now, shared by the
// writes of a window of leaseReuseFraction×ttl.
func (s *Store) lease(ctx context.Context, ttl time.Duration) (clientv3.LeaseID, error) {
	reuse := time.Duration(float64(ttl) * leaseReuseFraction)
	s.leaseMu.Lock()
	defer s.leaseMu.Unlock()
	if l, ok := s.leases[ttl]; ok && time.Since(l.granted) < reuse {
		return l.id, nil
	}
	secs := int64(math.Ceil((ttl + reuse).Seconds()))
	now := time.Now()
	resp, err := s.client.Grant(ctx, secs)
	if err != nil {
		return 0, fmt.Errorf("granting a %ds lease: %w", secs, mapErr(err))
	}
	s.leases[ttl] = grantedLease{id: resp.ID, granted: now}
	return resp.ID, nil
}

// mapErr turns etcd's "database space exceeded" into storage.ErrNoSpace,
// with what to do about it.
func mapErr(err error) error {
	if errors.Is(err, rpctypes.ErrGRPCNoSpace) || errors.Is(err, rpctypes.ErrNoSpace) ||
		strings.Contains(err.Error(), "database space exceeded") {
		return fmt.Errorf("%w: etcd's database reached its quota and refuses writes until space is freed; "+
			"delete objects that are no longer needed (an embedded etcd is then compacted and defragmented, "+
			"and writes resume): %v", storage.ErrNoSpace, err)
	}
	return err
}

// exists compares true when key exists.
func exists(key string) clientv3.Cmp {
	return clientv3.Compare(clientv3.CreateRevision(key), ">", 0)
}

// failure tells why a conditional write failed from its Else get: the key
// is gone, or it has another revision.
func failure(resp *clientv3.TxnResponse) error {
	if len(resp.Responses) > 0 {
		if r := resp.Responses[0].GetResponseRange(); r != nil && len(r.Kvs) > 0 {
			return fmt.Errorf("%w (current revision %d)", storage.ErrConflict, r.Kvs[0].ModRevision)
		}
	}
	return storage.ErrNotFound
}

// closeClient closes c; a cancelled context is how a clean close ends.
func closeClient(c *clientv3.Client) error {
	if err := c.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("etcd: closing the client: %w", err)
	}
	return nil
}
