package agent

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// isReady reports a running container's readiness. Without a readiness
// probe a running container is ready.
func (a *Agent) isReady(pod *corev1.Pod, c *corev1.Container, containerID string) bool {
	if c.ReadinessProbe == nil {
		return true
	}
	if a.probes == nil {
		return false
	}
	return a.probes.Ready(pod.UID, c.Name, containerID)
}

// Prober keeps probe results per container instance.
type Prober interface {
	// Ready is the readiness result of the container instance.
	Ready(pod types.UID, container, containerID string) bool
}
