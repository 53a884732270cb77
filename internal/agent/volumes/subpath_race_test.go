//go:build linux

package volumes

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-dev/berth/internal/testutil/ci"
	corev1 "k8s.io/api/core/v1"
)

// TestSubPathSwapAfterCheck is CVE-2021-25741's race made deterministic:
// the subPath is a directory when the agent checks it, and a symlink to
// the host when the runtime mounts it. The host path handed to the
// runtime must still be the directory that was checked. It needs real
// bind mounts (root).
func TestSubPathSwapAfterCheck(t *testing.T) {
	if os.Geteuid() != 0 {
		ci.Skipf(t, "TestSubPathSwapAfterCheck needs root for bind mounts")
	}
	e := newTestEnv(t)
	e.m.mnt = kernelMounter{}
	t.Cleanup(func() {
		if err := e.m.Cleanup(e.podDir); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	})
	outside := tempDir(t)
	mustWriteContent(t, filepath.Join(outside, "marker"), "host")

	pod := testPod([]corev1.Volume{{Name: "v", VolumeSource: emptyDirVolume()}},
		corev1.VolumeMount{Name: "v", MountPath: "/v", SubPath: "sub"})
	setup := testPod(pod.Spec.Volumes)
	if _, err := e.m.Mounts(context.Background(), setup, &setup.Spec.Containers[0], e.podDir); err != nil {
		t.Fatal(err)
	}
	vdir := volumeDir(e.podDir, &pod.Spec.Volumes[0])
	if err := os.Mkdir(filepath.Join(vdir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustWriteContent(t, filepath.Join(vdir, "sub", "marker"), "volume")

	mounts, err := e.m.Mounts(context.Background(), pod, &pod.Spec.Containers[0], e.podDir)
	if err != nil {
		t.Fatal(err)
	}
	// The container swaps the checked directory for a symlink out.
	if err := os.Rename(filepath.Join(vdir, "sub"), filepath.Join(vdir, "moved")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(vdir, "sub")); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(mounts[0].HostPath, "marker"))
	if err != nil || string(b) != "volume" {
		t.Fatalf("the runtime would mount %q holding marker %q (%v): the swap reached outside the volume", mounts[0].HostPath, b, err)
	}

	// With the symlink in place at check time, the mount is refused.
	if _, err := e.m.Mounts(context.Background(), pod, &pod.Spec.Containers[0], e.podDir); err == nil {
		t.Error("a subPath that is a symlink out of the volume was accepted")
	}
}

func mustWriteContent(t *testing.T, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
