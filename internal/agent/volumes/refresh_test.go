package volumes

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func refreshPod() *corev1.Pod {
	return testPod([]corev1.Volume{
		{Name: "cm", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
		{Name: "sec", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "creds"}}},
		{Name: "opt", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "maybe"}, Optional: ptr(true)}}},
		{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
			{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}}}}}},
		{Name: "proj", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}}}}}},
	})
}

func TestRefresh(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name   string
		change func(t *testing.T, e *testEnv, pod *corev1.Pod)
		want   map[string]string // volume/file → content; "" means absent
		swap   []string          // volumes whose ..data must have moved
		logs   string
	}{
		{name: "nothing changed", change: func(*testing.T, *testEnv, *corev1.Pod) {},
			want: map[string]string{"cm/a": "1", "sec/s": "old", "proj/a": "1"}},
		{name: "configmap updated", change: func(t *testing.T, e *testEnv, _ *corev1.Pod) {
			update(t, e, configMap("cfg", map[string]string{"a": "2", "b": "new"}))
		}, want: map[string]string{"cm/a": "2", "cm/b": "new", "proj/a": "2", "proj/b": "new", "sec/s": "old"}, swap: []string{"cm", "proj"}},
		{name: "configmap key removed", change: func(t *testing.T, e *testEnv, _ *corev1.Pod) {
			update(t, e, configMap("cfg", map[string]string{"b": "only"}))
		}, want: map[string]string{"cm/a": "", "cm/b": "only", "proj/a": "", "proj/name": "p"}, swap: []string{"cm", "proj"}},
		{name: "secret updated", change: func(t *testing.T, e *testEnv, _ *corev1.Pod) {
			s := secret("creds", map[string]string{"s": "rotated-value"})
			if _, err := e.client.CoreV1().Secrets("ns").Update(context.Background(), s, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}, want: map[string]string{"sec/s": "rotated-value"}, swap: []string{"sec"}, logs: `msg="volume updated" pod=ns/p volume=sec`},
		{name: "optional source appears", change: func(t *testing.T, e *testEnv, _ *corev1.Pod) {
			if _, err := e.client.CoreV1().ConfigMaps("ns").Create(context.Background(), configMap("maybe", map[string]string{"m": "here"}), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}, want: map[string]string{"opt/m": "here"}, swap: []string{"opt"}},
		{name: "required source deleted: files kept", change: func(t *testing.T, e *testEnv, _ *corev1.Pod) {
			if err := e.client.CoreV1().ConfigMaps("ns").Delete(context.Background(), "cfg", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}, want: map[string]string{"cm/a": "1", "proj/a": "1"}, logs: `volume=cm err="configmap \"cfg\" not found"`},
		{name: "labels changed", change: func(t *testing.T, e *testEnv, pod *corev1.Pod) {
			p := pod.DeepCopy()
			p.Labels = map[string]string{"app": "web", "version": "2"}
			e.m.Track(p, e.podDir)
		}, want: map[string]string{"info/labels": "app=\"web\"\nversion=\"2\""}, swap: []string{"info"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newTestEnv(t, configMap("cfg", map[string]string{"a": "1"}), secret("creds", map[string]string{"s": "old"}))
			pod := refreshPod()
			if _, err := e.m.Mounts(ctx, pod, &pod.Spec.Containers[0], e.podDir); err != nil {
				t.Fatal(err)
			}
			before := dataLinks(t, e, pod)
			tt.change(t, e, pod)
			e.m.refresh(ctx, nil)
			e.m.refresh(ctx, nil) // a second round changes nothing more and logs nothing new
			for rel, want := range tt.want {
				vol, file, _ := strings.Cut(rel, "/")
				p := filepath.Join(volumeDir(e.podDir, volumeByName(pod, vol)), file)
				got, err := os.ReadFile(p)
				if want == "" {
					if !os.IsNotExist(err) {
						t.Errorf("%s still present (%q, %v)", rel, got, err)
					}
					continue
				}
				if err != nil || string(got) != want {
					t.Errorf("%s = %q, %v; want %q", rel, got, err, want)
				}
			}
			after := dataLinks(t, e, pod)
			swapped := map[string]bool{}
			for _, v := range tt.swap {
				swapped[v] = true
			}
			for v := range before {
				if moved := before[v] != after[v]; moved != swapped[v] {
					t.Errorf("volume %s: ..data moved = %v, want %v", v, moved, swapped[v])
				}
			}
			logs := e.log.String()
			if tt.logs != "" && strings.Count(logs, tt.logs) != 1 {
				t.Errorf("logs should hold %q once:\n%s", tt.logs, logs)
			}
			if strings.Contains(logs, "rotated-value") {
				t.Error("secret value logged")
			}
		})
	}
}

func TestRefreshSkipsVolumesNeverSetUp(t *testing.T) {
	e := newTestEnv(t, configMap("cfg", map[string]string{"a": "1"}), secret("creds", map[string]string{"s": "x"}))
	e.m.Track(refreshPod(), e.podDir)
	e.m.refresh(context.Background(), nil)
	if _, err := os.Stat(filepath.Join(e.podDir, "volumes")); !os.IsNotExist(err) {
		t.Errorf("refresh set up volumes of a pod Mounts never saw (%v)", err)
	}
}

func TestUntrackStopsRefresh(t *testing.T) {
	ctx := context.Background()
	e := newTestEnv(t, configMap("cfg", map[string]string{"a": "1"}), secret("creds", map[string]string{"s": "x"}))
	pod := refreshPod()
	if _, err := e.m.Mounts(ctx, pod, &pod.Spec.Containers[0], e.podDir); err != nil {
		t.Fatal(err)
	}
	e.m.Untrack(pod.UID)
	update(t, e, configMap("cfg", map[string]string{"a": "2"}))
	e.m.refresh(ctx, nil)
	if got := readFile(t, filepath.Join(volumeDir(e.podDir, volumeByName(pod, "cm")), "a")); got != "1" {
		t.Errorf("untracked pod refreshed: a = %q", got)
	}
}

func TestRunRefreshes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	e := newTestEnv(t, configMap("cfg", map[string]string{"a": "1"}), secret("creds", map[string]string{"s": "x"}))
	e.m.resync = 10 * time.Millisecond
	pod := refreshPod()
	if _, err := e.m.Mounts(ctx, pod, &pod.Spec.Containers[0], e.podDir); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- e.m.Run(ctx) }()

	update(t, e, configMap("cfg", map[string]string{"a": "2"}))
	file := filepath.Join(volumeDir(e.podDir, volumeByName(pod, "cm")), "a")
	eventually(t, func() bool { b, _ := os.ReadFile(file); return string(b) == "2" }, "configMap update reaches the volume")

	p := pod.DeepCopy()
	p.Labels["app"] = "api"
	e.m.Track(p, e.podDir)
	labels := filepath.Join(volumeDir(e.podDir, volumeByName(pod, "info")), "labels")
	eventually(t, func() bool { b, _ := os.ReadFile(labels); return string(b) == `app="api"` }, "label change reaches the downwardAPI volume")

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// Track kicks Run only when downward API inputs change.
func TestTrackMarksDirty(t *testing.T) {
	e := newTestEnv(t)
	pod := refreshPod()
	e.m.Track(pod, e.podDir)
	e.m.Track(pod, e.podDir) // same pod
	if len(e.m.dirty) != 0 {
		t.Errorf("dirty %v after an unchanged pod", e.m.dirty)
	}
	p := pod.DeepCopy()
	p.Annotations["note"] = "changed"
	e.m.Track(p, e.podDir)
	if !e.m.dirty[pod.UID] {
		t.Error("annotation change did not mark the pod")
	}
	select {
	case <-e.m.kick:
	default:
		t.Error("no kick")
	}
}

func update(t *testing.T, e *testEnv, cm *corev1.ConfigMap) {
	t.Helper()
	if _, err := e.client.CoreV1().ConfigMaps("ns").Update(context.Background(), cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func volumeByName(pod *corev1.Pod, name string) *corev1.Volume {
	for i := range pod.Spec.Volumes {
		if pod.Spec.Volumes[i].Name == name {
			return &pod.Spec.Volumes[i]
		}
	}
	return nil
}

// dataLinks is each atomic volume's ..data target.
func dataLinks(t *testing.T, e *testEnv, pod *corev1.Pod) map[string]string {
	t.Helper()
	out := map[string]string{}
	for i := range pod.Spec.Volumes {
		v := &pod.Spec.Volumes[i]
		target, err := os.Readlink(filepath.Join(volumeDir(e.podDir, v), "..data"))
		if err != nil {
			t.Fatal(err)
		}
		out[v.Name] = target
	}
	return out
}

func eventually(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
