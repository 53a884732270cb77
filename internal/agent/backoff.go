package agent

import (
	"sync"
	"time"
)

// Crash-loop back-off, as the kubelet: 10 s doubling to 5 min, forgotten
// after 10 min without a failure.
const (
	initialBackoff = 10 * time.Second
	maxBackoff     = 300 * time.Second
)

type backoffEntry struct {
	delay   time.Duration
	updated time.Time
}

type backoff struct {
	mu      sync.Mutex
	entries map[string]*backoffEntry
	now     func() time.Time
}

func newBackoff() *backoff {
	return &backoff{entries: map[string]*backoffEntry{}, now: time.Now}
}

// inBackoff reports whether key must still wait, measured from the
// reference time (the last exit), and the current delay.
func (b *backoff) inBackoff(key string, since time.Time) (bool, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.entries[key]
	if !ok || b.now().Sub(e.updated) > 2*maxBackoff {
		return false, 0
	}
	return b.now().Sub(since) < e.delay, e.delay
}

// next records a restart: the delay doubles, up to the maximum.
func (b *backoff) next(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	e, ok := b.entries[key]
	if !ok || now.Sub(e.updated) > 2*maxBackoff {
		b.entries[key] = &backoffEntry{delay: initialBackoff, updated: now}
		return
	}
	e.delay *= 2
	if e.delay > maxBackoff {
		e.delay = maxBackoff
	}
	e.updated = now
}

// forget drops the keys with the given prefix (a deleted pod).
func (b *backoff) forget(prefix string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := range b.entries {
		if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
			delete(b.entries, k)
		}
	}
}
