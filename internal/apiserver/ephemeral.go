package apiserver

import (
	"github.com/berth-dev/berth/internal/registry/validation"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// pods/ephemeralcontainers (kubectl debug) is an update of the pod that
// may change nothing but spec.ephemeralContainers, as Kubernetes'
// podEphemeralContainersStrategy: the rest of the spec, the status and the
// metadata a status write cannot change come from the stored pod. The
// spec changed, so metadata.generation counts it (applyUpdate).

// prepareEphemeralContainersUpdate keeps only desired's ephemeral
// containers, on top of current.
func prepareEphemeralContainersUpdate(desired, current runtime.Object) {
	p, ok := desired.(*corev1.Pod)
	o, ok2 := current.(*corev1.Pod)
	if !ok || !ok2 {
		return
	}
	ecs := p.Spec.EphemeralContainers
	p.Spec = *o.Spec.DeepCopy()
	p.Spec.EphemeralContainers = ecs
	p.Status = *o.Status.DeepCopy()
	// metav1.ResetObjectMetaForStatus
	p.DeletionTimestamp = o.DeletionTimestamp
	p.Generation = o.Generation
	p.Labels = o.Labels
	p.Annotations = o.Annotations
	p.Finalizers = o.Finalizers
	p.OwnerReferences = o.OwnerReferences
}

// validateEphemeralContainersUpdate: ephemeral containers may only be
// added, and the pod must stay valid (no ports, probes, resources or
// lifecycle on an ephemeral container; unique names; a target that is a
// container of the pod).
func validateEphemeralContainersUpdate(desired, current runtime.Object) field.ErrorList {
	p, ok := desired.(*corev1.Pod)
	o, ok2 := current.(*corev1.Pod)
	if !ok || !ok2 {
		return nil
	}
	return validation.ValidatePodEphemeralContainersUpdate(p, o)
}
