package memory

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/berth-dev/berth/internal/storage"
)

const (
	// watchBuffer is the capacity of a watch channel.
	watchBuffer = 100
	// watchBatch bounds how many history entries a watch copies per lock.
	watchBatch = 256
)

// Watch streams changes to keys with the prefix strictly after
// fromRevision (0: from the current revision on). Each watch has its own
// goroutine that reads the history log; writers never wait for it.
func (s *Store) Watch(ctx context.Context, prefix string, fromRevision int64) (<-chan storage.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, errClosed
	}
	if fromRevision <= 0 {
		fromRevision = s.revision
	}
	s.mu.Unlock()

	ch := make(chan storage.Event, watchBuffer)
	w := &watcher{store: s, prefix: prefix, from: fromRevision, after: fromRevision, out: ch}
	go w.run(ctx)
	return ch, nil
}

// watcher is one watch: after is the revision of the last change it has seen.
type watcher struct {
	store  *Store
	prefix string
	from   int64 // as asked, for error messages
	after  int64
	out    chan storage.Event
}

func (w *watcher) run(ctx context.Context) {
	defer close(w.out)
	for {
		events, wake, err := w.next()
		if err != nil {
			select {
			case w.out <- storage.Event{Type: storage.EventError, Err: err}:
			case <-ctx.Done():
			case <-w.store.done:
			}
			return
		}
		for _, ev := range events {
			select {
			case w.out <- ev:
			case <-ctx.Done():
				return
			case <-w.store.done:
				return
			}
		}
		if wake == nil {
			continue // more history may be waiting
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return
		case <-w.store.done:
			return
		}
	}
}

// next copies the matching events after w.after from the history (at most
// watchBatch entries are scanned) and advances w.after. With nothing new, it
// returns a channel closed on the next change; a nil channel means more
// history may be waiting.
func (w *watcher) next() ([]storage.Event, <-chan struct{}, error) {
	s := w.store
	s.mu.Lock()
	defer s.mu.Unlock()
	if w.after < s.compacted {
		return nil, nil, fmt.Errorf("memory: watching %q after revision %d (compacted up to %d): %w",
			w.prefix, w.from, s.compacted, storage.ErrCompacted)
	}
	i := sort.Search(len(s.history), func(i int) bool { return s.history[i].Revision > w.after })
	end := min(i+watchBatch, len(s.history))
	var events []storage.Event
	for _, ev := range s.history[i:end] {
		if strings.HasPrefix(ev.Key, w.prefix) {
			ev.Value, ev.PrevValue = clone(ev.Value), clone(ev.PrevValue)
			events = append(events, ev)
		}
	}
	if end > i {
		w.after = s.history[end-1].Revision
	}
	if end == i {
		return nil, s.changed, nil
	}
	return events, nil, nil
}
