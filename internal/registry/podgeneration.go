package registry

import corev1 "k8s.io/api/core/v1"

// preserveObservedGeneration keeps the observedGeneration values a status
// write leaves out (a client that does not know the field), as Kubernetes'
// pod status strategy does: the pod's, and each condition's by type and
// position among the conditions of that type.
func preserveObservedGeneration(st, old *corev1.PodStatus) {
	if st.ObservedGeneration == 0 {
		st.ObservedGeneration = old.ObservedGeneration
	}
	olds := map[corev1.PodConditionType][]int64{}
	for _, c := range old.Conditions {
		olds[c.Type] = append(olds[c.Type], c.ObservedGeneration)
	}
	for i := range st.Conditions {
		c := &st.Conditions[i]
		var g int64
		if gs := olds[c.Type]; len(gs) > 0 {
			g, olds[c.Type] = gs[0], gs[1:]
		}
		if c.ObservedGeneration == 0 {
			c.ObservedGeneration = g
		}
	}
}
