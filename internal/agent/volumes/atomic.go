package volumes

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// The atomic writer is the kubelet's (pkg/volume/util/atomic_writer.go):
// the files live in a timestamped directory, `..data` points at it, and
// each top-level name of the payload is a symlink through `..data`.
const (
	dataDirName       = "..data"
	newDataDirName    = "..data_tmp"
	maxFileNameLength = 255
	maxPathLength     = 4096
)

// fileProjection is one file of a payload: its content, mode bits and, for
// service-account tokens of a pod whose containers all run as one user, the
// file's owner.
type fileProjection struct {
	Data   []byte
	Mode   int32
	FsUser *int64
}

// payload maps a path relative to the volume to the file written there.
type payload map[string]fileProjection

// digest identifies a payload by content, paths and modes, so that the
// Manager can remember what it wrote without keeping secret data.
func (p payload) digest() string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	var n [8]byte
	for _, k := range keys {
		f := p[k]
		binary.BigEndian.PutUint64(n[:], uint64(len(k)))
		h.Write(n[:])
		h.Write([]byte(k))
		binary.BigEndian.PutUint64(n[:], uint64(uint32(f.Mode)))
		h.Write(n[:])
		owner := int64(-1)
		if f.FsUser != nil {
			owner = *f.FsUser
		}
		binary.BigEndian.PutUint64(n[:], uint64(owner))
		h.Write(n[:])
		binary.BigEndian.PutUint64(n[:], uint64(len(f.Data)))
		h.Write(n[:])
		h.Write(f.Data)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// writeAtomic projects p into dir, which must exist, and reports whether
// anything changed on disk. An unchanged payload (same paths, contents and
// modes) is a no-op. The algorithm is the kubelet's:
//
//  1. validate the paths;
//  2. read `..data` to find the current timestamped directory;
//  3. compare it with the payload; stop if nothing changed;
//  4. write the payload into a new `..<timestamp>` directory;
//  5. point `..data_tmp` at it and rename it over `..data` (atomic);
//  6. create the user-visible symlinks `<name> -> ..data/<name>`;
//  7. remove the visible names the payload no longer has;
//  8. remove the old timestamped directory.
func writeAtomic(dir string, p payload, now time.Time) (bool, error) {
	clean, err := validatePayload(p)
	if err != nil {
		return false, err
	}
	dataDirPath := filepath.Join(dir, dataDirName)
	oldTsDir, err := os.Readlink(dataDirPath)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return false, fmt.Errorf("reading %s: %w", dataDirPath, err)
		}
		oldTsDir = ""
	}
	var toRemove map[string]bool
	if oldTsDir != "" {
		oldTsPath := filepath.Join(dir, oldTsDir)
		toRemove, err = pathsToRemove(clean, oldTsPath)
		if err != nil {
			return false, err
		}
		changed, err := payloadChanged(clean, oldTsPath)
		if err != nil {
			return false, err
		}
		if !changed && len(toRemove) == 0 {
			return false, nil
		}
	}

	tsDir, err := os.MkdirTemp(dir, now.UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		return false, fmt.Errorf("creating data directory: %w", err)
	}
	// 0755 whatever the umask: other users (a container's non-root user)
	// must be able to walk into it.
	if err := os.Chmod(tsDir, 0o755); err != nil {
		_ = os.RemoveAll(tsDir)
		return false, err
	}
	tsDirName := filepath.Base(tsDir)
	if err := writePayloadTo(clean, tsDir); err != nil {
		_ = os.RemoveAll(tsDir)
		return false, err
	}

	newDataDirPath := filepath.Join(dir, newDataDirName)
	_ = os.Remove(newDataDirPath) // left by an interrupted write
	if err := os.Symlink(tsDirName, newDataDirPath); err != nil {
		_ = os.RemoveAll(tsDir)
		return false, fmt.Errorf("linking %s: %w", newDataDirPath, err)
	}
	if err := os.Rename(newDataDirPath, dataDirPath); err != nil {
		_ = os.Remove(newDataDirPath)
		_ = os.RemoveAll(tsDir)
		return false, fmt.Errorf("swapping %s: %w", dataDirPath, err)
	}

	if err := createUserVisibleFiles(clean, dir); err != nil {
		return true, err
	}
	if err := removeUserVisiblePaths(toRemove, dir); err != nil {
		return true, err
	}
	if oldTsDir != "" && oldTsDir != tsDirName {
		if err := os.RemoveAll(filepath.Join(dir, oldTsDir)); err != nil {
			return true, fmt.Errorf("removing old data directory %s: %w", oldTsDir, err)
		}
	}
	return true, nil
}

// validatePayload checks every path and returns the payload with clean
// paths.
func validatePayload(p payload) (payload, error) {
	clean := make(payload, len(p))
	for k, f := range p {
		if err := validatePath(k); err != nil {
			return nil, err
		}
		clean[filepath.Clean(k)] = f
	}
	return clean, nil
}

// validatePath rejects, as the kubelet does, empty, absolute and too long
// paths, `..` elements, and a first element starting with `..` (the
// writer's own names).
func validatePath(p string) error {
	if p == "" {
		return fmt.Errorf("invalid path: must not be empty: %q", p)
	}
	if filepath.IsAbs(p) {
		return fmt.Errorf("invalid path: must be relative path: %s", p)
	}
	if len(p) > maxPathLength {
		return fmt.Errorf("invalid path: must be less than or equal to %d characters", maxPathLength)
	}
	items := strings.Split(p, string(os.PathSeparator))
	for _, item := range items {
		if item == ".." {
			return fmt.Errorf("invalid path: must not contain '..': %s", p)
		}
		if len(item) > maxFileNameLength {
			return fmt.Errorf("invalid path: filenames must be less than or equal to %d characters", maxFileNameLength)
		}
	}
	if strings.HasPrefix(items[0], "..") && len(items[0]) > 2 {
		return fmt.Errorf("invalid path: must not start with '..': %s", p)
	}
	return nil
}

// payloadChanged reports whether any file of p differs from what oldTsDir
// holds, in content or in mode.
func payloadChanged(p payload, oldTsDir string) (bool, error) {
	for rel, f := range p {
		path := filepath.Join(oldTsDir, rel)
		info, err := os.Lstat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		if !info.Mode().IsRegular() || info.Mode().Perm() != fileMode(f.Mode) {
			return true, nil
		}
		onDisk, err := os.ReadFile(path)
		if err != nil {
			return false, err
		}
		if !bytes.Equal(onDisk, f.Data) {
			return true, nil
		}
	}
	return false, nil
}

// pathsToRemove lists the paths of oldTsDir that the new payload does not
// have (neither as a file nor as a parent directory of one).
func pathsToRemove(p payload, oldTsDir string) (map[string]bool, error) {
	old := map[string]bool{}
	err := filepath.WalkDir(oldTsDir, func(path string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(oldTsDir, path)
		if err != nil || rel == "." {
			return err
		}
		old[rel] = true
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("walking %s: %w", oldTsDir, err)
	}
	for file := range p {
		for sub := file; sub != "." && sub != "/" && sub != ""; sub = filepath.Dir(sub) {
			delete(old, sub)
		}
	}
	return old, nil
}

func writePayloadTo(p payload, dir string) error {
	for rel, f := range p {
		full := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		mode := fileMode(f.Mode)
		if err := os.WriteFile(full, f.Data, mode); err != nil {
			return err
		}
		// WriteFile's mode is subject to the umask; the payload's is not.
		if err := os.Chmod(full, mode); err != nil {
			return err
		}
		if f.FsUser != nil {
			if err := os.Lchown(full, int(*f.FsUser), -1); err != nil {
				return err
			}
		}
	}
	return nil
}

// createUserVisibleFiles links each top-level name of the payload through
// ..data: "a/b/c" gives "a -> ..data/a".
func createUserVisibleFiles(p payload, dir string) error {
	for rel := range p {
		name, _, _ := strings.Cut(rel, string(os.PathSeparator))
		visible := filepath.Join(dir, name)
		if _, err := os.Readlink(visible); err == nil || !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err := os.Symlink(filepath.Join(dataDirName, name), visible); err != nil {
			return fmt.Errorf("linking %s: %w", visible, err)
		}
	}
	return nil
}

// removeUserVisiblePaths removes the top-level symlinks of paths the payload
// dropped; deeper paths went away with the old data directory.
func removeUserVisiblePaths(paths map[string]bool, dir string) error {
	var last error
	for p := range paths {
		if strings.Contains(p, string(os.PathSeparator)) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, p)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			last = err
		}
	}
	return last
}

func fileMode(m int32) os.FileMode { return os.FileMode(uint32(m)) & os.ModePerm }
