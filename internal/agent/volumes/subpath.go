package volumes

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// subPath returns the host path to give the runtime for subPath inside the
// volume at volumePath, as the kubelet's makeMounts and its fix for
// CVE-2017-1002101 and CVE-2021-25741 do: absolute paths and `..` are
// rejected; a missing subPath is created as a directory with the volume's
// mode, one component at a time, never following a symlink; the subPath
// is then opened beneath the volume (symlinks resolved by the kernel and
// refused when they leave the volume) and the open file itself is bind
// mounted at <podDir>/volume-subpaths/<volume>/<container>/<index>, which
// is what the runtime mounts. A symlink swapped in after the check cannot
// redirect that mount: it holds the inode checked, not a path. Host
// details go to the log, not to the user.
func (m *Manager) subPath(volumePath, subPath, volumeName, containerName, bindTarget string) (string, error) {
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
	root, err := openDirPinned(base)
	if err != nil {
		return "", err
	}
	defer closeFd(root)
	// As the kubelet, a subPath that does not resolve to anything is
	// created (the walk below refuses symlinks, wherever they point).
	if _, err := os.Stat(filepath.Join(base, subPath)); errors.Is(err, fs.ErrNotExist) {
		info, err := os.Stat(base)
		if err != nil {
			return "", err
		}
		if err := safeMakeDir(root, subPath, info.Mode().Perm()); err != nil {
			m.log.Warn("creating subPath directory failed", "volumeMount", volumeName, "container", containerName, "err", err)
			return "", fmt.Errorf("failed to create subPath directory for volumeMount %q of container %q", volumeName, containerName)
		}
	}
	fd, err := openBeneath(root, subPath)
	if err == nil {
		defer closeFd(fd)
		err = m.bindPinned(fd, bindTarget)
	}
	if err != nil {
		m.log.Warn("preparing subPath failed", "volumeMount", volumeName, "container", containerName, "subPath", subPath, "err", err)
		return "", fmt.Errorf("failed to prepare subPath for volumeMount %q of container %q", volumeName, containerName)
	}
	return bindTarget, nil
}

// subPathTarget is where the kubelet bind mounts a container's subPath.
func subPathTarget(podDir, volumeName, containerName string, index int) string {
	return filepath.Join(podDir, "volume-subpaths", volumeName, containerName, strconv.Itoa(index))
}

// bindPinned bind mounts the file open at fd on target (a directory or an
// empty file, as the source is), replacing an earlier mount there.
func (m *Manager) bindPinned(fd int, target string) error {
	isDir, err := fdIsDir(fd)
	if err != nil {
		return err
	}
	if mounted, _ := m.mnt.IsMountPoint(target); mounted {
		if err := m.mnt.Unmount(target); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o750); err != nil {
		return err
	}
	if isDir {
		if err := os.Mkdir(target, 0o750); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
	} else {
		f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY, 0o640)
		if err != nil {
			return err
		}
		f.Close()
	}
	return m.mnt.BindFd(fd, target)
}

func within(base, p string) bool {
	rel, err := filepath.Rel(base, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(os.PathSeparator))
}
