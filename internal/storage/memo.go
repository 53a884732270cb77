package storage

import (
	"fmt"
	"sync"
)

// Memo holds what readers derive from one stored value (the decoded
// object, its encodings), computed once and shared by every reader of that
// value: a watch cache hands the same Memo to every list, get and watcher
// that sees the value. A nil *Memo computes every time, so stores without a
// cache need nothing. Values in a Memo are shared: never modify them.
type Memo struct {
	mu sync.Mutex
	m  map[any]*memoEntry
}

type memoEntry struct {
	done chan struct{}
	val  any
	err  error
}

// Get returns the value for key, computing it with compute the first time;
// concurrent callers for the same key wait for that one computation.
func (m *Memo) Get(key any, compute func() (any, error)) (any, error) {
	if m == nil {
		return compute()
	}
	m.mu.Lock()
	if m.m == nil {
		m.m = map[any]*memoEntry{}
	}
	if e, ok := m.m[key]; ok {
		m.mu.Unlock()
		<-e.done
		return e.val, e.err
	}
	e := &memoEntry{done: make(chan struct{})}
	m.m[key] = e
	m.mu.Unlock()
	func() {
		defer close(e.done)
		defer func() {
			if r := recover(); r != nil {
				e.err = fmt.Errorf("computing a memoized value: panic: %v", r)
			}
		}()
		e.val, e.err = compute()
	}()
	return e.val, e.err
}

// CompactedError is the ErrCompacted of a store that knows the oldest
// revision it can still watch from, for Kubernetes' "too old resource
// version: N (M)" message.
type CompactedError struct {
	Requested int64 // the revision the watch asked to start after
	Oldest    int64 // the oldest revision a watch may start after
}

func (e *CompactedError) Error() string {
	return fmt.Sprintf("watching after revision %d: %v (the oldest revision kept is %d)", e.Requested, ErrCompacted, e.Oldest)
}

// Is makes errors.Is(err, ErrCompacted) true.
func (e *CompactedError) Is(target error) bool { return target == ErrCompacted }
