package hooks

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/types"
)

// keep appends rec to the container's records, keeping the last keepRuns,
// and replaces the file atomically. A failure to write is logged: a
// record never fails a hook.
func (r *Runner) keep(podUID types.UID, rec Record) {
	if r.dir == "" {
		return
	}
	path, err := recordPath(r.dir, podUID, rec.Container)
	if err != nil {
		r.log.Warn("not recording a lifecycle hook run", "pod", podUID, "container", rec.Container, "err", err)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	runs, err := readRecords(path)
	if err != nil {
		r.log.Warn("dropping unreadable lifecycle hook records", "path", path, "err", err)
		runs = nil
	}
	runs = append(runs, rec)
	if len(runs) > keepRuns {
		runs = runs[len(runs)-keepRuns:]
	}
	if err := writeRecords(path, runs); err != nil {
		r.log.Warn("recording a lifecycle hook run", "path", path, "err", err)
	}
}

// Forget removes a deleted pod's records.
func (r *Runner) Forget(podUID types.UID) {
	if r.dir == "" {
		return
	}
	if err := checkName(string(podUID)); err != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := os.RemoveAll(filepath.Join(r.dir, string(podUID))); err != nil {
		r.log.Warn("removing lifecycle hook records", "pod", podUID, "err", err)
	}
}

// Load reads a container's recorded runs, oldest first. A container
// without records (no hook ever ran, or the pod is gone) has none and no
// error; a name that could leave dir is an error.
func Load(dir string, podUID types.UID, container string) ([]Record, error) {
	if dir == "" {
		return nil, errors.New("no lifecycle hook records directory")
	}
	path, err := recordPath(dir, podUID, container)
	if err != nil {
		return nil, err
	}
	runs, err := readRecords(path)
	if err != nil {
		return nil, fmt.Errorf("reading lifecycle hook records of container %q of pod %s: %w", container, podUID, err)
	}
	return runs, nil
}

func recordPath(dir string, podUID types.UID, container string) (string, error) {
	if err := checkName(string(podUID)); err != nil {
		return "", fmt.Errorf("pod UID: %w", err)
	}
	if err := checkName(container); err != nil {
		return "", fmt.Errorf("container name: %w", err)
	}
	return filepath.Join(dir, string(podUID), container+".json"), nil
}

// checkName keeps a path element inside the records directory (names come
// from URLs of the agent's server).
func checkName(s string) error {
	if s == "" || s == "." || s == ".." || strings.ContainsAny(s, "/\\\x00") {
		return fmt.Errorf("%q is not a valid name", s)
	}
	return nil
}

func readRecords(path string) ([]Record, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var runs []Record
	if err := json.Unmarshal(b, &runs); err != nil {
		return nil, err
	}
	return runs, nil
}

// writeRecords replaces path with runs: a temporary file in the same
// directory, synced, then renamed over it.
func writeRecords(path string, runs []Record) error {
	b, err := json.MarshalIndent(runs, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	if _, err = f.Write(b); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}
