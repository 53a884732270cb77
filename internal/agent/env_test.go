package agent

import (
	"context"
	"github.com/berth-dev/berth/internal/agent/expansion"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/cri/fakecri"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "a", "B": "b", "EMPTY": "", "DOLLAR": "$(A)"}
	lookup := func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain text", "plain text"},
		{"$(A)", "a"},
		{"x$(A)y$(B)z", "xaybz"},
		{"$(A)$(B)", "ab"},
		{"$(EMPTY)", ""},
		{"$(DOLLAR)", "$(A)"}, // values are not expanded again
		{"$(UNDEFINED)", "$(UNDEFINED)"},
		{"pre-$(UNDEFINED)-$(A)", "pre-$(UNDEFINED)-a"},
		{"$()", "$()"},
		{"$$", "$"},
		{"$$$", "$$"},
		{"$$$$", "$$"},
		{"$$(A)", "$(A)"},
		{"$$$(A)", "$a"},
		{"$", "$"},
		{"a$", "a$"},
		{"$A", "$A"},
		{"${A}", "${A}"},
		{"100$ (A)", "100$ (A)"},
		{"$(A", "$(A"},
		{"x$(A", "x$(A"},
		{"$(", "$("},
		{"$(A $(B)", "$(A $(B)"}, // the name runs to the first ')'
		{"$(A)$(B", "a$(B"},
	}
	for _, tt := range tests {
		if got := expansion.Expand(tt.in, lookup); got != tt.want {
			t.Errorf("expand(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestExpandAfterUnterminatedReference: Kubernetes' expansion
// (third_party/forked/golang/expansion) copies an unterminated "$(" and
// goes on scanning, so a later "$$" still becomes "$". expand copies the
// whole rest of the string verbatim instead.
func TestExpandAfterUnterminatedReference(t *testing.T) {
	lookup := func(string) (string, bool) { return "", false }
	for in, want := range map[string]string{
		"$(A $$":     "$(A $",
		"$(A $$ $$B": "$(A $ $B",
	} {
		if got := expansion.Expand(in, lookup); got != want {
			t.Errorf("expand(%q) = %q, want %q (as Kubernetes)", in, got, want)
		}
	}
}

func TestExpandAll(t *testing.T) {
	if got := expandAll(nil, nil); got != nil {
		t.Errorf("expandAll(nil) = %q, want nil", got)
	}
	env := envKV("X", "1", "Y", "two")
	got := expandAll([]string{"echo", "$(X)", "$(Y)-$(Z)", "$$(X)"}, env)
	want := []string{"echo", "1", "two-$(Z)", "$(X)"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("expandAll = %q, want %q", got, want)
	}
}

func TestResourceField(t *testing.T) {
	c := &corev1.Container{Resources: corev1.ResourceRequirements{
		Limits: corev1.ResourceList{
			corev1.ResourceCPU:              resource.MustParse("1500m"),
			corev1.ResourceMemory:           resource.MustParse("64Mi"),
			corev1.ResourceEphemeralStorage: resource.MustParse("1Gi"),
		},
		Requests: corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("250m"),
			corev1.ResourceMemory: resource.MustParse("100Mi"),
		},
	}}
	tests := []struct {
		res, divisor, want string
	}{
		{"limits.cpu", "", "2"}, // ceil(1.5)
		{"limits.cpu", "1", "2"},
		{"limits.cpu", "1m", "1500"},
		{"limits.cpu", "100m", "15"},
		{"limits.cpu", "1000m", "2"},
		{"requests.cpu", "", "1"}, // ceil(0.25)
		{"requests.cpu", "1m", "250"},
		{"limits.memory", "", "67108864"},
		{"limits.memory", "1Mi", "64"},
		{"limits.memory", "1Gi", "1"}, // ceil
		{"limits.memory", "1k", "67109"},
		{"requests.memory", "1Mi", "100"},
		{"limits.ephemeral-storage", "1Mi", "1024"},
		{"requests.ephemeral-storage", "", "0"}, // no request
	}
	for _, tt := range tests {
		ref := &corev1.ResourceFieldSelector{Resource: tt.res}
		if tt.divisor != "" {
			ref.Divisor = resource.MustParse(tt.divisor)
		}
		if got := resourceField(c, ref); got != tt.want {
			t.Errorf("resourceField(%s, divisor %q) = %q, want %q", tt.res, tt.divisor, got, tt.want)
		}
	}
}

// envKV builds runtime env from key/value pairs.
func envKV(kv ...string) (out []*runtimeapi.KeyValue) {
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, &runtimeapi.KeyValue{Key: kv[i], Value: []byte(kv[i+1])})
	}
	return out
}

// newTestAgent is an Agent over a fake clientset holding objs and a
// fakecri runtime; it is not started.
func newTestAgent(t *testing.T, objs ...runtime.Object) *Agent {
	t.Helper()
	a, err := New(Config{Client: fake.NewClientset(objs...), Runtime: fakecri.New(), NodeName: "node1",
		DataDir: t.TempDir(), NodeIP: "192.0.2.10"})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func envMap(t *testing.T, env []*runtimeapi.KeyValue) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, kv := range env {
		if _, dup := m[kv.Key]; dup {
			t.Errorf("variable %s appears twice", kv.Key)
		}
		m[kv.Key] = string(kv.Value)
	}
	return m
}

func TestContainerEnv(t *testing.T) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm1", Namespace: "default"},
		Data: map[string]string{"A": "from-cm", "B": "b", "SHARED": "cm-shared", "REF": "$(B)"}}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s1", Namespace: "default"},
		Data: map[string][]byte{"PASSWORD": []byte("hunter2"), "SHARED": []byte("secret-shared")}}
	otherNS := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "elsewhere", Namespace: "other"}, Data: map[string]string{"K": "v"}}
	a := newTestAgent(t, cm, sec, otherNS)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "uid-1",
		Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"note": "hi"}},
		Spec: corev1.PodSpec{NodeName: "node1", ServiceAccountName: "sa"}}
	ctx := context.Background()

	t.Run("envFrom, prefix, env wins, expansion", func(t *testing.T) {
		c := &corev1.Container{Name: "c",
			EnvFrom: []corev1.EnvFromSource{
				{Prefix: "CM_", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm1"}}},
				{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm1"}}},
				{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "s1"}}},
				{Prefix: "SEC_", SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "s1"}}},
			},
			Env: []corev1.EnvVar{
				{Name: "A", Value: "from-env"},
				{Name: "FIRST", Value: "1"},
				{Name: "SECOND", Value: "$(FIRST)-2"},
				{Name: "FROM_CM", Value: "<$(CM_B)>"},
				{Name: "FORWARD", Value: "$(LATER)"},
				{Name: "LATER", Value: "late"},
				{Name: "ESCAPED", Value: "$$(FIRST)"},
				{Name: "SELF", Value: "x"},
				{Name: "SELF", Value: "$(SELF)y"},
				{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
				{Name: "NS", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
				{Name: "UID", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.uid"}}},
				{Name: "NODE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}},
				{Name: "SA", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.serviceAccountName"}}},
				{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
				{Name: "HOST_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.hostIP"}}},
				{Name: "LABEL", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels['app']"}}},
				{Name: "ANNO", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.annotations['note']"}}},
				{Name: "KEY", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: "cm1"}, Key: "B"}}},
				{Name: "PW", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: "s1"}, Key: "PASSWORD"}}},
				{Name: "NOT_EXPANDED", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: "cm1"}, Key: "REF"}}},
			},
		}
		env, err := a.containerEnv(ctx, pod, c, "10.88.0.5")
		if err != nil {
			t.Fatal(err)
		}
		got := envMap(t, env)
		want := map[string]string{
			"CM_A": "from-cm", "CM_B": "b", "CM_SHARED": "cm-shared", "CM_REF": "$(B)",
			"A": "from-env", "B": "b", "REF": "$(B)",
			"SHARED":   "secret-shared", // the later envFrom source wins
			"PASSWORD": "hunter2", "SEC_PASSWORD": "hunter2", "SEC_SHARED": "secret-shared",
			"FIRST": "1", "SECOND": "1-2", "FROM_CM": "<b>", "FORWARD": "$(LATER)", "LATER": "late",
			"ESCAPED": "$(FIRST)", "SELF": "xy",
			"POD": "p", "NS": "default", "UID": "uid-1", "NODE": "node1", "SA": "sa",
			"POD_IP": "10.88.0.5", "HOST_IP": "192.0.2.10", "LABEL": "web", "ANNO": "hi",
			"KEY": "b", "PW": "hunter2", "NOT_EXPANDED": "$(B)",
		}
		for k, v := range want {
			if g, ok := got[k]; !ok || g != v {
				t.Errorf("%s = %q (set: %v), want %q", k, g, ok, v)
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("unexpected variable %s=%q", k, got[k])
			}
		}
		// env comes after envFrom, in spec order.
		var order []string
		for _, kv := range env {
			order = append(order, kv.Key)
		}
		joined := strings.Join(order, ",")
		if !strings.Contains(joined, "FIRST,SECOND,FROM_CM,FORWARD,LATER,ESCAPED,SELF,POD,") {
			t.Errorf("env order = %s: env entries not in spec order after envFrom", joined)
		}
	})

	t.Run("optional sources that are missing", func(t *testing.T) {
		c := &corev1.Container{Name: "c",
			EnvFrom: []corev1.EnvFromSource{
				{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Optional: ptr.To(true)}},
				{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Optional: ptr.To(true)}},
				// Another namespace's configMap is not visible.
				{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "elsewhere"}, Optional: ptr.To(true)}},
			},
			Env: []corev1.EnvVar{
				{Name: "NOCM", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Key: "x", Optional: ptr.To(true)}}},
				{Name: "NOKEY", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: "cm1"}, Key: "missing", Optional: ptr.To(true)}}},
				{Name: "NOSECRET", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Key: "x", Optional: ptr.To(true)}}},
				{Name: "NOSECRETKEY", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
					LocalObjectReference: corev1.LocalObjectReference{Name: "s1"}, Key: "missing", Optional: ptr.To(true)}}},
				{Name: "KEPT", Value: "yes"},
			},
		}
		env, err := a.containerEnv(ctx, pod, c, "")
		if err != nil {
			t.Fatal(err)
		}
		got := envMap(t, env)
		if len(got) != 1 || got["KEPT"] != "yes" {
			t.Errorf("env = %v, want only KEPT=yes", got)
		}
	})

	errCases := []struct {
		name string
		c    corev1.Container
		want string
	}{
		{"missing configMap key", corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{
			ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cm1"}, Key: "nokey"}}}}},
			"couldn't find key nokey in ConfigMap default/cm1"},
		{"missing secret key", corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s1"}, Key: "nokey", Optional: ptr.To(false)}}}}},
			"couldn't find key nokey in Secret default/s1"},
		{"missing configMap for a key", corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{
			ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Key: "k"}}}}},
			`configmap "nope" not found`},
		{"missing secret for a key", corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{
			SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Key: "k"}}}}},
			`secret "nope" not found`},
		{"missing envFrom configMap", corev1.Container{EnvFrom: []corev1.EnvFromSource{
			{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}}}}},
			`configmap "nope" not found`},
		{"configMap of another namespace", corev1.Container{EnvFrom: []corev1.EnvFromSource{
			{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "elsewhere"}}}}},
			`configmap "elsewhere" not found`},
		{"missing envFrom secret", corev1.Container{EnvFrom: []corev1.EnvFromSource{
			{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Optional: ptr.To(false)}}}},
			`secret "nope" not found`},
		{"unsupported fieldRef", corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{
			FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.bogus"}}}}},
			`unsupported fieldRef "spec.bogus"`},
	}
	for _, tt := range errCases {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.c
			c.Name = "c"
			_, err := a.containerEnv(ctx, pod, &c, "")
			if err == nil || err.Error() != tt.want {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}

	t.Run("resourceFieldRef", func(t *testing.T) {
		c := &corev1.Container{Name: "c",
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")}},
			Env: []corev1.EnvVar{{Name: "MEM", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{
				Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}}}}}
		env, err := a.containerEnv(ctx, pod, c, "")
		if err != nil {
			t.Fatal(err)
		}
		if got := envMap(t, env)["MEM"]; got != "128" {
			t.Errorf("MEM = %q, want 128", got)
		}
	})
}
