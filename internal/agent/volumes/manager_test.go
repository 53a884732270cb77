package volumes

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestNewRequiresClient(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("New accepted a config without Client")
	}
}

// One pod with every supported volume type, mounted into one container.
func TestMountsAllTypes(t *testing.T) {
	hostDir := tempDir(t)
	e := newTestEnv(t,
		configMap("cfg", map[string]string{"app.conf": "port=80", "other": "x"}),
		secret("creds", map[string]string{"password": "s3cr3t-value"}),
	)
	vols := []corev1.Volume{
		{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: hostDir, Type: ptr(corev1.HostPathDirectory)}}},
		{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"},
			Items:                []corev1.KeyToPath{{Key: "app.conf", Path: "app.conf", Mode: ptr(int32(0o600))}},
		}}},
		{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds", DefaultMode: ptr(int32(0o400))}}},
		{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
			{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
			{Path: "cpu", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "c", Resource: "limits.cpu", Divisor: resource.MustParse("1m")}},
		}}}},
		{Name: "all", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}}},
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
		}}}},
	}
	pod := testPod(vols,
		corev1.VolumeMount{Name: "scratch", MountPath: "/scratch"},
		corev1.VolumeMount{Name: "host", MountPath: "/host", ReadOnly: true},
		corev1.VolumeMount{Name: "config", MountPath: "/etc/app"},
		corev1.VolumeMount{Name: "creds", MountPath: "/etc/creds"},
		corev1.VolumeMount{Name: "info", MountPath: "/etc/info"},
		corev1.VolumeMount{Name: "all", MountPath: "/var/run/all"},
	)
	mounts, err := e.m.Mounts(context.Background(), pod, &pod.Spec.Containers[0], e.podDir)
	if err != nil {
		t.Fatal(err)
	}
	vd := filepath.Join(e.podDir, "volumes")
	want := []*runtimeapi.Mount{
		{ContainerPath: "/scratch", HostPath: filepath.Join(vd, "kubernetes.io~empty-dir/scratch")},
		{ContainerPath: "/host", HostPath: hostDir, Readonly: true},
		{ContainerPath: "/etc/app", HostPath: filepath.Join(vd, "kubernetes.io~configmap/config"), Readonly: true},
		{ContainerPath: "/etc/creds", HostPath: filepath.Join(vd, "kubernetes.io~secret/creds"), Readonly: true},
		{ContainerPath: "/etc/info", HostPath: filepath.Join(vd, "kubernetes.io~downward-api/info"), Readonly: true},
		{ContainerPath: "/var/run/all", HostPath: filepath.Join(vd, "kubernetes.io~projected/all"), Readonly: true},
	}
	if len(mounts) != len(want) {
		t.Fatalf("%d mounts, want %d", len(mounts), len(want))
	}
	for i, w := range want {
		g := mounts[i]
		if g.ContainerPath != w.ContainerPath || g.HostPath != w.HostPath || g.Readonly != w.Readonly || g.SelinuxRelabel {
			t.Errorf("mount %d = %v, want %v", i, g, w)
		}
	}

	if got := mode(t, want[0].HostPath); got != 0o777 {
		t.Errorf("emptyDir mode %o, want 777", got)
	}
	files := map[string]struct {
		content string
		mode    os.FileMode
	}{
		"kubernetes.io~configmap/config/app.conf": {"port=80", 0o600},
		"kubernetes.io~secret/creds/password":     {"s3cr3t-value", 0o400},
		"kubernetes.io~downward-api/info/labels":  {`app="web"`, 0o644},
		"kubernetes.io~downward-api/info/cpu":     {"250", 0o644},
		"kubernetes.io~projected/all/app.conf":    {"port=80", 0o644},
		"kubernetes.io~projected/all/other":       {"x", 0o644},
		"kubernetes.io~projected/all/password":    {"s3cr3t-value", 0o644},
	}
	for rel, w := range files {
		p := filepath.Join(vd, rel)
		if got := readFile(t, p); got != w.content {
			t.Errorf("%s = %q, want %q", rel, got, w.content)
		}
		if got := mode(t, p); got != w.mode {
			t.Errorf("%s mode %o, want %o", rel, got, w.mode)
		}
		if target, err := os.Readlink(p); err != nil || !strings.HasPrefix(target, "..data/") {
			t.Errorf("%s -> %q (%v), want a link through ..data", rel, target, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(vd, "kubernetes.io~configmap/config/other")); !os.IsNotExist(err) {
		t.Errorf("configMap item not listed was written (%v)", err)
	}
	if _, err := os.Lstat(filepath.Join(vd, "kubernetes.io~projected/all/token")); !os.IsNotExist(err) {
		t.Errorf("serviceAccountToken file written (%v)", err)
	}
	// Secret and projected volumes are on tmpfs; the others are not.
	for _, name := range []string{"kubernetes.io~secret/creds", "kubernetes.io~projected/all"} {
		if _, ok := e.mnt.mounted[filepath.Join(vd, name)]; !ok {
			t.Errorf("%s not on tmpfs", name)
		}
	}
	if len(e.mnt.mounted) != 2 {
		t.Errorf("mounted %v, want only the secret and projected volumes", e.mnt.mounted)
	}
	if got := mode(t, filepath.Join(vd, "kubernetes.io~secret")); got != 0o700 {
		t.Errorf("secret plugin dir mode %o, want 700", got)
	}

	logs := e.log.String()
	if !strings.Contains(logs, "skipping projected serviceAccountToken source") {
		t.Errorf("no log line for the skipped token:\n%s", logs)
	}
	if strings.Contains(logs, "s3cr3t-value") {
		t.Errorf("secret value logged:\n%s", logs)
	}

	// A second container (or a restart) sets up again: idempotent, the
	// emptyDir keeps its content, nothing is re-mounted, no token re-log.
	if err := os.WriteFile(filepath.Join(want[0].HostPath, "keep"), []byte("k"), 0o644); err != nil {
		t.Fatal(err)
	}
	before, _ := os.Readlink(filepath.Join(vd, "kubernetes.io~configmap/config/..data"))
	if _, err := e.m.Mounts(context.Background(), pod, &pod.Spec.Containers[0], e.podDir); err != nil {
		t.Fatal(err)
	}
	after, _ := os.Readlink(filepath.Join(vd, "kubernetes.io~configmap/config/..data"))
	if before != after {
		t.Errorf("unchanged configMap rewritten: %s -> %s", before, after)
	}
	if readFile(t, filepath.Join(want[0].HostPath, "keep")) != "k" {
		t.Error("emptyDir content lost")
	}
	if n := strings.Count(e.log.String(), "skipping projected serviceAccountToken"); n != 1 {
		t.Errorf("token skip logged %d times, want once", n)
	}
}

func TestMountsSetUpErrors(t *testing.T) {
	tests := []struct {
		name      string
		vol       corev1.VolumeSource
		wantErr   string
		notFound  bool
		wantEvent string
	}{
		{name: "missing configmap", vol: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "x"}}},
			wantErr: `configmap "x" not found`, notFound: true, wantEvent: `MountVolume.SetUp failed for volume "v" : configmap "x" not found`},
		{name: "missing secret", vol: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "x"}},
			wantErr: `secret "x" not found`, notFound: true, wantEvent: `MountVolume.SetUp failed for volume "v" : secret "x" not found`},
		{name: "missing key", vol: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"},
			Items: []corev1.KeyToPath{{Key: "nope", Path: "n"}}}},
			wantErr: "configmap references non-existent config key: nope"},
		{name: "missing projected secret", vol: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "x"}}}}}},
			wantErr: `secret "x" not found`},
		{name: "hostPath type", vol: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: "/dev/null", Type: ptr(corev1.HostPathDirectory)}},
			wantErr: "hostPath type check failed: /dev/null is not a directory, it's a CharDevice"},
		{name: "unsupported type", vol: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "c"}},
			wantErr: `volume type "persistentVolumeClaim" is not supported by berth (supported: emptyDir, hostPath, configMap, secret, downwardAPI, projected)`},
		{name: "hugepages emptyDir", vol: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumHugePages}},
			wantErr: `emptyDir medium "HugePages" is not supported by berth`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, configMap("cfg", map[string]string{"a": "A"}))
			pod := testPod([]corev1.Volume{{Name: "v", VolumeSource: tt.vol}}, corev1.VolumeMount{Name: "v", MountPath: "/v"})
			_, err := e.m.Mounts(context.Background(), pod, &pod.Spec.Containers[0], e.podDir)
			var se *SetUpError
			if !errors.As(err, &se) {
				t.Fatalf("error %v (%T), want a *SetUpError", err, err)
			}
			if se.Volume != "v" || err.Error() != tt.wantErr {
				t.Errorf("error %q for volume %q, want %q for v", err, se.Volume, tt.wantErr)
			}
			if apierrors.IsNotFound(err) != tt.notFound {
				t.Errorf("IsNotFound = %v, want %v", apierrors.IsNotFound(err), tt.notFound)
			}
			if tt.wantEvent != "" && se.EventMessage() != tt.wantEvent {
				t.Errorf("event %q, want %q", se.EventMessage(), tt.wantEvent)
			}
		})
	}
}

func TestMountsOptionalSources(t *testing.T) {
	e := newTestEnv(t)
	pod := testPod([]corev1.Volume{
		{Name: "cm", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "absent"}, Optional: ptr(true)}}},
		{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "absent", Optional: ptr(true),
			Items: []corev1.KeyToPath{{Key: "k", Path: "k"}}}}},
	}, corev1.VolumeMount{Name: "cm", MountPath: "/cm"}, corev1.VolumeMount{Name: "sec", MountPath: "/sec"})
	mounts, err := e.m.Mounts(context.Background(), pod, &pod.Spec.Containers[0], e.podDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, mt := range mounts {
		if got := listing(t, mt.HostPath); len(got) != 0 {
			t.Errorf("%s holds %v, want an empty volume", mt.ContainerPath, got)
		}
		if _, err := os.Readlink(filepath.Join(mt.HostPath, "..data")); err != nil {
			t.Errorf("%s has no ..data: %v", mt.ContainerPath, err)
		}
	}
}

func TestMountsUnknownVolume(t *testing.T) {
	e := newTestEnv(t)
	pod := testPod(nil, corev1.VolumeMount{Name: "ghost", MountPath: "/g"})
	_, err := e.m.Mounts(context.Background(), pod, &pod.Spec.Containers[0], e.podDir)
	if err == nil || err.Error() != `cannot find volume "ghost" to mount into container "c"` {
		t.Fatalf("error %v", err)
	}
	var se *SetUpError
	if errors.As(err, &se) {
		t.Error("a bad mount is not a volume set-up failure")
	}
}

func TestMountsSecretFallbackWithoutTmpfs(t *testing.T) {
	e := newTestEnv(t, secret("creds", map[string]string{"k": "v"}))
	e.mnt.mountErr = &os.PathError{Op: "mount tmpfs", Path: "x", Err: syscall.EPERM}
	pod := testPod([]corev1.Volume{
		{Name: "a", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds"}}},
		{Name: "b", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds"}}},
	}, corev1.VolumeMount{Name: "a", MountPath: "/a"})
	mounts, err := e.m.Mounts(context.Background(), pod, &pod.Spec.Containers[0], e.podDir)
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(mounts[0].HostPath, "k")); got != "v" {
		t.Errorf("k = %q", got)
	}
	plugin := filepath.Dir(mounts[0].HostPath)
	if got := mode(t, plugin); got != 0o700 {
		t.Errorf("%s mode %o, want 700", plugin, got)
	}
	if n := strings.Count(e.log.String(), "cannot mount tmpfs"); n != 1 {
		t.Errorf("tmpfs fallback warned %d times, want once:\n%s", n, e.log.String())
	}
}

func TestMountsMemoryEmptyDir(t *testing.T) {
	tests := []struct {
		name      string
		sizeLimit string
		podLimit  bool
		want      int64
	}{
		{name: "no limits: node memory", want: 8 << 30},
		{name: "pod memory limit", podLimit: true, want: 64 << 20},
		{name: "sizeLimit below the pod limit", sizeLimit: "16Mi", podLimit: true, want: 16 << 20},
		{name: "sizeLimit above the pod limit", sizeLimit: "1Gi", podLimit: true, want: 64 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t)
			src := &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}
			if tt.sizeLimit != "" {
				src.SizeLimit = ptr(resource.MustParse(tt.sizeLimit))
			}
			pod := testPod([]corev1.Volume{{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: src}}},
				corev1.VolumeMount{Name: "mem", MountPath: "/mem"})
			if !tt.podLimit {
				pod.Spec.Containers[0].Resources = corev1.ResourceRequirements{}
			}
			mounts, err := e.m.Mounts(context.Background(), pod, &pod.Spec.Containers[0], e.podDir)
			if err != nil {
				t.Fatal(err)
			}
			if got, ok := e.mnt.mounted[mounts[0].HostPath]; !ok || got != tt.want {
				t.Errorf("tmpfs size %d (mounted %v), want %d", got, ok, tt.want)
			}
		})
	}

	e := newTestEnv(t)
	e.mnt.mountErr = syscall.EPERM
	pod := testPod([]corev1.Volume{{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}}})
	_, err := e.m.Mounts(context.Background(), pod, &pod.Spec.Containers[0], e.podDir)
	var se *SetUpError
	if !errors.As(err, &se) || !errors.Is(err, syscall.EPERM) {
		t.Errorf("error %v, want a SetUpError wrapping EPERM: a Memory emptyDir does not fall back to disk", err)
	}
}

func TestPodMemoryLimit(t *testing.T) {
	lim := func(s string) corev1.ResourceRequirements {
		return corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(s)}}
	}
	always := ptr(corev1.ContainerRestartPolicyAlways)
	tests := []struct {
		name string
		spec corev1.PodSpec
		want int64
	}{
		{"sum of containers", corev1.PodSpec{Containers: []corev1.Container{{Resources: lim("1Mi")}, {Resources: lim("2Mi")}}}, 3 << 20},
		{"one unlimited", corev1.PodSpec{Containers: []corev1.Container{{Resources: lim("1Mi")}, {}}}, 0},
		{"big init", corev1.PodSpec{InitContainers: []corev1.Container{{Resources: lim("10Mi")}}, Containers: []corev1.Container{{Resources: lim("1Mi")}}}, 10 << 20},
		{"sidecar adds", corev1.PodSpec{InitContainers: []corev1.Container{{Resources: lim("2Mi"), RestartPolicy: always}}, Containers: []corev1.Container{{Resources: lim("1Mi")}}}, 3 << 20},
		{"overhead", corev1.PodSpec{Containers: []corev1.Container{{Resources: lim("1Mi")}}, Overhead: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Mi")}}, 2 << 20},
		{"pod level", corev1.PodSpec{Resources: ptr(lim("5Mi")), Containers: []corev1.Container{{}}}, 5 << 20},
	}
	for _, tt := range tests {
		if got := podMemoryLimit(&corev1.Pod{Spec: tt.spec}); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestMountsFSGroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing a file's group to an arbitrary fsGroup needs root")
	}
	e := newTestEnv(t, configMap("cfg", map[string]string{"a": "A"}))
	pod := testPod([]corev1.Volume{
		{Name: "cm", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, DefaultMode: ptr(int32(0o600))}}},
		{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}, corev1.VolumeMount{Name: "cm", MountPath: "/cm"}, corev1.VolumeMount{Name: "data", MountPath: "/data"})
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{FSGroup: ptr(int64(4242))}
	mounts, err := e.m.Mounts(context.Background(), pod, &pod.Spec.Containers[0], e.podDir)
	if err != nil {
		t.Fatal(err)
	}
	check := func(p string, wantMode os.FileMode) {
		t.Helper()
		info, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if gid := info.Sys().(*syscall.Stat_t).Gid; gid != 4242 {
			t.Errorf("%s group %d, want 4242", p, gid)
		}
		if got := info.Mode() & (os.ModePerm | os.ModeSetgid); got != wantMode {
			t.Errorf("%s mode %v, want %v", p, got, wantMode)
		}
	}
	check(filepath.Join(mounts[0].HostPath, "a"), 0o640) // 0600 | g+r
	check(mounts[1].HostPath, 0o777|os.ModeSetgid)
}
