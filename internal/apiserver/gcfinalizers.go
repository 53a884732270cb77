package apiserver

import (
	"github.com/berth-dev/berth/internal/registry"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// garbageCollectionFinalizers computes an object's finalizers for a delete
// as Kubernetes' generic registry does: the orphan finalizer when dependents
// are to be orphaned, foregroundDeletion when they are to be deleted first,
// neither for Background. The garbage collector then does the work and
// removes the finalizer. The policy comes from the request, else from a
// finalizer the object already carries, else from the resource's default
// (Orphan for batch/v1 Jobs, kept for compatibility; Background elsewhere).
// changed reports whether the finalizers differ from the object's.
func garbageCollectionFinalizers(res *registry.Resource, m metav1.Object, opts *metav1.DeleteOptions) (changed bool, finalizers []string) {
	current := m.GetFinalizers()
	if res.GVR() == corev1.SchemeGroupVersion.WithResource("namespaces") {
		// The namespace controller, not the garbage collector, empties a
		// namespace.
		return false, current
	}
	orphan, foreground := false, false
	switch {
	case opts.OrphanDependents != nil:
		orphan = *opts.OrphanDependents
	case opts.PropagationPolicy != nil:
		orphan = *opts.PropagationPolicy == metav1.DeletePropagationOrphan
		foreground = *opts.PropagationPolicy == metav1.DeletePropagationForeground
	default:
		has := func(f string) bool {
			for _, x := range current {
				if x == f {
					return true
				}
			}
			return false
		}
		switch {
		case has(metav1.FinalizerOrphanDependents):
			orphan = true
		case has(metav1.FinalizerDeleteDependents):
			foreground = true
		default:
			orphan = registry.OrphansByDefault(res)
		}
	}
	for _, f := range current {
		if f != metav1.FinalizerOrphanDependents && f != metav1.FinalizerDeleteDependents {
			finalizers = append(finalizers, f)
		}
	}
	if orphan {
		finalizers = append(finalizers, metav1.FinalizerOrphanDependents)
	}
	if foreground {
		finalizers = append(finalizers, metav1.FinalizerDeleteDependents)
	}
	return !sameSet(current, finalizers), finalizers
}

func sameSet(a, b []string) bool {
	in := func(x string, l []string) bool {
		for _, y := range l {
			if x == y {
				return true
			}
		}
		return false
	}
	for _, x := range a {
		if !in(x, b) {
			return false
		}
	}
	for _, x := range b {
		if !in(x, a) {
			return false
		}
	}
	return true
}
