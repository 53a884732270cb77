package volumes

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// kernelMounter is the mount table of the host, through mount(2).
type kernelMounter struct{}

func (kernelMounter) MountTmpfs(dir string, size int64) error {
	// No flags: the kubelet mounts its tmpfs volumes with only a size.
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, tmpfsOptions(size)); err != nil {
		return &os.PathError{Op: "mount tmpfs", Path: dir, Err: err}
	}
	return nil
}

func (kernelMounter) BindFd(fd int, target string) error {
	if err := unix.Mount(fdPath(fd), target, "", unix.MS_BIND, ""); err != nil {
		return &os.PathError{Op: "bind mount", Path: target, Err: err}
	}
	return nil
}

func (kernelMounter) IsMountPoint(dir string) (bool, error) {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return false, err
	}
	info, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false, err
	}
	for _, mp := range mountPointsFrom(info, real) {
		if mp == real {
			return true, nil
		}
	}
	return false, nil
}

func (kernelMounter) MountPointsUnder(dir string) ([]string, error) {
	info, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	return mountPointsFrom(info, dir), nil
}

func (kernelMounter) Unmount(dir string) error {
	err := unix.Unmount(dir, 0)
	if errors.Is(err, unix.EBUSY) {
		err = unix.Unmount(dir, unix.MNT_DETACH)
	}
	if err != nil && !errors.Is(err, unix.EINVAL) { // EINVAL: not a mount point any more
		return &os.PathError{Op: "unmount", Path: dir, Err: err}
	}
	return nil
}

// hostAllocatable is this machine's capacity: its CPUs, its memory and the
// size of the file system holding the root.
func hostAllocatable() corev1.ResourceList {
	l := corev1.ResourceList{
		corev1.ResourceCPU: *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI),
	}
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil {
		l[corev1.ResourceMemory] = *resource.NewQuantity(int64(si.Totalram)*int64(si.Unit), resource.BinarySI)
	}
	var st unix.Statfs_t
	if unix.Statfs("/", &st) == nil {
		l[corev1.ResourceEphemeralStorage] = *resource.NewQuantity(int64(st.Blocks)*st.Bsize, resource.BinarySI)
	}
	return l
}
