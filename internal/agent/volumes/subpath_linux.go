package volumes

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

func openDirPinned(dir string) (int, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return fd, nil
}

func closeFd(fd int) { _ = unix.Close(fd) }

// openBeneath opens rel below the directory root with O_PATH: symlinks
// are resolved by the kernel and must stay below root (RESOLVE_BENEATH;
// an absolute one, or `..` out of it, fails with EXDEV), /proc magic
// links are refused.
func openBeneath(root int, rel string) (int, error) {
	fd, err := unix.Openat2(root, rel, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
	})
	if err != nil {
		return -1, &os.PathError{Op: "openat2", Path: rel, Err: err}
	}
	return fd, nil
}

func fdIsDir(fd int) (bool, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false, err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return true, nil
	case unix.S_IFREG:
		return false, nil
	}
	// A FIFO, socket or device node in a volume is not a subPath the
	// runtime should mount.
	return false, fmt.Errorf("subPath is not a regular file or directory (mode %o)", st.Mode&unix.S_IFMT)
}

// safeMakeDir creates sub below the directory root one element at a time
// with perm, as the kubelet's doSafeMakeDir: existing elements are opened
// beneath root, new ones made with mkdirat and opened with O_NOFOLLOW, so
// a symlink swapped in meanwhile fails the walk instead of redirecting it.
func safeMakeDir(root int, sub string, perm os.FileMode) error {
	cur, err := unix.Dup(root)
	if err != nil {
		return err
	}
	defer func() { _ = unix.Close(cur) }()
	for _, elem := range strings.Split(filepath.Clean(sub), string(os.PathSeparator)) {
		if elem == "" || elem == "." {
			continue
		}
		next, err := unix.Openat2(cur, elem, &unix.OpenHow{
			Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
		})
		if err == unix.ENOENT {
			if err := unix.Mkdirat(cur, elem, uint32(perm)); err != nil && err != unix.EEXIST {
				return fmt.Errorf("mkdirat %s: %w", elem, err)
			}
			// Opened for real (not O_PATH) to fchmod past the umask.
			nfd, err := unix.Openat(cur, elem, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return fmt.Errorf("opening new directory %s: %w", elem, err)
			}
			if err := unix.Fchmod(nfd, uint32(perm)); err != nil {
				_ = unix.Close(nfd)
				return fmt.Errorf("chmod %s: %w", elem, err)
			}
			next = nfd
		} else if err != nil {
			return fmt.Errorf("opening %s: %w", elem, err)
		}
		_ = unix.Close(cur)
		cur = next
	}
	return nil
}

// fdPath names an open file for mount(2).
func fdPath(fd int) string { return "/proc/self/fd/" + strconv.Itoa(fd) }
