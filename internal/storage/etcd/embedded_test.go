package etcd_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/berth-dev/berth/internal/storage"
	"github.com/berth-dev/berth/internal/storage/etcd"
)

// history is what writeHistory wrote: each key's final value and mod
// revision, and the store revision at the end.
type history struct {
	first    int64 // the revision before the first write
	values   map[string]string
	revs     map[string]int64
	deleted  string
	revision int64
}

// writeHistory creates, updates and deletes a few keys.
func writeHistory(ctx context.Context, s storage.Store) (history, error) {
	h := history{values: map[string]string{}, revs: map[string]int64{}, deleted: "/registry/pods/default/gone"}
	var err error
	if h.first, err = s.Revision(ctx); err != nil {
		return h, err
	}
	for i := range 3 {
		key := fmt.Sprintf("/registry/pods/default/p%d", i)
		rev, err := s.Create(ctx, key, []byte("v1"))
		if err != nil {
			return h, err
		}
		if rev, err = s.Update(ctx, key, []byte(fmt.Sprintf("v2-%d", i)), rev); err != nil {
			return h, err
		}
		h.values[key], h.revs[key] = fmt.Sprintf("v2-%d", i), rev
	}
	if _, err := s.Create(ctx, h.deleted, []byte("x")); err != nil {
		return h, err
	}
	if _, h.revision, err = s.Delete(ctx, h.deleted, 0); err != nil {
		return h, err
	}
	return h, nil
}

// checkHistory fails unless s holds what writeHistory wrote, history
// included.
func checkHistory(t *testing.T, s storage.Store, h history) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if rev, err := s.Revision(ctx); err != nil || rev != h.revision {
		t.Fatalf("Revision = %d, %v; want %d", rev, err, h.revision)
	}
	for key, value := range h.values {
		kv, err := s.Get(ctx, key)
		if err != nil {
			t.Fatalf("Get(%q): %v", key, err)
		}
		if string(kv.Value) != value || kv.Revision != h.revs[key] {
			t.Fatalf("Get(%q) = %q at %d, want %q at %d", key, kv.Value, kv.Revision, value, h.revs[key])
		}
	}
	if _, err := s.Get(ctx, h.deleted); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get(%q) = %v, want ErrNotFound", h.deleted, err)
	}
	// The history survives too: a watch replays every change.
	ch, err := s.Watch(ctx, "/registry/", h.first)
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	for want := h.first + 1; want <= h.revision; want++ {
		select {
		case ev := <-ch:
			if ev.Type == storage.EventError || ev.Revision != want {
				t.Fatalf("replayed event %s %s at %d (err %v), want revision %d", ev.Type, ev.Key, ev.Revision, ev.Err, want)
			}
		case <-ctx.Done():
			t.Fatalf("no replayed event for revision %d", want)
		}
	}
	// New writes go on from the old revision.
	rev, err := s.Create(ctx, "/registry/pods/default/new", []byte("n"))
	if err != nil || rev != h.revision+1 {
		t.Fatalf("Create after restart = %d, %v; want revision %d", rev, err, h.revision+1)
	}
}

func TestRestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	first := startEmbedded(t, dir)
	h, err := writeHistory(t.Context(), etcd.New(first.Client()))
	if err != nil {
		t.Fatalf("writing: %v", err)
	}
	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	second := startEmbedded(t, dir)
	checkHistory(t, etcd.New(second.Client()), h)
	// The database file stays near the data's size (bbolt's 16 MiB
	// growth steps come only with etcd's 10 GiB initial map), so a
	// restart's MAP_POPULATE reads little.
	fi, err := os.Stat(filepath.Join(dir, "member", "snap", "db"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() > 4<<20 {
		t.Errorf("etcd's database file is %d bytes after a few writes; want at most 4 MiB", fi.Size())
	}
}

// killHelperEnv names the data dir of a child test process that writes the
// history, prints its last revision and waits to be killed.
const killHelperEnv = "BERTH_ETCD_KILL_HELPER_DIR"

func runKillHelper(dir string) int {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	e, err := etcd.StartEmbedded(ctx, etcd.EmbeddedConfig{Dir: dir, Logger: zap.NewNop()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	h, err := writeHistory(ctx, etcd.New(e.Client()))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("written %d\n", h.revision)
	select {} // until SIGKILL
}

func TestSurvivesKill(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), killHelperEnv+"="+dir)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()

	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- line
	}()
	var line string
	select {
	case line = <-lines:
	case <-time.After(startTimeout):
		t.Fatalf("helper wrote nothing within %v", startTimeout)
	}
	rev, err := strconv.ParseInt(strings.TrimPrefix(strings.TrimSpace(line), "written "), 10, 64)
	if err != nil {
		t.Fatalf("helper said %q", line)
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no clean stop
		t.Fatal(err)
	}
	_ = cmd.Wait()

	e := startEmbedded(t, dir)
	s := etcd.New(e.Client())
	// The helper wrote the same history as writeHistory does on a fresh
	// store; rebuild what it should be.
	want := history{values: map[string]string{}, revs: map[string]int64{}, deleted: "/registry/pods/default/gone", revision: rev}
	want.first = rev - 8 // 3 keys × (create, update) + create + delete
	for i := range 3 {
		key := fmt.Sprintf("/registry/pods/default/p%d", i)
		want.values[key], want.revs[key] = fmt.Sprintf("v2-%d", i), want.first+2*int64(i)+2
	}
	checkHistory(t, s, want)
}

func TestTwoServersAtOnce(t *testing.T) {
	a, b := startEmbedded(t, t.TempDir()), startEmbedded(t, t.TempDir())
	if fmt.Sprint(a.Endpoints()) == fmt.Sprint(b.Endpoints()) {
		t.Fatalf("both servers on %v", a.Endpoints())
	}
	ctx := t.Context()
	if _, err := etcd.New(a.Client()).Create(ctx, "/k", []byte("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := etcd.New(b.Client()).Get(ctx, "/k"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get on the other server: %v, want ErrNotFound", err)
	}
}

func TestStartEmbeddedErrors(t *testing.T) {
	file := t.TempDir() + "/file"
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  etcd.EmbeddedConfig
	}{
		{"no dir", etcd.EmbeddedConfig{}},
		{"dir is a file", etcd.EmbeddedConfig{Dir: file}},
		{"bad compaction mode", etcd.EmbeddedConfig{Dir: t.TempDir(), AutoCompactionMode: "sometimes"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Logger = zap.NewNop()
			ctx, cancel := context.WithTimeout(t.Context(), startTimeout)
			defer cancel()
			e, err := etcd.StartEmbedded(ctx, tc.cfg)
			if err == nil {
				e.Close()
				t.Fatalf("StartEmbedded(%+v): no error", tc.cfg)
			}
		})
	}
}

func TestDial(t *testing.T) {
	e := startEmbedded(t, t.TempDir())
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	client, err := etcd.Dial(ctx, e.Endpoints())
	if err != nil {
		t.Fatalf("Dial(%v): %v", e.Endpoints(), err)
	}
	s := etcd.New(client, etcd.OwnClient())
	rev, err := s.Create(ctx, "/k", []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	if kv, err := etcd.New(e.Client()).Get(ctx, "/k"); err != nil || kv.Revision != rev {
		t.Fatalf("Get through the embedded client = %+v, %v", kv, err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if client.Ctx().Err() == nil {
		t.Fatalf("the client still works after Close with OwnClient")
	}
}

func TestDialErrors(t *testing.T) {
	tests := []struct {
		name      string
		endpoints []string
	}{
		{"no endpoints", nil},
		{"nothing listening", []string{"http://127.0.0.1:1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			client, err := etcd.Dial(ctx, tc.endpoints)
			if err == nil {
				client.Close()
				t.Fatalf("Dial(%v): no error", tc.endpoints)
			}
		})
	}
}

// quietHelperEnv names the data dir of a child test process that starts a
// server with the default logger, uses it, stops it and exits.
const quietHelperEnv = "BERTH_ETCD_QUIET_HELPER_DIR"

func runQuietHelper(dir string) int {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for i := range 2 { // a fresh start, then a restart
		e, err := etcd.StartEmbedded(ctx, etcd.EmbeddedConfig{Dir: dir})
		if err != nil {
			return 1
		}
		s := etcd.New(e.Client())
		if _, err := s.Create(ctx, fmt.Sprintf("/k%d", i), []byte("v")); err != nil {
			return 2
		}
		ch, err := s.Watch(ctx, "/", 0) // left open
		if err != nil {
			return 3
		}
		if err := e.Close(); err != nil {
			return 4
		}
		for range ch {
		}
	}
	return 0
}

// TestQuietByDefault: with the default logger, a server that starts, serves,
// restarts and stops prints nothing.
func TestQuietByDefault(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), quietHelperEnv+"="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Fatalf("helper: %v, output:\n%s", err, out)
	}
}

// TestWatchEndsWhenServerStops: a watch ends, with at most an ERROR event,
// when the embedded server and its client close.
func TestWatchEndsWhenServerStops(t *testing.T) {
	e := startEmbedded(t, t.TempDir())
	ch, err := etcd.New(e.Client()).Watch(t.Context(), "/", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return
			}
			if ev.Type != storage.EventError {
				t.Fatalf("got %+v, want the channel closed", ev)
			}
		case <-timeout:
			t.Fatalf("watch still open after the server stopped")
		}
	}
}
