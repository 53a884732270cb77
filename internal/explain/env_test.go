package explain

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/agent/envvars"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestExplainEnv(t *testing.T) {
	links := true
	c := corev1.Container{Name: "app", Env: []corev1.EnvVar{
		{Name: "FWD", Value: "$(LATER)"},
		{Name: "LATER", Value: "x"},
		{Name: "URL", Value: "db://u:$(PASSWORD)@db/$$(NOT)"},
		{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
	}, EnvFrom: []corev1.EnvFromSource{
		{Prefix: "", SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}}},
		{Prefix: "CFG_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}}},
	}}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "app", UID: "uid-9"},
		Spec: corev1.PodSpec{EnableServiceLinks: &links, Containers: []corev1.Container{c}}}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "app"}, Data: map[string][]byte{"PASSWORD": []byte("s3cr3t-value")}}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "settings", Namespace: "app"}, Data: map[string]string{"MODE": "fast"}}
	src := &fakeEnvSources{cm: cm, secret: secret}
	env, err := envvars.Build(context.Background(), envvars.Input{Pod: pod, Container: &pod.Spec.Containers[0], ServicesSynced: true,
		Services: []*corev1.Service{{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default"},
			Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.1", Ports: []corev1.ServicePort{{Name: "https", Port: 443}}}}},
		Sources: src, ImageEnv: []string{"PATH=/bin", "MODE=slow"}})
	if err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	if err := envvars.WriteRecord(filepath.Join(dataDir, "agent"), envvars.NewRecord("app", "web", "uid-9", "app", env, time.Now())); err != nil {
		t.Fatal(err)
	}
	client := fake.NewClientset(pod, secret, cm)
	run := func(show bool) string {
		var out bytes.Buffer
		e := &Explainer{Client: client, Out: &out}
		if err := e.Env(context.Background(), EnvOptions{ShowSecrets: show, Options: Options{Namespace: "app", Pod: "web", DataDir: dataDir}}); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	out := run(false)
	if strings.Contains(out, "s3cr3t-value") {
		t.Fatalf("a secret's value was printed:\n%s", out)
	}
	for _, want := range []string{
		"PATH", "image ENV",
		`envFrom[0] secret "creds" key "PASSWORD"`, "(secret, hidden: --show-secrets)",
		`envFrom[1] configMap "settings" key "MODE" with prefix "CFG_"`,
		"$(LATER) left as written (defined later, in env[1]",
		"expanded $(PASSWORD)", "$$ is an escaped $", "holds a secret's value",
		"env[3] fieldRef metadata.name",
		"service link of Service default/kubernetes",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	shown := run(true)
	if !strings.Contains(shown, "s3cr3t-value") || !strings.Contains(shown, "db://u:s3cr3t-value@db/$(NOT)") {
		t.Errorf("--show-secrets does not show them:\n%s", shown)
	}
}

type fakeEnvSources struct {
	cm     *corev1.ConfigMap
	secret *corev1.Secret
}

func (f *fakeEnvSources) ConfigMap(context.Context, string, string) (*corev1.ConfigMap, error) {
	return f.cm, nil
}
func (f *fakeEnvSources) Secret(context.Context, string, string) (*corev1.Secret, error) {
	return f.secret, nil
}
