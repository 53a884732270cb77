package benchkit

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// isRunning: phase Running and every container's state.running set.
func isRunning(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning || len(p.Status.ContainerStatuses) != len(p.Spec.Containers) {
		return false
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.State.Running == nil {
			return false
		}
	}
	return true
}

// wontRun says why p will not run, or "" while it may still.
func wontRun(p *corev1.Pod) string {
	switch p.Status.Phase {
	case corev1.PodFailed, corev1.PodSucceeded:
		return "phase " + string(p.Status.Phase) + ": " + statusLine(p)
	}
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && isWaitingFailure(w.Reason) {
			return fmt.Sprintf("container %s: %s: %s", cs.Name, w.Reason, w.Message)
		}
	}
	return ""
}

// isWaitingFailure tells whether a container waiting for reason will not
// start without a change (or only after a back-off the benchmark should
// not sit through).
func isWaitingFailure(reason string) bool {
	switch reason {
	case "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
		"CreateContainerConfigError", "CreateContainerError", "RunContainerError",
		"CrashLoopBackOff":
		return true
	}
	return false
}

// statusLine is p's status on one line, for error messages.
func statusLine(p *corev1.Pod) string {
	parts := []string{"phase=" + string(p.Status.Phase)}
	if p.Spec.NodeName != "" {
		parts = append(parts, "node="+p.Spec.NodeName)
	}
	for _, cs := range p.Status.ContainerStatuses {
		switch {
		case cs.State.Running != nil:
			parts = append(parts, cs.Name+"=running")
		case cs.State.Waiting != nil:
			parts = append(parts, fmt.Sprintf("%s=waiting(%s: %s)", cs.Name, cs.State.Waiting.Reason, cs.State.Waiting.Message))
		case cs.State.Terminated != nil:
			parts = append(parts, fmt.Sprintf("%s=terminated(%s, exit %d)", cs.Name, cs.State.Terminated.Reason, cs.State.Terminated.ExitCode))
		}
	}
	return strings.Join(parts, " ")
}
