package volumes

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// subPath returns the host path of subPath inside the volume at
// volumePath, as the kubelet's makeMounts does: absolute paths and `..`
// are rejected, a missing subPath is created as a directory with the
// volume's mode, and the result, symlinks resolved, must stay inside the
// volume. Host details go to the log, not to the user.
func (m *Manager) subPath(volumePath, subPath, volumeName, containerName string) (string, error) {
	if filepath.IsAbs(subPath) {
		return "", fmt.Errorf("error SubPath `%s` must not be an absolute path", subPath)
	}
	if err := noBacksteps(subPath); err != nil {
		return "", fmt.Errorf("unable to provision SubPath `%s`: %v", subPath, err)
	}
	base, err := filepath.EvalSymlinks(volumePath)
	if err != nil {
		return "", err
	}
	full := filepath.Join(volumePath, subPath)
	if _, err := os.Stat(full); errors.Is(err, fs.ErrNotExist) {
		info, err := os.Stat(base)
		if err != nil {
			return "", err
		}
		if err := safeMakeDir(base, subPath, info.Mode().Perm()); err != nil {
			m.log.Warn("creating subPath directory failed", "volumeMount", volumeName, "container", containerName, "err", err)
			return "", fmt.Errorf("failed to create subPath directory for volumeMount %q of container %q", volumeName, containerName)
		}
	}
	real, err := filepath.EvalSymlinks(full)
	if err == nil && !within(base, real) {
		err = fmt.Errorf("subpath %q not within volume path %q", real, base)
	}
	if err != nil {
		m.log.Warn("preparing subPath failed", "volumeMount", volumeName, "container", containerName, "err", err)
		return "", fmt.Errorf("failed to prepare subPath for volumeMount %q of container %q", volumeName, containerName)
	}
	return real, nil
}

// safeMakeDir creates base/sub one element at a time with perm, refusing
// to follow a symlink out of base.
func safeMakeDir(base, sub string, perm os.FileMode) error {
	cur := base
	for _, elem := range strings.Split(filepath.Clean(sub), string(os.PathSeparator)) {
		if elem == "" || elem == "." {
			continue
		}
		next := filepath.Join(cur, elem)
		info, err := os.Lstat(next)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := os.Mkdir(next, perm); err != nil {
				return err
			}
			if err := os.Chmod(next, perm); err != nil {
				return err
			}
		case err != nil:
			return err
		case info.Mode()&os.ModeSymlink != 0:
			real, err := filepath.EvalSymlinks(next)
			if err != nil {
				return err
			}
			if !within(base, real) {
				return fmt.Errorf("%s escapes the volume", next)
			}
			next = real
		case !info.IsDir():
			return fmt.Errorf("%s is not a directory", next)
		}
		cur = next
	}
	return nil
}

func within(base, p string) bool {
	rel, err := filepath.Rel(base, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(os.PathSeparator))
}
