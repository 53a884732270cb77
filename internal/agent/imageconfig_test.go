package agent

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The image's user is read once per image ID, not once per container.
func TestImageConfigCachedByImageID(t *testing.T) {
	w := newWorld(t)
	w.startAgent()
	var pods []*corev1.Pod
	for _, name := range []string{"one", "two", "three"} {
		pods = append(pods, w.createPod(newTestPod(name, corev1.RestartPolicyAlways, corev1.Container{Name: "app", Image: testImage})))
	}
	for _, p := range pods {
		w.runningContainer(p.UID, "app")
	}
	byID := 0
	for _, c := range w.calls("ImageStatus") {
		if strings.HasPrefix(c.ID, "sha256:") {
			byID++
		}
	}
	if byID != 1 {
		t.Errorf("%d ImageStatus calls by image ID for 3 containers of one image, want 1", byID)
	}
}

func TestNewSince(t *testing.T) {
	since := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	pod := func(created time.Time, phase corev1.PodPhase, statuses int) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(created)}}
		p.Status.Phase = phase
		for range statuses {
			p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: "c"})
		}
		return p
	}
	for _, tc := range []struct {
		name  string
		pod   *corev1.Pod
		since time.Time
		want  bool
	}{
		{"created well after the agent started, no status", pod(since.Add(5*time.Second), "", 0), since, true},
		{"pending, no container status", pod(since.Add(5*time.Second), corev1.PodPending, 0), since, true},
		{"created before the agent started", pod(since.Add(-time.Minute), "", 0), since, false},
		{"within the timestamps' resolution and skew", pod(since.Add(time.Second), "", 0), since, false},
		{"a node already reported containers", pod(since.Add(5*time.Second), corev1.PodPending, 1), since, false},
		{"running", pod(since.Add(5*time.Second), corev1.PodRunning, 0), since, false},
		{"agent not running (zero since)", pod(since.Add(5*time.Second), "", 0), time.Time{}, false},
	} {
		if got := newSince(tc.pod, tc.since); got != tc.want {
			t.Errorf("%s: newSince = %v, want %v", tc.name, got, tc.want)
		}
	}
}
