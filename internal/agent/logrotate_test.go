package agent

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

type fakeLogRuntime struct {
	log      string
	reopened int
	failOpen bool
}

func (f *fakeLogRuntime) ListContainers(context.Context, *runtimeapi.ContainerFilter) ([]*runtimeapi.Container, error) {
	return []*runtimeapi.Container{{Id: "c1", State: runtimeapi.ContainerState_CONTAINER_RUNNING}}, nil
}

func (f *fakeLogRuntime) ContainerStatus(context.Context, string) (*runtimeapi.ContainerStatus, error) {
	return &runtimeapi.ContainerStatus{Id: "c1", State: runtimeapi.ContainerState_CONTAINER_RUNNING, LogPath: f.log}, nil
}

// ReopenContainerLog creates the log afresh, as containerd does.
func (f *fakeLogRuntime) ReopenContainerLog(context.Context, string) error {
	if f.failOpen {
		return errors.New("reopen failed")
	}
	f.reopened++
	return os.WriteFile(f.log, nil, 0o640)
}

func TestLogRotation(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "0.log")
	rt := &fakeLogRuntime{log: log}
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := &logRotator{rt: rt, maxSize: 100, maxFiles: 3, now: func() time.Time { return clock }, warn: func(string, ...any) {}}
	ctx := context.Background()

	must(t, os.WriteFile(log, []byte("small\n"), 0o640))
	r.rotateAll(ctx)
	if rt.reopened != 0 {
		t.Fatal("a log under the size limit was rotated")
	}
	for i := 0; i < 5; i++ {
		must(t, os.WriteFile(log, []byte(strings.Repeat("x", 200)), 0o640))
		clock = clock.Add(time.Minute)
		r.rotateAll(ctx)
	}
	if rt.reopened != 5 {
		t.Errorf("reopened %d times, want 5", rt.reopened)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	// maxFiles 3: the current log, the newest rotated one (plain, still
	// readable by a follower) and one gzipped.
	want := []string{"0.log", "0.log.20260101-000400.gz", "0.log.20260101-000500"}
	if !slices.Equal(names, want) {
		t.Errorf("files %v, want %v", names, want)
	}

	// A failed reopen puts the log back.
	rt.failOpen = true
	must(t, os.WriteFile(log, []byte(strings.Repeat("y", 200)), 0o640))
	clock = clock.Add(time.Minute)
	r.rotateAll(ctx)
	if b, _ := os.ReadFile(log); string(b) != strings.Repeat("y", 200) {
		t.Errorf("the log was not put back after a failed reopen: %q", b)
	}
}

func TestRemoveContainerLogs(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "1.log")
	term := filepath.Join(dir, "termination-log-1")
	keep := filepath.Join(dir, "2.log")
	for _, p := range []string{log, log + ".20260101-000000.gz", term, keep} {
		must(t, os.WriteFile(p, []byte("x"), 0o644))
	}
	removeContainerLogs(&runtimeapi.ContainerStatus{LogPath: log, Annotations: map[string]string{annoTerminationHostPath: term}})
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "2.log" {
		t.Errorf("left %v, want only 2.log", entries)
	}
}
