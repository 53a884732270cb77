package serviceaccount

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestMountServiceAccountToken(t *testing.T) {
	no, yes := false, true
	tests := []struct {
		name         string
		podAuto      *bool
		saAuto       *bool
		existingPath bool
		wantVolume   bool
	}{
		{name: "default mounts", wantVolume: true},
		{name: "pod false", podAuto: &no},
		{name: "account false", saAuto: &no},
		{name: "pod true wins over account false", podAuto: &yes, saAuto: &no, wantVolume: true},
		{name: "every container already mounts the path", existingPath: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{Spec: corev1.PodSpec{AutomountServiceAccountToken: tt.podAuto,
				InitContainers: []corev1.Container{{Name: "i"}}, Containers: []corev1.Container{{Name: "c"}}}}
			if tt.existingPath {
				for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
					cs[0].VolumeMounts = []corev1.VolumeMount{{Name: "mine", MountPath: DefaultAPITokenMountPath}}
				}
			}
			sa := &corev1.ServiceAccount{AutomountServiceAccountToken: tt.saAuto}
			if shouldAutomount(sa, pod) {
				mountServiceAccountToken(pod)
			}
			if got := len(pod.Spec.Volumes) == 1; got != tt.wantVolume {
				t.Fatalf("volume added = %v, want %v", got, tt.wantVolume)
			}
			if !tt.wantVolume {
				return
			}
			v := pod.Spec.Volumes[0]
			if !strings.HasPrefix(v.Name, "kube-api-access-") || len(v.Name) != len("kube-api-access-")+5 {
				t.Errorf("volume name %q", v.Name)
			}
			src := v.Projected
			if src == nil || len(src.Sources) != 3 || *src.DefaultMode != 0o644 || *src.Sources[0].ServiceAccountToken.ExpirationSeconds != 3607 ||
				src.Sources[1].ConfigMap.Name != "kube-root-ca.crt" || src.Sources[2].DownwardAPI.Items[0].Path != "namespace" {
				t.Errorf("projected source %+v", src)
			}
			for _, c := range append(pod.Spec.InitContainers, pod.Spec.Containers...) {
				if len(c.VolumeMounts) != 1 || c.VolumeMounts[0].Name != v.Name || !c.VolumeMounts[0].ReadOnly || c.VolumeMounts[0].MountPath != DefaultAPITokenMountPath {
					t.Errorf("container %s mounts %+v", c.Name, c.VolumeMounts)
				}
			}
		})
	}
}
