package agent

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// The kubelet's pod conditions (pkg/kubelet/status/generate.go): each
// with Kubernetes' reasons and messages.

type podCondition struct {
	ok              bool
	reason, message string
}

// initializedCondition is GeneratePodInitializedCondition.
func initializedCondition(pod *corev1.Pod, initStatuses, statuses []corev1.ContainerStatus, phase corev1.PodPhase) podCondition {
	var unknown, incomplete []string
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		cs := findStatus(initStatuses, c.Name)
		if isRestartable(c) {
			if cs != nil && cs.Started != nil && *cs.Started {
				continue
			}
			incomplete = append(incomplete, c.Name)
			continue
		}
		switch {
		case cs == nil:
			unknown = append(unknown, c.Name)
		case cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 0:
			incomplete = append(incomplete, c.Name)
		}
	}
	if phase == corev1.PodSucceeded && len(unknown) == 0 {
		return podCondition{ok: true, reason: "PodCompleted"}
	}
	// A regular container that started means the pod was initialized.
	for i := range pod.Spec.Containers {
		if cs := findStatus(statuses, pod.Spec.Containers[i].Name); cs != nil &&
			(cs.State.Running != nil || cs.State.Terminated != nil || cs.LastTerminationState.Terminated != nil) {
			return podCondition{ok: true}
		}
	}
	if msg := unreadyMessage(unknown, "containers with incomplete status: %s", incomplete); msg != "" {
		return podCondition{reason: "ContainersNotInitialized", message: msg}
	}
	return podCondition{ok: true}
}

// containersReadyCondition is GenerateContainersReadyCondition.
func containersReadyCondition(pod *corev1.Pod, initStatuses, statuses []corev1.ContainerStatus, phase corev1.PodPhase) podCondition {
	var unknown, unready []string
	check := func(name string, list []corev1.ContainerStatus) {
		cs := findStatus(list, name)
		switch {
		case cs == nil:
			unknown = append(unknown, name)
		case !cs.Ready:
			unready = append(unready, name)
		}
	}
	for i := range pod.Spec.InitContainers {
		if isRestartable(&pod.Spec.InitContainers[i]) {
			check(pod.Spec.InitContainers[i].Name, initStatuses)
		}
	}
	for i := range pod.Spec.Containers {
		check(pod.Spec.Containers[i].Name, statuses)
	}
	switch {
	case phase == corev1.PodSucceeded && len(unknown) == 0:
		return podCondition{reason: "PodCompleted"}
	case phase == corev1.PodFailed:
		return podCondition{reason: "PodFailed"}
	}
	if msg := unreadyMessage(unknown, "containers with unready status: %s", unready); msg != "" {
		return podCondition{reason: "ContainersNotReady", message: msg}
	}
	return podCondition{ok: true}
}

// readyCondition is GeneratePodReadyCondition: ContainersReady, and every
// readiness gate's condition True.
func readyCondition(pod *corev1.Pod, containersReady podCondition, conditions []corev1.PodCondition) podCondition {
	if !containersReady.ok {
		return containersReady
	}
	var msgs []string
	for _, rg := range pod.Spec.ReadinessGates {
		c := findCondition(conditions, rg.ConditionType)
		switch {
		case c == nil:
			msgs = append(msgs, fmt.Sprintf("corresponding condition of pod readiness gate %q does not exist.", string(rg.ConditionType)))
		case c.Status != corev1.ConditionTrue:
			msgs = append(msgs, fmt.Sprintf("the status of pod readiness gate %q is not \"True\", but %v", string(rg.ConditionType), c.Status))
		}
	}
	if len(msgs) > 0 {
		return podCondition{reason: "ReadinessGatesNotReady", message: strings.Join(msgs, ", ")}
	}
	return podCondition{ok: true}
}

func unreadyMessage(unknown []string, format string, names []string) string {
	var msgs []string
	if len(unknown) > 0 {
		msgs = append(msgs, fmt.Sprintf("containers with unknown status: %s", unknown))
	}
	if len(names) > 0 {
		msgs = append(msgs, fmt.Sprintf(format, names))
	}
	return strings.Join(msgs, ", ")
}

func findStatus(list []corev1.ContainerStatus, name string) *corev1.ContainerStatus {
	for i := range list {
		if list[i].Name == name {
			return &list[i]
		}
	}
	return nil
}

func findCondition(list []corev1.PodCondition, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range list {
		if list[i].Type == t {
			return &list[i]
		}
	}
	return nil
}
