package volumes

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestCleanup(t *testing.T) {
	ctx := context.Background()
	hostDir := tempDir(t)
	mustWrite(t, filepath.Join(hostDir, "keep"))
	e := newTestEnv(t, secret("creds", map[string]string{"s": "x"}))
	pod := testPod([]corev1.Volume{
		{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds"}}},
		{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}},
		{Name: "disk", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: hostDir}}},
	})
	if _, err := e.m.Mounts(ctx, pod, &pod.Spec.Containers[0], e.podDir); err != nil {
		t.Fatal(err)
	}
	// Something the agent keeps in the pod directory stays.
	mustWrite(t, filepath.Join(e.podDir, "etc-hosts"))
	// A mount nested in a volume is unmounted before its parent.
	nested := filepath.Join(volumeDir(e.podDir, &pod.Spec.Volumes[1]), "inner")
	e.mnt.mounted[nested] = 0

	if err := e.m.Cleanup(e.podDir); err != nil {
		t.Fatal(err)
	}
	want := []string{nested, volumeDir(e.podDir, &pod.Spec.Volumes[0]), volumeDir(e.podDir, &pod.Spec.Volumes[1])}
	if !sameSet(e.mnt.unmounted, want) || e.mnt.unmounted[0] != nested {
		t.Errorf("unmounted %v, want %v with the nested mount first", e.mnt.unmounted, want)
	}
	if _, err := os.Stat(filepath.Join(e.podDir, "volumes")); !os.IsNotExist(err) {
		t.Errorf("volumes directory still there (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(e.podDir, "etc-hosts")); err != nil {
		t.Errorf("cleanup removed more than the volumes: %v", err)
	}
	if _, err := os.Stat(filepath.Join(hostDir, "keep")); err != nil {
		t.Errorf("hostPath content touched: %v", err)
	}
	if _, ok := e.m.pods[pod.UID]; ok {
		t.Error("pod still tracked after Cleanup")
	}
	// Idempotent, and fine for a pod that never had volumes.
	if err := e.m.Cleanup(e.podDir); err != nil {
		t.Errorf("second Cleanup: %v", err)
	}
	if err := e.m.Cleanup(filepath.Join(tempDir(t), "never")); err != nil {
		t.Errorf("Cleanup of a missing directory: %v", err)
	}
}

func sameSet(a, b []string) bool {
	m := func(s []string) map[string]int {
		out := map[string]int{}
		for _, x := range s {
			out[x]++
		}
		return out
	}
	return reflect.DeepEqual(m(a), m(b))
}

func TestMountPointsFrom(t *testing.T) {
	info := []byte(`22 1 0:21 / /proc rw - proc proc rw
100 30 0:50 / /data/pods/p/volumes/kubernetes.io~secret/s rw - tmpfs tmpfs rw
101 30 0:51 / /data/pods/p/volumes/kubernetes.io~empty-dir/with\040space rw - tmpfs tmpfs rw
102 100 0:52 / /data/pods/p/volumes/kubernetes.io~secret/s/deeper rw - tmpfs tmpfs rw
103 30 0:53 / /data/pods/p2/volumes/x rw - tmpfs tmpfs rw
104 30 0:54 / /data/pods/p/volumesX rw - tmpfs tmpfs rw
`)
	got := mountPointsFrom(info, "/data/pods/p/volumes")
	want := []string{
		"/data/pods/p/volumes/kubernetes.io~secret/s/deeper",
		"/data/pods/p/volumes/kubernetes.io~empty-dir/with space",
		"/data/pods/p/volumes/kubernetes.io~secret/s",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}
