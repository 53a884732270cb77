package registry

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestDropDisabledPodFieldsStopSignal(t *testing.T) {
	usr1 := corev1.SIGUSR1
	withSignal := func() *corev1.PodSpec {
		return &corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "i", Lifecycle: &corev1.Lifecycle{StopSignal: &usr1}}},
			Containers:     []corev1.Container{{Name: "c", Lifecycle: &corev1.Lifecycle{StopSignal: &usr1}}},
		}
	}
	spec := withSignal()
	dropDisabledPodFields(spec, nil)
	if stopSignalInUse(spec) {
		t.Error("create: stopSignal kept, want it dropped (ContainerStopSignals is off)")
	}
	spec = withSignal()
	dropDisabledPodFields(spec, &corev1.PodSpec{Containers: []corev1.Container{{Name: "c"}}})
	if stopSignalInUse(spec) {
		t.Error("update of a pod without it: stopSignal kept, want it dropped")
	}
	spec = withSignal()
	dropDisabledPodFields(spec, withSignal())
	if !stopSignalInUse(spec) {
		t.Error("update of a pod that uses it: stopSignal dropped, want it kept")
	}
}
