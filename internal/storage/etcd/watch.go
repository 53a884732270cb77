package etcd

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/berth-dev/berth/internal/storage"
)

// Watch streams changes to keys with the prefix strictly after
// fromRevision. With fromRevision 0 it first reads the current revision, so
// that every change after Watch returns is seen even though etcd sets the
// watch up asynchronously.
//
// A fromRevision below the compacted revision yields one EventError
// wrapping storage.ErrCompacted. etcd could still replay the change at the
// compacted revision itself, but the storage contract says history up to
// and including it is gone, so a watch from just before it is refused too:
// a range read at fromRevision tells.
func (s *Store) Watch(ctx context.Context, prefix string, fromRevision int64) (<-chan storage.Event, error) {
	if fromRevision <= 0 {
		rev, err := s.Revision(ctx)
		if err != nil {
			return nil, fmt.Errorf("etcd: watching %q: %w", prefix, err)
		}
		fromRevision = rev
	}
	out := make(chan storage.Event, s.watchBuffer)

	// Any key will do: etcd checks the revision against the store's
	// compaction before it looks at keys.
	_, err := s.client.Get(ctx, "\x00", clientv3.WithRev(fromRevision), clientv3.WithCountOnly())
	switch {
	case errors.Is(err, rpctypes.ErrCompacted):
		out <- compactedEvent(prefix, fromRevision)
		close(out)
		return out, nil
	case errors.Is(err, rpctypes.ErrFutureRev):
		// Watching from a revision not written yet is fine.
	case err != nil:
		return nil, fmt.Errorf("etcd: watching %q after revision %d: %w", prefix, fromRevision, err)
	}

	// wctx ends with the caller's ctx or on Close. WithRequireLeader makes
	// the watch fail instead of hang when the cluster loses its leader.
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	stop := context.AfterFunc(s.ctx, cancel)
	wch := s.client.Watch(wctx, prefix, clientv3.WithPrefix(), clientv3.WithPrevKV(),
		clientv3.WithRev(fromRevision+1))
	go func() {
		defer close(out)
		defer stop()
		defer cancel()
		forward(wctx, wch, out, prefix, fromRevision)
	}()
	return out, nil
}

// forward turns etcd watch responses into storage events until ctx ends, the
// etcd channel closes or an error was sent.
func forward(ctx context.Context, wch clientv3.WatchChan, out chan<- storage.Event, prefix string, from int64) {
	send := func(ev storage.Event) bool {
		select {
		case out <- ev:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for {
		var resp clientv3.WatchResponse
		var ok bool
		select {
		case resp, ok = <-wch:
		case <-ctx.Done():
			return
		}
		if !ok {
			if ctx.Err() == nil {
				send(storage.Event{Type: storage.EventError,
					Err: fmt.Errorf("etcd: watching %q: watch channel closed", prefix)})
			}
			return
		}
		if resp.CompactRevision != 0 {
			send(compactedEvent(prefix, from))
			return
		}
		if err := resp.Err(); err != nil {
			if ctx.Err() == nil {
				send(storage.Event{Type: storage.EventError, Err: fmt.Errorf("etcd: watching %q: %w", prefix, err)})
			}
			return
		}
		for _, ev := range resp.Events {
			if !send(convert(ev)) {
				return
			}
		}
	}
}

// convert maps an etcd event: a put is CREATED when it created the key.
func convert(ev *clientv3.Event) storage.Event {
	out := storage.Event{Key: string(ev.Kv.Key), Revision: ev.Kv.ModRevision}
	var prev []byte
	if ev.PrevKv != nil {
		prev = ev.PrevKv.Value
	}
	switch {
	case ev.Type == mvccpb.DELETE:
		out.Type, out.Value, out.PrevValue = storage.EventDeleted, prev, prev
	case ev.IsCreate():
		out.Type, out.Value = storage.EventCreated, ev.Kv.Value
	default:
		out.Type, out.Value, out.PrevValue = storage.EventModified, ev.Kv.Value, prev
	}
	return out
}

func compactedEvent(prefix string, from int64) storage.Event {
	return storage.Event{Type: storage.EventError,
		Err: fmt.Errorf("etcd: watching %q after revision %d: %w", prefix, from, storage.ErrCompacted)}
}
