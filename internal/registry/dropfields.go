package registry

import corev1 "k8s.io/api/core/v1"

// dropDisabledPodFields clears fields of gates that are off in the
// Kubernetes version berth emulates, as kube-apiserver's
// dropDisabledFields does: on create always, on update unless the old
// object already used the field.
//
// ContainerStopSignals (lifecycle.stopSignal) is off by default through
// 1.37: a kube-apiserver 1.37.2 drops the field on create.
func dropDisabledPodFields(spec, old *corev1.PodSpec) {
	if old != nil && stopSignalInUse(old) {
		return
	}
	eachContainer(spec, func(c *corev1.Container) {
		if c.Lifecycle != nil {
			c.Lifecycle.StopSignal = nil
		}
	})
	for i := range spec.EphemeralContainers {
		if l := spec.EphemeralContainers[i].Lifecycle; l != nil {
			l.StopSignal = nil
		}
	}
}

func stopSignalInUse(spec *corev1.PodSpec) bool {
	used := false
	eachContainer(spec, func(c *corev1.Container) {
		if c.Lifecycle != nil && c.Lifecycle.StopSignal != nil {
			used = true
		}
	})
	return used
}

func eachContainer(spec *corev1.PodSpec, f func(*corev1.Container)) {
	for i := range spec.InitContainers {
		f(&spec.InitContainers[i])
	}
	for i := range spec.Containers {
		f(&spec.Containers[i])
	}
}
