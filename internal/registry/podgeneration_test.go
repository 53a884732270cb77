package registry

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestPreserveObservedGeneration(t *testing.T) {
	old := corev1.PodStatus{ObservedGeneration: 3, Conditions: []corev1.PodCondition{
		{Type: corev1.PodReady, ObservedGeneration: 3}, {Type: "x", ObservedGeneration: 1}, {Type: "x", ObservedGeneration: 2},
	}}
	st := corev1.PodStatus{Conditions: []corev1.PodCondition{
		{Type: corev1.PodReady}, {Type: "x"}, {Type: "x", ObservedGeneration: 5}, {Type: "new"},
	}}
	preserveObservedGeneration(&st, &old)
	if st.ObservedGeneration != 3 {
		t.Errorf("status.observedGeneration %d, want 3 kept", st.ObservedGeneration)
	}
	for i, want := range []int64{3, 1, 5, 0} {
		if got := st.Conditions[i].ObservedGeneration; got != want {
			t.Errorf("condition %d (%s): observedGeneration %d, want %d", i, st.Conditions[i].Type, got, want)
		}
	}
	// A set value is the client's to change.
	st = corev1.PodStatus{ObservedGeneration: 4}
	preserveObservedGeneration(&st, &old)
	if st.ObservedGeneration != 4 {
		t.Errorf("status.observedGeneration %d, want 4", st.ObservedGeneration)
	}
}
