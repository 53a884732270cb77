package agent

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestPodConditions(t *testing.T) {
	terminated := func(name string, code int32) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}}
	}
	waiting := func(name string) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: name, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}}
	}
	runningReady := func(name string, ready bool) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: name, Ready: ready, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
	}
	pod := podWith(corev1.RestartPolicyAlways, []corev1.Container{{Name: "init1"}, {Name: "init2"}}, "app", "web")

	got := initializedCondition(pod, []corev1.ContainerStatus{waiting("init1"), waiting("init2")}, []corev1.ContainerStatus{waiting("app"), waiting("web")}, corev1.PodPending)
	if want := (podCondition{reason: "ContainersNotInitialized", message: "containers with incomplete status: [init1 init2]"}); got != want {
		t.Errorf("initialized = %+v, want %+v", got, want)
	}
	got = initializedCondition(pod, []corev1.ContainerStatus{terminated("init1", 0), terminated("init2", 0)}, nil, corev1.PodPending)
	if !got.ok {
		t.Errorf("initialized after both init containers exited 0 = %+v", got)
	}
	got = containersReadyCondition(pod, nil, []corev1.ContainerStatus{runningReady("app", true), runningReady("web", false)}, corev1.PodRunning)
	if want := (podCondition{reason: "ContainersNotReady", message: "containers with unready status: [web]"}); got != want {
		t.Errorf("containersReady = %+v, want %+v", got, want)
	}
	got = containersReadyCondition(pod, nil, []corev1.ContainerStatus{runningReady("app", true)}, corev1.PodRunning)
	if want := (podCondition{reason: "ContainersNotReady", message: "containers with unknown status: [web]"}); got != want {
		t.Errorf("containersReady with a status missing = %+v, want %+v", got, want)
	}
	if got := containersReadyCondition(pod, nil, nil, corev1.PodFailed); got.reason != "PodFailed" || got.ok {
		t.Errorf("containersReady of a failed pod = %+v, want PodFailed", got)
	}
	if got := containersReadyCondition(pod, nil, []corev1.ContainerStatus{terminated("app", 0), terminated("web", 0)}, corev1.PodSucceeded); got.reason != "PodCompleted" || got.ok {
		t.Errorf("containersReady of a succeeded pod = %+v, want PodCompleted", got)
	}

	gated := pod.DeepCopy()
	gated.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/lb"}, {ConditionType: "example.com/feature"}}
	ready := podCondition{ok: true}
	got = readyCondition(gated, ready, []corev1.PodCondition{{Type: "example.com/feature", Status: corev1.ConditionFalse}})
	want := podCondition{reason: "ReadinessGatesNotReady", message: `corresponding condition of pod readiness gate "example.com/lb" does not exist., the status of pod readiness gate "example.com/feature" is not "True", but False`}
	if got != want {
		t.Errorf("ready with gates = %+v, want %+v", got, want)
	}
	if got := readyCondition(gated, ready, []corev1.PodCondition{{Type: "example.com/lb", Status: corev1.ConditionTrue}, {Type: "example.com/feature", Status: corev1.ConditionTrue}}); !got.ok {
		t.Errorf("ready with every gate True = %+v", got)
	}
}
