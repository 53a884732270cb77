package agent

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// The image's user is read once per image ID, not once per container.
func TestImageConfigCachedByImageID(t *testing.T) {
	w := newWorld(t)
	w.startAgent()
	var pods []*corev1.Pod
	for _, name := range []string{"one", "two", "three"} {
		pods = append(pods, w.createPod(newTestPod(name, corev1.RestartPolicyAlways, corev1.Container{Name: "app", Image: testImage})))
	}
	for _, p := range pods {
		w.runningContainer(p.UID, "app")
	}
	byID := 0
	for _, c := range w.calls("ImageStatus") {
		if strings.HasPrefix(c.ID, "sha256:") {
			byID++
		}
	}
	if byID != 1 {
		t.Errorf("%d ImageStatus calls by image ID for 3 containers of one image, want 1", byID)
	}
}
