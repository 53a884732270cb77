package agent

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestPastActiveDeadline(t *testing.T) {
	now := time.Now()
	start := metav1.NewTime(now.Add(-10 * time.Second))
	for _, tc := range []struct {
		name     string
		deadline *int64
		start    *metav1.Time
		want     bool
	}{
		{"no deadline", nil, &start, false},
		{"not started", ptrInt64(1), nil, false},
		{"before", ptrInt64(11), &start, false},
		{"exactly at", ptrInt64(10), &start, true},
		{"after", ptrInt64(5), &start, true},
	} {
		pod := &corev1.Pod{Spec: corev1.PodSpec{ActiveDeadlineSeconds: tc.deadline}, Status: corev1.PodStatus{StartTime: tc.start}}
		if got := pastActiveDeadline(pod, now); got != tc.want {
			t.Errorf("%s: past = %v, want %v", tc.name, got, tc.want)
		}
	}
	pod := &corev1.Pod{Spec: corev1.PodSpec{ActiveDeadlineSeconds: ptrInt64(12)}, Status: corev1.PodStatus{StartTime: &start}}
	if d := requeueForDeadline(pod, resyncInterval); d > 2*time.Second || d <= 0 {
		t.Errorf("requeue %v, want about 2s (the time left)", d)
	}
	if d := requeueForDeadline(&corev1.Pod{}, resyncInterval); d != resyncInterval {
		t.Errorf("requeue without deadline %v, want %v", d, resyncInterval)
	}
}

// TestAgentActiveDeadline: a pod past spec.activeDeadlineSeconds, set at
// creation or lowered later, is killed and ends Failed DeadlineExceeded.
func TestAgentActiveDeadline(t *testing.T) {
	for _, tc := range []struct {
		name    string
		updated bool
	}{{"set at creation", false}, {"set by an update", true}} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			w.startAgent()
			pod := newTestPod("deadline", corev1.RestartPolicyAlways)
			if !tc.updated {
				pod.Spec.ActiveDeadlineSeconds = ptrInt64(2)
			}
			pod = w.createPod(pod)
			c := w.runningContainer(pod.UID, "app")
			if tc.updated {
				running := w.waitPod(pod, "phase Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
				running.Spec.ActiveDeadlineSeconds = ptrInt64(1)
				if _, err := w.cs.CoreV1().Pods("default").Update(context.Background(), running, metav1.UpdateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			got := w.waitPod(pod, "phase Failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
			if got.Status.Reason != "DeadlineExceeded" || got.Status.Message != "Pod was active on the node longer than the specified deadline" {
				t.Errorf("reason %q message %q", got.Status.Reason, got.Status.Message)
			}
			if !w.calledWith("StopContainer", c.Id) {
				t.Errorf("the container was not stopped")
			}
			for _, rc := range w.containers(pod.UID, "app") {
				if rc.State == runtimeapi.ContainerState_CONTAINER_RUNNING {
					t.Errorf("container %s still running", rc.Id)
				}
			}
			w.waitEvent(pod, "DeadlineExceeded: Pod was active on the node longer than the specified deadline")
		})
	}
}
