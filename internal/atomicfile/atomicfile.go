// Package atomicfile replaces a file so that a crash at any moment leaves
// either the old content or the new one, never a mix or an empty file:
// berth's keys, certificates and kubeconfigs are written this way.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// Write replaces path with data: a temporary file in the same directory
// (so the rename cannot cross file systems) is written with mode, fsynced,
// renamed over path, and the directory is fsynced so the rename itself
// survives a power loss. mode is applied exactly (not masked by the umask):
// keys are 0600 from their first byte.
func Write(path string, data []byte, mode os.FileMode) error {
	return write(path, data, mode, nil)
}

// write is Write with a hook run just before the rename, for tests that
// interrupt it.
func write(path string, data []byte, mode os.FileMode, beforeRename func(tmp string) error) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	// CreateTemp makes the file 0600; Chmod sets the wanted mode exactly.
	if err = tmp.Chmod(mode); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if _, err = tmp.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("writing %s: fsync: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if beforeRename != nil {
		if err = beforeRename(tmp.Name()); err != nil {
			return err
		}
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	// The rename is durable only once the directory entry is on disk.
	d, derr := os.Open(dir)
	if derr != nil {
		return fmt.Errorf("writing %s: opening its directory to fsync: %w", path, derr)
	}
	defer d.Close()
	if serr := d.Sync(); serr != nil {
		return fmt.Errorf("writing %s: fsync of %s: %w", path, dir, serr)
	}
	return nil
}
