package storagetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/berth-dev/berth/internal/storage"
)

func testGet(t *testing.T, ctx context.Context, s storage.Store, root string) {
	rev := mustCreate(t, ctx, s, root+"pods/ab", "ab")
	mustCreate(t, ctx, s, root+"gone", "x")
	mustDelete(t, ctx, s, root+"gone")

	tests := []struct {
		name, key, value string
		rev              int64
		err              error
	}{
		{name: "existing key", key: root + "pods/ab", value: "ab", rev: rev},
		{name: "missing key", key: root + "nothing", err: storage.ErrNotFound},
		{name: "prefix of a key", key: root + "pods/a", err: storage.ErrNotFound},
		{name: "key with a trailing slash", key: root + "pods/ab/", err: storage.ErrNotFound},
		{name: "deleted key", key: root + "gone", err: storage.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Get(ctx, tc.key)
			wantErr(t, "Get", err, tc.err)
			if tc.err == nil {
				wantKV(t, got, tc.key, tc.value, tc.rev)
			}
		})
	}
}

func testList(t *testing.T, ctx context.Context, s storage.Store, root string) {
	// Created out of order: List must sort.
	keys := []string{"pods/b/2", "pods/a/1", "pods/ab/1", "pods/a/0", "podsx/a/1", "pods/a"}
	revs := map[string]int64{}
	var last int64
	for _, k := range keys {
		last = mustCreate(t, ctx, s, root+k, "v-"+k)
		revs[root+k] = last
	}
	tests := []struct {
		prefix string
		want   []string
	}{
		{"pods/a/", []string{"pods/a/0", "pods/a/1"}},
		{"pods/ab/", []string{"pods/ab/1"}},
		{"pods/", []string{"pods/a", "pods/a/0", "pods/a/1", "pods/ab/1", "pods/b/2"}},
		{"pods/a", []string{"pods/a", "pods/a/0", "pods/a/1", "pods/ab/1"}},
		{"podsx/", []string{"podsx/a/1"}},
		{"none/", nil},
		{"", []string{"pods/a", "pods/a/0", "pods/a/1", "pods/ab/1", "pods/b/2", "podsx/a/1"}},
	}
	for _, tc := range tests {
		t.Run("prefix="+tc.prefix, func(t *testing.T) {
			items, rev, err := s.List(ctx, root+tc.prefix)
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if rev != last {
				t.Errorf("List revision = %d, want the last write's %d", rev, last)
			}
			var got []string
			for _, kv := range items {
				got = append(got, kv.Key[len(root):])
				wantKV(t, kv, kv.Key, "v-"+kv.Key[len(root):], revs[kv.Key])
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("List(%q) keys = %q, want %q", tc.prefix, got, tc.want)
			}
		})
	}
	if rev := mustRevision(t, ctx, s); rev != last {
		t.Fatalf("Revision = %d, want %d", rev, last)
	}
}

func testCreate(t *testing.T, ctx context.Context, s storage.Store, root string) {
	key := root + "a"
	before := mustRevision(t, ctx, s)
	rev := mustCreate(t, ctx, s, key, "one")
	if rev <= before {
		t.Fatalf("Create revision %d, want > %d", rev, before)
	}
	got, err := s.Get(ctx, key)
	wantErr(t, "Get", err, nil)
	wantKV(t, got, key, "one", rev)

	_, err = s.Create(ctx, key, []byte("two"))
	wantErr(t, "second Create", err, storage.ErrExists)
	got, err = s.Get(ctx, key)
	wantErr(t, "Get", err, nil)
	wantKV(t, got, key, "one", rev)
	if r := mustRevision(t, ctx, s); r != rev {
		t.Fatalf("a failed Create moved the revision from %d to %d", rev, r)
	}

	del := mustDelete(t, ctx, s, key)
	again := mustCreate(t, ctx, s, key, "three")
	if again <= del {
		t.Fatalf("Create after Delete: revision %d, want > %d", again, del)
	}
	got, err = s.Get(ctx, key)
	wantErr(t, "Get", err, nil)
	wantKV(t, got, key, "three", again)
}

func testUpdate(t *testing.T, ctx context.Context, s storage.Store, root string) {
	tests := []struct {
		name     string
		expected func(created, updated int64) int64 // created: the Create's revision; updated: a later Update's
		missing  bool                               // the key is deleted before the Update
		err      error
	}{
		{name: "current revision", expected: func(_, u int64) int64 { return u }},
		{name: "stale revision", expected: func(c, _ int64) int64 { return c }, err: storage.ErrConflict},
		{name: "future revision", expected: func(_, u int64) int64 { return u + 1000 }, err: storage.ErrConflict},
		{name: "zero revision", expected: func(int64, int64) int64 { return 0 }, err: storage.ErrConflict},
		{name: "deleted key", expected: func(_, u int64) int64 { return u }, missing: true, err: storage.ErrNotFound},
		{name: "deleted key, zero revision", expected: func(int64, int64) int64 { return 0 }, missing: true, err: storage.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := root + tc.name
			created := mustCreate(t, ctx, s, key, "v1")
			updated := mustUpdate(t, ctx, s, key, "v2", created)
			if updated <= created {
				t.Fatalf("Update revision %d, want > %d", updated, created)
			}
			if tc.missing {
				mustDelete(t, ctx, s, key)
			}
			before := mustRevision(t, ctx, s)

			rev, err := s.Update(ctx, key, []byte("v3"), tc.expected(created, updated))
			wantErr(t, "Update", err, tc.err)

			got, getErr := s.Get(ctx, key)
			switch {
			case tc.missing:
				wantErr(t, "Get", getErr, storage.ErrNotFound)
			case tc.err != nil:
				wantErr(t, "Get", getErr, nil)
				wantKV(t, got, key, "v2", updated)
			default:
				if rev <= before {
					t.Fatalf("Update revision %d, want > %d", rev, before)
				}
				wantErr(t, "Get", getErr, nil)
				wantKV(t, got, key, "v3", rev)
			}
			if tc.err != nil {
				if r := mustRevision(t, ctx, s); r != before {
					t.Fatalf("a failed Update moved the revision from %d to %d", before, r)
				}
			}
		})
	}
}

func testDelete(t *testing.T, ctx context.Context, s storage.Store, root string) {
	tests := []struct {
		name     string
		expected func(rev int64) int64 // rev: the key's mod revision
		missing  bool
		err      error
	}{
		{name: "unconditional", expected: func(int64) int64 { return 0 }},
		{name: "current revision", expected: func(r int64) int64 { return r }},
		{name: "stale revision", expected: func(r int64) int64 { return r - 1 }, err: storage.ErrConflict},
		{name: "future revision", expected: func(r int64) int64 { return r + 1000 }, err: storage.ErrConflict},
		{name: "missing key, unconditional", expected: func(int64) int64 { return 0 }, missing: true, err: storage.ErrNotFound},
		{name: "missing key, conditional", expected: func(r int64) int64 { return r }, missing: true, err: storage.ErrNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := root + tc.name
			created := mustCreate(t, ctx, s, key, "v1")
			modRev := mustUpdate(t, ctx, s, key, "v2", created)
			if tc.missing {
				mustDelete(t, ctx, s, key)
			}
			before := mustRevision(t, ctx, s)

			deleted, rev, err := s.Delete(ctx, key, tc.expected(modRev))
			wantErr(t, "Delete", err, tc.err)

			got, getErr := s.Get(ctx, key)
			switch {
			case tc.missing:
				wantErr(t, "Get", getErr, storage.ErrNotFound)
			case tc.err != nil:
				wantErr(t, "Get", getErr, nil)
				wantKV(t, got, key, "v2", modRev)
			default:
				wantErr(t, "Get", getErr, storage.ErrNotFound)
				wantKV(t, deleted, key, "v2", modRev)
				if rev <= before {
					t.Fatalf("Delete revision %d, want > %d", rev, before)
				}
				if r := mustRevision(t, ctx, s); r != rev {
					t.Fatalf("Revision after Delete = %d, want the deletion's %d", r, rev)
				}
			}
			if tc.err != nil {
				if r := mustRevision(t, ctx, s); r != before {
					t.Fatalf("a failed Delete moved the revision from %d to %d", before, r)
				}
			}
		})
	}
}

// testRevisions: every write gets a new, strictly increasing revision, equal
// to the store revision right after it and to the mod revision read back.
func testRevisions(t *testing.T, ctx context.Context, s storage.Store, root string) {
	a, b := root+"a", root+"b"
	prev := mustRevision(t, ctx, s)
	var aRev, bRev int64
	steps := []struct {
		name  string
		write func() int64
		key   string // read back unless empty
		value string
	}{
		{"create a", func() int64 { aRev = mustCreate(t, ctx, s, a, "a1"); return aRev }, a, "a1"},
		{"create b", func() int64 { bRev = mustCreate(t, ctx, s, b, "b1"); return bRev }, b, "b1"},
		{"update a", func() int64 { aRev = mustUpdate(t, ctx, s, a, "a2", aRev); return aRev }, a, "a2"},
		{"delete b", func() int64 { return mustDelete(t, ctx, s, b) }, "", ""},
		{"create b again", func() int64 { bRev = mustCreate(t, ctx, s, b, "b2"); return bRev }, b, "b2"},
		{"update b", func() int64 { bRev = mustUpdate(t, ctx, s, b, "b3", bRev); return bRev }, b, "b3"},
		{"delete a", func() int64 { return mustDelete(t, ctx, s, a) }, "", ""},
	}
	for _, step := range steps {
		rev := step.write()
		if rev <= prev {
			t.Fatalf("%s: revision %d, want > %d", step.name, rev, prev)
		}
		if r := mustRevision(t, ctx, s); r != rev {
			t.Fatalf("%s: Revision = %d, want %d", step.name, r, rev)
		}
		if step.key != "" {
			got, err := s.Get(ctx, step.key)
			wantErr(t, step.name+": Get", err, nil)
			wantKV(t, got, step.key, step.value, rev)
		}
		prev = rev
	}
}

// testValuesAreCopied: neither the caller's slice nor a returned one is
// shared with the store.
func testValuesAreCopied(t *testing.T, ctx context.Context, s storage.Store, root string) {
	key := root + "a"
	in := []byte("value")
	rev, err := s.Create(ctx, key, in)
	wantErr(t, "Create", err, nil)
	in[0] = 'X'
	got, err := s.Get(ctx, key)
	wantErr(t, "Get", err, nil)
	wantKV(t, got, key, "value", rev)
	got.Value[0] = 'Y'
	items, _, err := s.List(ctx, root)
	wantErr(t, "List", err, nil)
	if len(items) != 1 {
		t.Fatalf("List: %d items, want 1", len(items))
	}
	wantKV(t, items[0], key, "value", rev)
	items[0].Value[0] = 'Z'
	got, err = s.Get(ctx, key)
	wantErr(t, "Get", err, nil)
	wantKV(t, got, key, "value", rev)
}

const writers = 8

// testConcurrentUpdates: of several Updates with the same expected revision,
// exactly one wins.
func testConcurrentUpdates(t *testing.T, ctx context.Context, s storage.Store, root string) {
	key := root + "a"
	created := mustCreate(t, ctx, s, key, "start")
	revs, errs := race(func(i int) (int64, error) {
		return s.Update(ctx, key, fmt.Appendf(nil, "writer-%d", i), created)
	})
	winner := checkOneWinner(t, errs, storage.ErrConflict)
	got, err := s.Get(ctx, key)
	wantErr(t, "Get", err, nil)
	wantKV(t, got, key, fmt.Sprintf("writer-%d", winner), revs[winner])
}

// testConcurrentCreates: of several Creates of one key, exactly one wins.
func testConcurrentCreates(t *testing.T, ctx context.Context, s storage.Store, root string) {
	key := root + "a"
	revs, errs := race(func(i int) (int64, error) {
		return s.Create(ctx, key, fmt.Appendf(nil, "writer-%d", i))
	})
	winner := checkOneWinner(t, errs, storage.ErrExists)
	got, err := s.Get(ctx, key)
	wantErr(t, "Get", err, nil)
	wantKV(t, got, key, fmt.Sprintf("writer-%d", winner), revs[winner])
}

// race runs write from several goroutines released at once.
func race(write func(i int) (int64, error)) ([]int64, []error) {
	revs, errs := make([]int64, writers), make([]error, writers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range writers {
		wg.Go(func() {
			<-start
			revs[i], errs[i] = write(i)
		})
	}
	close(start)
	wg.Wait()
	return revs, errs
}

// checkOneWinner fails unless exactly one error is nil and all others are
// loser; it returns the winner's index.
func checkOneWinner(t *testing.T, errs []error, loser error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("writers %d and %d both won", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, loser):
			t.Fatalf("writer %d: got %v, want %v", i, err, loser)
		}
	}
	if winner < 0 {
		t.Fatalf("no writer won")
	}
	return winner
}

func testCompact(t *testing.T, ctx context.Context, s storage.Store, root string) {
	key := root + "a"
	created := mustCreate(t, ctx, s, key, "v1")
	updated := mustUpdate(t, ctx, s, key, "v2", created)

	wantErr(t, "Compact(current)", s.Compact(ctx, updated), nil)
	wantErr(t, "Compact(already compacted)", s.Compact(ctx, created), nil)
	if err := s.Compact(ctx, updated+1000); err == nil {
		t.Fatalf("Compact(%d) beyond the current revision %d: no error", updated+1000, updated)
	}
	// Compaction drops history, not data.
	got, err := s.Get(ctx, key)
	wantErr(t, "Get", err, nil)
	wantKV(t, got, key, "v2", updated)
	if r := mustRevision(t, ctx, s); r != updated {
		t.Fatalf("Revision after Compact = %d, want %d", r, updated)
	}
	rev := mustUpdate(t, ctx, s, key, "v3", updated)
	if rev <= updated {
		t.Fatalf("Update after Compact: revision %d, want > %d", rev, updated)
	}
}
