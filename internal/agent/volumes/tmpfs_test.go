//go:build linux

package volumes

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// realMounts gives the Manager the kernel's mount table, or skips the test
// when this process may not mount tmpfs.
func realMounts(t *testing.T, e *testEnv) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting tmpfs needs root (CAP_SYS_ADMIN); run as root to exercise real tmpfs volumes")
	}
	probe := tempDir(t)
	if err := unix.Mount("tmpfs", probe, "tmpfs", 0, "size=4k"); err != nil {
		t.Skipf("root, but mount(2) of tmpfs is not permitted here: %v", err)
	}
	if err := unix.Unmount(probe, 0); err != nil {
		t.Fatal(err)
	}
	e.m.mnt = kernelMounter{}
	t.Cleanup(func() {
		// Never leave a mount behind, even when the test failed early.
		mps, _ := kernelMounter{}.MountPointsUnder(e.podDir)
		for _, mp := range mps {
			_ = unix.Unmount(mp, unix.MNT_DETACH)
		}
	})
}

func TestRealTmpfsVolumes(t *testing.T) {
	e := newTestEnv(t, secret("creds", map[string]string{"k": "v"}))
	realMounts(t, e)
	pod := testPod([]corev1.Volume{
		{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
			Medium: corev1.StorageMediumMemory, SizeLimit: ptr(resource.MustParse("8Mi"))}}},
		{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds"}}},
	}, corev1.VolumeMount{Name: "mem", MountPath: "/mem"}, corev1.VolumeMount{Name: "sec", MountPath: "/sec"})
	ctx := context.Background()
	mounts, err := e.m.Mounts(ctx, pod, &pod.Spec.Containers[0], e.podDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, mt := range mounts {
		var st unix.Statfs_t
		if err := unix.Statfs(mt.HostPath, &st); err != nil {
			t.Fatal(err)
		}
		if st.Type != unix.TMPFS_MAGIC {
			t.Errorf("%s is not on tmpfs (type %x)", mt.HostPath, st.Type)
		}
		if mp, err := (kernelMounter{}).IsMountPoint(mt.HostPath); err != nil || !mp {
			t.Errorf("%s not a mount point (%v)", mt.HostPath, err)
		}
	}
	var st unix.Statfs_t
	if err := unix.Statfs(mounts[0].HostPath, &st); err != nil {
		t.Fatal(err)
	}
	if size := int64(st.Blocks) * st.Bsize; size != 8<<20 {
		t.Errorf("emptyDir tmpfs size %d, want sizeLimit 8Mi", size)
	}
	if got := readFile(t, filepath.Join(mounts[1].HostPath, "k")); got != "v" {
		t.Errorf("secret file = %q", got)
	}

	// Set-up again (another container): nothing is mounted twice.
	if _, err := e.m.Mounts(ctx, pod, &pod.Spec.Containers[0], e.podDir); err != nil {
		t.Fatal(err)
	}
	mps, err := kernelMounter{}.MountPointsUnder(e.podDir)
	if err != nil {
		t.Fatal(err)
	}
	if len(mps) != 2 {
		t.Errorf("mounts under the pod %v, want 2", mps)
	}

	if err := e.m.Cleanup(e.podDir); err != nil {
		t.Fatal(err)
	}
	if mps, _ := (kernelMounter{}).MountPointsUnder(e.podDir); len(mps) != 0 {
		t.Errorf("mounts left after Cleanup: %v", mps)
	}
	if _, err := os.Stat(filepath.Join(e.podDir, "volumes")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("volumes left after Cleanup (%v)", err)
	}
}
