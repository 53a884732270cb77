package agent

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestObserveGeneration(t *testing.T) {
	for _, tc := range []struct {
		name         string
		gen, oldSeen int64
		wantSeen     int64
	}{
		{"first status", 1, 0, 1},
		{"spec updated", 2, 1, 2},
		{"never lowered", 1, 3, 3},
	} {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Generation: tc.gen}}
		st := corev1.PodStatus{ObservedGeneration: tc.oldSeen, Conditions: []corev1.PodCondition{
			{Type: corev1.PodReadyToStartContainers}, {Type: corev1.PodInitialized}, {Type: corev1.ContainersReady},
			{Type: corev1.PodReady}, {Type: corev1.PodScheduled}, {Type: corev1.DisruptionTarget, ObservedGeneration: 7},
			{Type: "example.com/gate"},
		}}
		observeGeneration(pod, &st)
		if st.ObservedGeneration != tc.wantSeen {
			t.Errorf("%s: status.observedGeneration %d, want %d", tc.name, st.ObservedGeneration, tc.wantSeen)
		}
		for _, c := range st.Conditions {
			want := tc.gen
			switch c.Type {
			case corev1.DisruptionTarget:
				want = 7 // not the kubelet's
			case "example.com/gate":
				want = 0
			}
			if c.ObservedGeneration != want {
				t.Errorf("%s: condition %s observedGeneration %d, want %d", tc.name, c.Type, c.ObservedGeneration, want)
			}
		}
	}
}
