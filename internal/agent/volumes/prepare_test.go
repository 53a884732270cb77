package volumes

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Volumes set up by Prepare (with the sandbox) are taken as they are by
// the next Mounts of the same pod version, once; later calls, a stale
// preparation or a changed pod set them up again.
func TestPrepareThenMounts(t *testing.T) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg", Namespace: "ns"}, Data: map[string]string{"k": "v"}}
	gets := func(e *testEnv) int {
		n := 0
		for _, a := range e.client.Actions() {
			if a.GetVerb() == "get" && a.GetResource().Resource == "configmaps" {
				n++
			}
		}
		return n
	}
	newPod := func() *corev1.Pod {
		p := testPod([]corev1.Volume{{Name: "cm", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}}}, corev1.VolumeMount{Name: "cm", MountPath: "/cm"})
		p.ResourceVersion = "7"
		return p
	}
	for _, tc := range []struct {
		name     string
		change   func(e *testEnv, p *corev1.Pod)
		wantGets int // after Prepare and one Mounts
	}{
		{"fresh: Mounts takes the prepared volumes", func(*testEnv, *corev1.Pod) {}, 1},
		{"another pod version: set up again", func(_ *testEnv, p *corev1.Pod) { p.ResourceVersion = "8" }, 2},
		{"prepared too long ago: set up again", func(e *testEnv, _ *corev1.Pod) {
			e.m.now = func() time.Time { return time.Now().Add(2 * preparedFresh) }
		}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newTestEnv(t, cm)
			pod := newPod()
			if err := e.m.Prepare(context.Background(), pod, e.podDir); err != nil {
				t.Fatal(err)
			}
			if n := gets(e); n != 1 {
				t.Fatalf("Prepare read the configMap %d times, want 1", n)
			}
			tc.change(e, pod)
			mounts, err := e.m.Mounts(context.Background(), pod, &pod.Spec.Containers[0], e.podDir)
			if err != nil {
				t.Fatal(err)
			}
			if b, err := os.ReadFile(filepath.Join(mounts[0].HostPath, "k")); len(mounts) != 1 || err != nil || string(b) != "v" {
				t.Errorf("mounts %v", mounts)
			}
			if n := gets(e); n != tc.wantGets {
				t.Errorf("configMap read %d times, want %d", n, tc.wantGets)
			}
			// Only once: the next container's Mounts refreshes as before.
			if _, err := e.m.Mounts(context.Background(), pod, &pod.Spec.Containers[0], e.podDir); err != nil {
				t.Fatal(err)
			}
			if n := gets(e); n != tc.wantGets+1 {
				t.Errorf("after a second Mounts: configMap read %d times, want %d", n, tc.wantGets+1)
			}
		})
	}
}
