package atomicfile

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestWrite(t *testing.T) {
	for _, tc := range []struct {
		name string
		old  *string // nil: no file before
		mode os.FileMode
	}{
		{name: "new key", mode: 0o600},
		{name: "replace a certificate", old: ptr("old cert"), mode: 0o644},
		{name: "replace with a tighter mode", old: ptr("old"), mode: 0o600},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "f")
			if tc.old != nil {
				if err := os.WriteFile(path, []byte(*tc.old), 0o666); err != nil {
					t.Fatal(err)
				}
			}
			if err := Write(path, []byte("new"), tc.mode); err != nil {
				t.Fatal(err)
			}
			assertFile(t, path, "new", tc.mode)
			assertOnlyFile(t, dir)
		})
	}
}

// TestWriteInterrupted: a write that fails before the rename leaves the
// old file as it was and no temporary file behind.
func TestWriteInterrupted(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ca.key")
	if err := Write(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := write(path, []byte("new"), 0o600, func(string) error { return errors.New("interrupted") })
	if err == nil {
		t.Fatal("write did not report the interruption")
	}
	assertFile(t, path, "old", 0o600)
	assertOnlyFile(t, dir)
}

// TestWriteCrash kills a process in the middle of a write (after the new
// content is in the temporary file, before the rename): the old file is
// intact, and a later Write succeeds despite the leftover.
func TestWriteCrash(t *testing.T) {
	if path := os.Getenv("ATOMICFILE_CRASH_PATH"); path != "" {
		_ = write(path, []byte("new"), 0o600, func(string) error {
			return syscall.Kill(os.Getpid(), syscall.SIGKILL)
		})
		os.Exit(0) // not reached
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "apiserver.key")
	if err := Write(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestWriteCrash$")
	cmd.Env = append(os.Environ(), "ATOMICFILE_CRASH_PATH="+path)
	err := cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || !strings.Contains(ee.String(), "killed") {
		t.Fatalf("the child was not killed mid-write: %v", err)
	}
	assertFile(t, path, "old", 0o600)
	if err := Write(path, []byte("newer"), 0o600); err != nil {
		t.Fatal(err)
	}
	assertFile(t, path, "newer", 0o600)
}

func assertFile(t *testing.T, path, want string, mode os.FileMode) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("%s holds %q, want %q", path, got, want)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != mode {
		t.Errorf("%s has mode %v, want %v", path, fi.Mode().Perm(), mode)
	}
}

func assertOnlyFile(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("%s holds %v, want only the file itself", dir, names)
	}
}

func ptr(s string) *string { return &s }
