package agent

import (
	corev1 "k8s.io/api/core/v1"
)

// isReady reports a running container's readiness. Without a readiness
// probe a running container is ready.
func (a *Agent) isReady(pod *corev1.Pod, c *corev1.Container, containerID string) bool {
	if c.ReadinessProbe == nil {
		return true
	}
	return a.probes.Ready(pod.UID, c.Name, containerID)
}

// isStarted reports whether a running container passed its startup probe.
func (a *Agent) isStarted(pod *corev1.Pod, c *corev1.Container, containerID string) bool {
	if c.StartupProbe == nil {
		return true
	}
	return a.probes.Started(pod.UID, c.Name, containerID)
}
