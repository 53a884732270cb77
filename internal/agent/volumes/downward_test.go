package volumes

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestVolumeFieldValue(t *testing.T) {
	pod := testPod(nil)
	pod.Labels = map[string]string{"tier": "db", "app": "web"}
	pod.Annotations = map[string]string{"quote": `say "hi"`}
	tests := []struct {
		path, want, wantErr string
	}{
		{path: "metadata.name", want: "p"},
		{path: "metadata.namespace", want: "ns"},
		{path: "metadata.uid", want: "uid1"},
		{path: "metadata.labels", want: "app=\"web\"\ntier=\"db\""},
		{path: "metadata.annotations", want: `quote="say \"hi\""`},
		{path: "metadata.labels['tier']", want: "db"},
		{path: "metadata.labels['none']", want: ""},
		{path: "metadata.annotations['quote']", want: `say "hi"`},
		{path: "spec.nodeName", wantErr: "unsupported fieldPath: spec.nodeName"},
		{path: "metadata.name['x']", wantErr: `fieldPath "metadata.name['x']" does not support subscript`},
	}
	for _, tt := range tests {
		got, err := volumeFieldValue(pod, tt.path)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("%s: error %v, want %q", tt.path, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s = %q, %v; want %q", tt.path, got, err, tt.want)
		}
	}
}

func TestResourceFieldValue(t *testing.T) {
	pod := testPod(nil) // c: limits cpu 250m memory 64Mi; requests cpu 100m memory 32Mi
	pod.Spec.InitContainers = []corev1.Container{{Name: "init"}}
	pod.Spec.Containers[0].Resources.Limits[corev1.ResourceName("hugepages-2Mi")] = resource.MustParse("4Mi")
	tests := []struct {
		container, res, divisor, want, wantErr string
	}{
		{container: "c", res: "limits.cpu", want: "1"},
		{container: "c", res: "limits.cpu", divisor: "1m", want: "250"},
		{container: "c", res: "requests.cpu", divisor: "1m", want: "100"},
		{container: "c", res: "limits.memory", want: "67108864"},
		{container: "c", res: "limits.memory", divisor: "1Mi", want: "64"},
		{container: "c", res: "requests.memory", divisor: "1Mi", want: "32"},
		{container: "c", res: "requests.memory", divisor: "1Gi", want: "1"},            // rounded up
		{container: "c", res: "limits.ephemeral-storage", divisor: "1Gi", want: "100"}, // node allocatable
		{container: "c", res: "requests.ephemeral-storage", want: "0"},
		{container: "c", res: "limits.hugepages-2Mi", divisor: "1Mi", want: "4"},
		{container: "init", res: "limits.cpu", want: "4"}, // no limit: node allocatable
		{container: "init", res: "limits.memory", divisor: "1Gi", want: "8"},
		{container: "init", res: "requests.cpu", want: "0"},
		{container: "nope", res: "limits.cpu", wantErr: "container nope not found"},
		{container: "c", res: "limits.gpu", wantErr: "unsupported container resource : limits.gpu"},
	}
	for _, tt := range tests {
		ref := &corev1.ResourceFieldSelector{Resource: tt.res}
		if tt.divisor != "" {
			ref.Divisor = resource.MustParse(tt.divisor)
		}
		got, err := resourceFieldValue(pod, ref, tt.container, testAlloc)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("%s %s: error %v, want %q", tt.container, tt.res, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s %s /%s = %q, %v; want %q", tt.container, tt.res, tt.divisor, got, err, tt.want)
		}
	}
}

func TestResourceFieldValuePodLevelLimit(t *testing.T) {
	pod := testPod(nil)
	pod.Spec.Containers[0].Resources = corev1.ResourceRequirements{}
	pod.Spec.Resources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}}
	got, err := resourceFieldValue(pod, &corev1.ResourceFieldSelector{Resource: "limits.cpu"}, "c", testAlloc)
	if err != nil || got != "2" {
		t.Errorf("limits.cpu = %q, %v; want the pod-level 2", got, err)
	}
}

func TestDownwardAPIPayload(t *testing.T) {
	pod := testPod(nil)
	items := []corev1.DownwardAPIVolumeFile{
		{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
		{Path: "meta/name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}, Mode: ptr(int32(0o400))},
		{Path: "mem", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "c", Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}},
	}
	got, err := downwardAPIPayload(items, pod, 0o644, testAlloc)
	checkPayload(t, got, err, payload{
		"labels":    {Data: []byte(`app="web"`), Mode: 0o644},
		"meta/name": {Data: []byte("p"), Mode: 0o400},
		"mem":       {Data: []byte("64"), Mode: 0o644},
	}, "")

	bad := append(items, corev1.DownwardAPIVolumeFile{Path: "x", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}})
	if _, err := downwardAPIPayload(bad, pod, 0o644, testAlloc); err == nil || err.Error() != "unsupported fieldPath: status.podIP" {
		t.Errorf("error %v, want unsupported fieldPath: status.podIP", err)
	}
}
