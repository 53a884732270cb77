//go:build !linux

package volumes

import (
	"errors"
	"runtime"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// kernelMounter mounts nothing off Linux: memory-backed volumes fail, and
// secret and projected volumes fall back to disk.
type kernelMounter struct{}

var errNoMounts = errors.New("tmpfs volumes need Linux")

func (kernelMounter) MountTmpfs(string, int64) error            { return errNoMounts }
func (kernelMounter) IsMountPoint(string) (bool, error)         { return false, nil }
func (kernelMounter) MountPointsUnder(string) ([]string, error) { return nil, nil }
func (kernelMounter) Unmount(string) error                      { return errNoMounts }
func (kernelMounter) BindFd(int, string) error                  { return errNoMounts }

func hostAllocatable() corev1.ResourceList {
	return corev1.ResourceList{
		corev1.ResourceCPU: *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI),
	}
}
