package agent

import (
	"testing"
	"time"
)

// fakeClock is a settable clock for backoff.now.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newFakeClock() *fakeClock               { return &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)} }
func testBackoff(c *fakeClock) *backoff      { b := newBackoff(); b.now = c.now; return b }
func delayOf(b *backoff, key string) (d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.entries[key]; ok {
		d = e.delay
	}
	return d
}

func TestBackoffDoublesToMax(t *testing.T) {
	clk := newFakeClock()
	b := testBackoff(clk)
	const key = "uid_c_hash"
	if in, d := b.inBackoff(key, clk.now()); in || d != 0 {
		t.Fatalf("unknown key: inBackoff = %v, %s; want false, 0", in, d)
	}
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second,
		160 * time.Second, 300 * time.Second, 300 * time.Second, 300 * time.Second}
	for i, w := range want {
		b.next(key)
		if got := delayOf(b, key); got != w {
			t.Fatalf("after %d restarts: delay %s, want %s", i+1, got, w)
		}
		exit := clk.now()
		if in, d := b.inBackoff(key, exit); !in || d != w {
			t.Fatalf("right after an exit: inBackoff = %v, %s; want true, %s", in, d, w)
		}
		clk.advance(w - time.Millisecond)
		if in, _ := b.inBackoff(key, exit); !in {
			t.Fatalf("%s after the exit: not in back-off (delay %s)", w-time.Millisecond, w)
		}
		clk.advance(time.Millisecond)
		if in, _ := b.inBackoff(key, exit); in {
			t.Fatalf("%s after the exit: still in back-off", w)
		}
	}
}

func TestBackoffResetsAfterTenIdleMinutes(t *testing.T) {
	clk := newFakeClock()
	b := testBackoff(clk)
	const key = "k"
	for range 4 {
		b.next(key) // 10, 20, 40, 80
	}
	// Exactly 2×max (10 min) since the last restart: not yet forgotten.
	clk.advance(10 * time.Minute)
	b.next(key)
	if got := delayOf(b, key); got != 160*time.Second {
		t.Fatalf("after exactly 10 min: delay %s, want 160s", got)
	}
	// More than 10 min: starts again from 10 s.
	clk.advance(10*time.Minute + time.Nanosecond)
	b.next(key)
	if got := delayOf(b, key); got != 10*time.Second {
		t.Fatalf("after 10 min idle: delay %s, want 10s", got)
	}
}

// TestBackoffExpiredEntryIsNotInBackoff: the kubelet's
// flowcontrol.Backoff.IsInBackOffSince answers false once the entry has
// expired (more than 2×max since its last update), so a container that
// crash-looped up to 5 min, then ran fine for an hour, is restarted at once
// when it next fails. inBackoff still applies the stale 300 s delay.
func TestBackoffExpiredEntryIsNotInBackoff(t *testing.T) {
	clk := newFakeClock()
	b := testBackoff(clk)
	const key = "k"
	for range 6 {
		b.next(key)
	}
	if got := delayOf(b, key); got != maxBackoff {
		t.Fatalf("delay %s, want %s", got, maxBackoff)
	}
	clk.advance(time.Hour) // the container ran fine for an hour
	if in, d := b.inBackoff(key, clk.now()); in {
		t.Errorf("1 h after the last restart, a new exit is in back-off for %s; want no back-off (the entry expired)", d)
	}
}

func TestBackoffKeysAreIndependentAndForget(t *testing.T) {
	clk := newFakeClock()
	b := testBackoff(clk)
	b.next("uid1_a_h")
	b.next("uid1_a_h")
	b.next("uid1_b_h")
	b.next("uid10_a_h")
	b.next("uid2_a_h")
	if got := delayOf(b, "uid1_a_h"); got != 20*time.Second {
		t.Fatalf("uid1_a_h delay %s, want 20s", got)
	}
	if got := delayOf(b, "uid1_b_h"); got != 10*time.Second {
		t.Fatalf("uid1_b_h delay %s, want 10s", got)
	}
	b.forget("uid1_")
	for key, want := range map[string]time.Duration{"uid1_a_h": 0, "uid1_b_h": 0, "uid10_a_h": 10 * time.Second, "uid2_a_h": 10 * time.Second} {
		if got := delayOf(b, key); got != want {
			t.Errorf("after forget(uid1_): %s delay %s, want %s", key, got, want)
		}
	}
	if in, _ := b.inBackoff("uid1_a_h", clk.now()); in {
		t.Error("a forgotten key is still in back-off")
	}
}

func TestBackoffUpdatedAt(t *testing.T) {
	clk := newFakeClock()
	b := testBackoff(clk)
	if got := b.updatedAt("k"); !got.IsZero() {
		t.Fatalf("updatedAt of an unknown key = %v, want zero", got)
	}
	b.next("k")
	first := clk.now()
	clk.advance(3 * time.Second)
	if got := b.updatedAt("k"); !got.Equal(first) {
		t.Fatalf("updatedAt = %v, want %v", got, first)
	}
	b.next("k")
	if got := b.updatedAt("k"); !got.Equal(clk.now()) {
		t.Fatalf("updatedAt after next = %v, want %v", got, clk.now())
	}
}
