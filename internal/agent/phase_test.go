package agent

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// Container states for the podPhase table.

func running() corev1.ContainerState {
	return corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
}

func exited(code int32) corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code}}
}

func waitingFor(reason string) corev1.ContainerState {
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}
}

// st is a container status; last, when set, is its lastState.
func st(name string, state corev1.ContainerState, last ...corev1.ContainerState) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{Name: name, State: state, Started: ptr.To(state.Running != nil)}
	if len(last) > 0 {
		cs.LastTerminationState = last[0]
	}
	return cs
}

// notStarted is a running container whose startup probe has not passed.
func notStarted(cs corev1.ContainerStatus) corev1.ContainerStatus {
	cs.Started = ptr.To(false)
	return cs
}

func phasePod(policy corev1.RestartPolicy, inits []corev1.Container, names ...string) *corev1.Pod {
	pod := &corev1.Pod{Spec: corev1.PodSpec{RestartPolicy: policy, InitContainers: inits}}
	for _, n := range names {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: n})
	}
	return pod
}

func initC(name string) corev1.Container { return corev1.Container{Name: name} }

func sidecarC(name string) corev1.Container {
	return corev1.Container{Name: name, RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)}
}

// TestPodPhase checks podPhase against the kubelet's getPhase
// (pkg/kubelet/kubelet_pods.go).
func TestPodPhase(t *testing.T) {
	const (
		always    = corev1.RestartPolicyAlways
		onFailure = corev1.RestartPolicyOnFailure
		never     = corev1.RestartPolicyNever
	)
	type tc struct {
		name     string
		pod      *corev1.Pod
		inits    []corev1.ContainerStatus
		statuses []corev1.ContainerStatus
		want     corev1.PodPhase
	}
	tests := []tc{
		// Regular containers only.
		{"creating", phasePod(always, nil, "a"), nil, []corev1.ContainerStatus{st("a", waitingFor("ContainerCreating"))}, corev1.PodPending},
		{"one of two still creating", phasePod(always, nil, "a", "b"), nil,
			[]corev1.ContainerStatus{st("a", running()), st("b", waitingFor("ContainerCreating"))}, corev1.PodPending},
		{"image pull back-off", phasePod(never, nil, "a"), nil, []corev1.ContainerStatus{st("a", waitingFor("ImagePullBackOff"))}, corev1.PodPending},
		{"running", phasePod(always, nil, "a"), nil, []corev1.ContainerStatus{st("a", running())}, corev1.PodRunning},
		{"running and exited 0 / Never", phasePod(never, nil, "a", "b"), nil,
			[]corev1.ContainerStatus{st("a", running()), st("b", exited(0))}, corev1.PodRunning},
		{"running and exited 1 / Never", phasePod(never, nil, "a", "b"), nil,
			[]corev1.ContainerStatus{st("a", running()), st("b", exited(1))}, corev1.PodRunning},

		{"Always: all exited 0", phasePod(always, nil, "a"), nil, []corev1.ContainerStatus{st("a", exited(0))}, corev1.PodRunning},
		{"Always: all exited 1", phasePod(always, nil, "a"), nil, []corev1.ContainerStatus{st("a", exited(1))}, corev1.PodRunning},
		{"Always: crash loop", phasePod(always, nil, "a"), nil,
			[]corev1.ContainerStatus{st("a", waitingFor("CrashLoopBackOff"), exited(1))}, corev1.PodRunning},

		{"OnFailure: all exited 0", phasePod(onFailure, nil, "a", "b"), nil,
			[]corev1.ContainerStatus{st("a", exited(0)), st("b", exited(0))}, corev1.PodSucceeded},
		{"OnFailure: one exited 1", phasePod(onFailure, nil, "a", "b"), nil,
			[]corev1.ContainerStatus{st("a", exited(0)), st("b", exited(1))}, corev1.PodRunning},
		{"OnFailure: waiting to restart after exit 1", phasePod(onFailure, nil, "a"), nil,
			[]corev1.ContainerStatus{st("a", waitingFor("CrashLoopBackOff"), exited(1))}, corev1.PodRunning},

		{"Never: all exited 0", phasePod(never, nil, "a", "b"), nil,
			[]corev1.ContainerStatus{st("a", exited(0)), st("b", exited(0))}, corev1.PodSucceeded},
		{"Never: one exited 1", phasePod(never, nil, "a", "b"), nil,
			[]corev1.ContainerStatus{st("a", exited(0)), st("b", exited(1))}, corev1.PodFailed},
		{"Never: StartError", phasePod(never, nil, "a"), nil, []corev1.ContainerStatus{st("a", exited(128))}, corev1.PodFailed},
		{"Never: killed", phasePod(never, nil, "a"), nil, []corev1.ContainerStatus{st("a", exited(137))}, corev1.PodFailed},

		// Regular init containers.
		{"init running", phasePod(always, []corev1.Container{initC("i")}, "a"),
			[]corev1.ContainerStatus{st("i", running())}, []corev1.ContainerStatus{st("a", waitingFor("PodInitializing"))}, corev1.PodPending},
		{"init waiting", phasePod(always, []corev1.Container{initC("i")}, "a"),
			[]corev1.ContainerStatus{st("i", waitingFor("PodInitializing"))}, []corev1.ContainerStatus{st("a", waitingFor("PodInitializing"))}, corev1.PodPending},
		{"second init not run yet", phasePod(always, []corev1.Container{initC("i"), initC("j")}, "a"),
			[]corev1.ContainerStatus{st("i", exited(0)), st("j", waitingFor("PodInitializing"))},
			[]corev1.ContainerStatus{st("a", waitingFor("PodInitializing"))}, corev1.PodPending},
		{"init done, running", phasePod(always, []corev1.Container{initC("i")}, "a"),
			[]corev1.ContainerStatus{st("i", exited(0))}, []corev1.ContainerStatus{st("a", running())}, corev1.PodRunning},
		{"init done, Never, exited 0", phasePod(never, []corev1.Container{initC("i")}, "a"),
			[]corev1.ContainerStatus{st("i", exited(0))}, []corev1.ContainerStatus{st("a", exited(0))}, corev1.PodSucceeded},
		{"init failed / Never", phasePod(never, []corev1.Container{initC("i")}, "a"),
			[]corev1.ContainerStatus{st("i", exited(1))}, []corev1.ContainerStatus{st("a", waitingFor("PodInitializing"))}, corev1.PodFailed},
		{"init failed and waiting / Never", phasePod(never, []corev1.Container{initC("i")}, "a"),
			[]corev1.ContainerStatus{st("i", waitingFor("PodInitializing"), exited(2))},
			[]corev1.ContainerStatus{st("a", waitingFor("PodInitializing"))}, corev1.PodFailed},
		{"init failed / OnFailure", phasePod(onFailure, []corev1.Container{initC("i")}, "a"),
			[]corev1.ContainerStatus{st("i", exited(1))}, []corev1.ContainerStatus{st("a", waitingFor("PodInitializing"))}, corev1.PodPending},
		{"init crash loop / Always", phasePod(always, []corev1.Container{initC("i")}, "a"),
			[]corev1.ContainerStatus{st("i", waitingFor("CrashLoopBackOff"), exited(1))},
			[]corev1.ContainerStatus{st("a", waitingFor("PodInitializing"))}, corev1.PodPending},

		// Sidecars (restartable init containers).
		{"sidecar started, main running", phasePod(always, []corev1.Container{sidecarC("s")}, "a"),
			[]corev1.ContainerStatus{st("s", running())}, []corev1.ContainerStatus{st("a", running())}, corev1.PodRunning},
		{"sidecar running, not started", phasePod(always, []corev1.Container{sidecarC("s")}, "a"),
			[]corev1.ContainerStatus{notStarted(st("s", running()))}, []corev1.ContainerStatus{st("a", waitingFor("PodInitializing"))}, corev1.PodPending},
		{"sidecar waiting", phasePod(always, []corev1.Container{sidecarC("s")}, "a"),
			[]corev1.ContainerStatus{st("s", waitingFor("PodInitializing"))}, []corev1.ContainerStatus{st("a", waitingFor("PodInitializing"))}, corev1.PodPending},
		{"init then sidecar, init running", phasePod(always, []corev1.Container{initC("i"), sidecarC("s")}, "a"),
			[]corev1.ContainerStatus{st("i", running()), st("s", waitingFor("PodInitializing"))},
			[]corev1.ContainerStatus{st("a", waitingFor("PodInitializing"))}, corev1.PodPending},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := podPhase(tt.pod, tt.inits, tt.statuses); got != tt.want {
				t.Errorf("podPhase = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestPodPhaseSidecarsLikeKubelet: in getPhase a running sidecar counts as
// running, and a sidecar that is restarting (waiting with a lastState) is
// ignored once the pod has initialized. podPhase instead requires every
// sidecar to be started (allInitDone) and never counts sidecars as running.
func TestPodPhaseSidecarsLikeKubelet(t *testing.T) {
	tests := []struct {
		name     string
		pod      *corev1.Pod
		inits    []corev1.ContainerStatus
		statuses []corev1.ContainerStatus
		want     corev1.PodPhase
	}{
		{"sidecar crash-looping after the pod started", phasePod(corev1.RestartPolicyAlways, []corev1.Container{sidecarC("s")}, "a"),
			[]corev1.ContainerStatus{st("s", waitingFor("CrashLoopBackOff"), exited(1))},
			[]corev1.ContainerStatus{st("a", running())}, corev1.PodRunning},
		{"sidecar exited (not yet restarted) after the pod started", phasePod(corev1.RestartPolicyAlways, []corev1.Container{sidecarC("s")}, "a"),
			[]corev1.ContainerStatus{st("s", exited(1))},
			[]corev1.ContainerStatus{st("a", running())}, corev1.PodRunning},
		{"Never: main exited 0 while the sidecar still runs", phasePod(corev1.RestartPolicyNever, []corev1.Container{sidecarC("s")}, "a"),
			[]corev1.ContainerStatus{st("s", running())},
			[]corev1.ContainerStatus{st("a", exited(0))}, corev1.PodRunning},
		{"Never: main exited 0, sidecar stopped", phasePod(corev1.RestartPolicyNever, []corev1.Container{sidecarC("s")}, "a"),
			[]corev1.ContainerStatus{st("s", exited(137))},
			[]corev1.ContainerStatus{st("a", exited(0))}, corev1.PodSucceeded},
		{"Never: sidecar exited 1, main running", phasePod(corev1.RestartPolicyNever, []corev1.Container{sidecarC("s")}, "a"),
			[]corev1.ContainerStatus{st("s", exited(1))},
			[]corev1.ContainerStatus{st("a", running())}, corev1.PodRunning},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := podPhase(tt.pod, tt.inits, tt.statuses); got != tt.want {
				t.Errorf("podPhase = %s, want %s (kubelet getPhase)", got, tt.want)
			}
		})
	}
}

func TestShouldRestart(t *testing.T) {
	tests := []struct {
		policy corev1.RestartPolicy
		code   int32
		want   bool
	}{
		{corev1.RestartPolicyAlways, 0, true},
		{corev1.RestartPolicyAlways, 1, true},
		{corev1.RestartPolicyAlways, 137, true},
		{"", 0, true}, // unset defaults to Always
		{corev1.RestartPolicyOnFailure, 0, false},
		{corev1.RestartPolicyOnFailure, 1, true},
		{corev1.RestartPolicyOnFailure, 128, true},
		{corev1.RestartPolicyOnFailure, -1, true},
		{corev1.RestartPolicyNever, 0, false},
		{corev1.RestartPolicyNever, 1, false},
		{corev1.RestartPolicyNever, 137, false},
	}
	for _, tt := range tests {
		if got := shouldRestart(tt.policy, tt.code); got != tt.want {
			t.Errorf("shouldRestart(%q, %d) = %v, want %v", tt.policy, tt.code, got, tt.want)
		}
	}
}
