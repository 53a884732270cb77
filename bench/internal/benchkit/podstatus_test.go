package benchkit

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestPodStatus(t *testing.T) {
	p := &corev1.Pod{
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "app"}}},
		Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{
			Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}},
		}}},
	}
	if isRunning(p) || wontRun(p) != "" {
		t.Fatalf("a creating container: running %v, won't run %q", isRunning(p), wontRun(p))
	}
	p.Status.ContainerStatuses[0].State.Waiting = &corev1.ContainerStateWaiting{Reason: "ErrImagePull", Message: "401"}
	if why := wontRun(p); why != "container app: ErrImagePull: 401" {
		t.Errorf("wontRun = %q", why)
	}
	p.Status.Phase = corev1.PodRunning
	p.Status.ContainerStatuses[0].State = corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
	if !isRunning(p) {
		t.Error("a Running pod with its container running is not running")
	}
	if got := statusLine(p); !strings.Contains(got, "phase=Running node=n1 app=running") {
		t.Errorf("statusLine = %q", got)
	}
}
