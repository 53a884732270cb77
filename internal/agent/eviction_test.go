package agent

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestDiskUsageOver(t *testing.T) {
	dir := t.TempDir()
	must(t, os.WriteFile(filepath.Join(dir, "a"), make([]byte, 300<<10), 0o644))
	must(t, os.Link(filepath.Join(dir, "a"), filepath.Join(dir, "hardlink"))) // counted once
	must(t, os.MkdirAll(filepath.Join(dir, "d"), 0o755))
	must(t, os.WriteFile(filepath.Join(dir, "d", "b"), make([]byte, 300<<10), 0o644))
	if diskUsageOver(dir, 1<<20) {
		t.Error("~600 KiB counted over 1 MiB (a hard link counted twice?)")
	}
	if !diskUsageOver(dir, 500<<10) {
		t.Error("~600 KiB not over 500 KiB")
	}
	// Sparse files take no space, as du counts.
	f, _ := os.Create(filepath.Join(dir, "sparse"))
	must(t, f.Truncate(1<<30))
	must(t, f.Close())
	if diskUsageOver(dir, 1<<20) {
		t.Error("a sparse file counted by its size")
	}
}

func TestAgentEvictsOverEmptyDirLimit(t *testing.T) {
	w := newWorld(t)
	a, _ := w.startAgent()
	limit := resource.MustParse("1Mi")
	p := newTestPod("filler", corev1.RestartPolicyAlways)
	p.Spec.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: &limit}}}}
	pod := w.createPod(p)
	w.runningContainer(pod.UID, "app")

	dir := filepath.Join(a.podDirOf(pod.Namespace, pod.Name, pod.UID), "volumes", "kubernetes.io~empty-dir", "scratch")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "half"), make([]byte, 512<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	a.checkLocalStorage()
	if err := os.WriteFile(filepath.Join(dir, "more"), make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	a.checkLocalStorage()
	want := `Usage of EmptyDir volume "scratch" exceeds the limit "1Mi". `
	got := w.waitPod(pod, "evicted", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
	if got.Status.Reason != "Evicted" || got.Status.Message != want {
		t.Errorf("reason %q message %q, want Evicted %q", got.Status.Reason, got.Status.Message, want)
	}
	w.waitEvent(pod, "Evicted: "+want)
	if n := len(w.calls("CreateContainer")); n != 1 {
		t.Errorf("%d containers created: an evicted pod must not restart", n)
	}
	if evs := strings.Join(w.events(pod), "\n"); strings.Count(evs, "Evicted:") != 1 {
		t.Errorf("events:\n%s", evs)
	}
}

// A container's writable layer over its ephemeral-storage limit evicts the
// pod with the kubelet's pod-level message (the pod's limit is the sum of
// its containers'), checked after the emptyDirs.
func TestAgentEvictsOverEphemeralStorageLimit(t *testing.T) {
	w := newWorld(t)
	a, _ := w.startAgent()
	p := newTestPod("writer", corev1.RestartPolicyOnFailure)
	p.Spec.Containers[0].Resources.Limits = corev1.ResourceList{corev1.ResourceEphemeralStorage: resource.MustParse("5Mi")}
	pod := w.createPod(p)
	c := w.runningContainer(pod.UID, "app")
	w.rt.SetWritableLayerBytes(c.Id, 4<<20)
	a.checkLocalStorage()
	w.rt.SetWritableLayerBytes(c.Id, 10<<20)
	a.checkLocalStorage()
	want := "Pod ephemeral local storage usage exceeds the total limit of containers 5Mi. "
	got := w.waitPod(pod, "evicted", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
	if got.Status.Reason != "Evicted" || got.Status.Message != want {
		t.Errorf("reason %q message %q, want Evicted %q", got.Status.Reason, got.Status.Message, want)
	}
	w.waitEvent(pod, "Evicted: "+want)
}

// must fails the test on a set-up error.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
