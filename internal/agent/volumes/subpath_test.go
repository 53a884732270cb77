package volumes

import (
	"context"
	"github.com/berth-dev/berth/internal/agent/expansion"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestMountsSubPath(t *testing.T) {
	outside := tempDir(t)
	tests := []struct {
		name     string
		vol      corev1.VolumeSource
		mount    corev1.VolumeMount
		prepare  func(t *testing.T, volumeDir string)
		wantHost string // relative to the volume directory
		wantDir  bool   // the subPath was created as a directory
		wantErr  string
	}{
		{name: "configMap key as a file", vol: cmVolume(), mount: corev1.VolumeMount{SubPath: "app.conf"}, wantHost: "..data/app.conf"},
		{name: "emptyDir subdirectory created", vol: emptyDirVolume(), mount: corev1.VolumeMount{SubPath: "a/b"}, wantHost: "a/b", wantDir: true},
		{name: "emptyDir existing file", vol: emptyDirVolume(), mount: corev1.VolumeMount{SubPath: "f"},
			prepare: func(t *testing.T, d string) { mustWrite(t, filepath.Join(d, "f")) }, wantHost: "f"},
		{name: "absolute", vol: emptyDirVolume(), mount: corev1.VolumeMount{SubPath: "/etc"},
			wantErr: "error SubPath `/etc` must not be an absolute path"},
		{name: "backsteps", vol: emptyDirVolume(), mount: corev1.VolumeMount{SubPath: "a/../../etc"},
			wantErr: "unable to provision SubPath `a/../../etc`: must not contain '..'"},
		{name: "symlink escape", vol: emptyDirVolume(), mount: corev1.VolumeMount{SubPath: "evil"},
			prepare: func(t *testing.T, d string) { mustLink(t, outside, filepath.Join(d, "evil")) },
			wantErr: `failed to prepare subPath for volumeMount "v" of container "c"`},
		{name: "symlink escape while creating", vol: emptyDirVolume(), mount: corev1.VolumeMount{SubPath: "evil/new"},
			prepare: func(t *testing.T, d string) { mustLink(t, outside, filepath.Join(d, "evil")) },
			wantErr: `failed to create subPath directory for volumeMount "v" of container "c"`},
		{name: "symlink inside the volume", vol: emptyDirVolume(), mount: corev1.VolumeMount{SubPath: "alias"},
			prepare: func(t *testing.T, d string) {
				if err := os.Mkdir(filepath.Join(d, "real"), 0o755); err != nil {
					t.Fatal(err)
				}
				mustLink(t, "real", filepath.Join(d, "alias"))
			}, wantHost: "real"},
		{name: "subPathExpr from the downward API", vol: emptyDirVolume(), mount: corev1.VolumeMount{SubPathExpr: "logs/$(POD_NAME)"},
			wantHost: "logs/p", wantDir: true},
		{name: "subPathExpr from env and configMapKeyRef", vol: emptyDirVolume(), mount: corev1.VolumeMount{SubPathExpr: "$(DIR)/$(FROM_CM)"},
			wantHost: "base-p/port=80", wantDir: true},
		{name: "subPathExpr missing variables", vol: emptyDirVolume(), mount: corev1.VolumeMount{SubPathExpr: "$(NOPE)/$(EMPTY)/$(POD_NAME)"},
			wantErr: "missing value for EMPTY, NOPE"},
		{name: "subPathExpr expanding to backsteps", vol: emptyDirVolume(), mount: corev1.VolumeMount{SubPathExpr: "$(UP)/x"},
			wantErr: "unable to provision SubPath `../x`: must not contain '..'"},
		{name: "subPathExpr expanding to an absolute path", vol: emptyDirVolume(), mount: corev1.VolumeMount{SubPathExpr: "$(ABS)"},
			wantErr: "error SubPath `/tmp` must not be an absolute path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, configMap("cfg", map[string]string{"app.conf": "port=80"}))
			mnt := tt.mount
			mnt.Name, mnt.MountPath = "v", "/v"
			pod := testPod([]corev1.Volume{{Name: "v", VolumeSource: tt.vol}}, mnt)
			pod.Spec.Containers[0].Env = []corev1.EnvVar{
				{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
				{Name: "DIR", Value: "base-$(POD_NAME)"},
				{Name: "FROM_CM", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "app.conf"}}},
				{Name: "EMPTY", Value: ""},
				{Name: "UP", Value: ".."},
				{Name: "ABS", Value: "/tmp"},
			}
			if tt.prepare != nil {
				// Set the volume up once, then arrange its content.
				setup := testPod(pod.Spec.Volumes)
				if _, err := e.m.Mounts(context.Background(), setup, &setup.Spec.Containers[0], e.podDir); err != nil {
					t.Fatal(err)
				}
				tt.prepare(t, volumeDir(e.podDir, &pod.Spec.Volumes[0]))
			}
			mounts, err := e.m.Mounts(context.Background(), pod, &pod.Spec.Containers[0], e.podDir)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), outside) {
					t.Errorf("error reveals a host path: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			vdir := volumeDir(e.podDir, &pod.Spec.Volumes[0])
			want, _ := filepath.EvalSymlinks(filepath.Join(vdir, tt.wantHost))
			target := filepath.Join(e.podDir, "volume-subpaths", "v", "c", "0")
			if mounts[0].HostPath != target {
				t.Errorf("host path %s, want the bind mount %s", mounts[0].HostPath, target)
			}
			pinned := e.mnt.binds[target]
			if pinned != want {
				t.Errorf("bind mount of %s, want %s", pinned, want)
			}
			if !strings.HasPrefix(pinned, vdir+"/") {
				t.Errorf("pinned %s outside the volume %s", pinned, vdir)
			}
			if tt.wantDir {
				if got := mode(t, pinned); got != 0o777 {
					t.Errorf("created subPath mode %o, want the volume's 777", got)
				}
			}
		})
	}
}

func TestExpand(t *testing.T) {
	env := map[string]string{"A": "a", "B": "b"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	tests := map[string]string{
		"$(A)-$(B)":  "a-b",
		"$$(A)":      "$(A)",
		"$(C)":       "$(C)",
		"$(A":        "$(A",
		"$A":         "$A",
		"x$":         "x$",
		"$()":        "$()",
		"pre$(A)suf": "preasuf",
	}
	for in, want := range tests {
		if got := expansion.Expand(in, lookup); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func cmVolume() corev1.VolumeSource {
	return corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}
}

func emptyDirVolume() corev1.VolumeSource {
	return corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
}

func mustWrite(t *testing.T, p string) {
	t.Helper()
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func mustLink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}
