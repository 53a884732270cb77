package agent

import (
	"context"
	"github.com/berth-dev/berth/internal/agent/envvars"
	"github.com/berth-dev/berth/internal/agent/expansion"
	listerscorev1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/cri/fakecri"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
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

// newTestAgent is an Agent over a fake clientset holding objs and a
// fakecri runtime; it is not started.
func newTestAgent(t *testing.T, objs ...runtime.Object) *Agent {
	t.Helper()
	a, err := New(Config{Client: fake.NewClientset(objs...), Runtime: fakecri.New(), NodeName: "node1",
		DataDir: t.TempDir(), NodeIP: "192.0.2.10"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.records.wait) // before the data dir goes
	return a
}

// withServices makes the agent's Service lister hold svcs, synced.
func withServices(t *testing.T, a *Agent, svcs ...*corev1.Service) {
	t.Helper()
	idx := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	for _, s := range svcs {
		if err := idx.Add(s); err != nil {
			t.Fatal(err)
		}
	}
	a.services, a.servicesSynced = listerscorev1.NewServiceLister(idx), func() bool { return true }
}

func envMap(t *testing.T, e *envvars.Env) map[string]string {
	t.Helper()
	env := e.KeyValues()
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
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1"},
		Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}}}
	a := newTestAgent(t, cm, sec, otherNS, node)
	withServices(t, a)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", UID: "uid-1",
		Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"note": "hi"}},
		Spec: corev1.PodSpec{NodeName: "node1", ServiceAccountName: "sa", EnableServiceLinks: ptr.To(true)}}
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
		env, err := a.containerEnv(ctx, pod, c, "10.88.0.5", nil)
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
		for _, kv := range env.KeyValues() {
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
		env, err := a.containerEnv(ctx, pod, c, "", nil)
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
			"field label not supported: spec.bogus"},
	}
	for _, tt := range errCases {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.c
			c.Name = "c"
			_, err := a.containerEnv(ctx, pod, &c, "", nil)
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
		env, err := a.containerEnv(ctx, pod, c, "", nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := envMap(t, env)["MEM"]; got != "128" {
			t.Errorf("MEM = %q, want 128", got)
		}
	})
}

func TestContainerEnvServicesAndRecord(t *testing.T) {
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s1", Namespace: "app"}, Data: map[string][]byte{"PASSWORD": []byte("hunter2")}}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1"},
		Status: corev1.NodeStatus{Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("3")}}}
	a := newTestAgent(t, sec, node)
	ctx := context.Background()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "app", UID: "uid-2"},
		Spec: corev1.PodSpec{NodeName: "node1", EnableServiceLinks: ptr.To(true)}}
	c := &corev1.Container{Name: "c", Env: []corev1.EnvVar{
		{Name: "PW", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s1"}, Key: "PASSWORD"}}},
		{Name: "CPUS", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}},
		{Name: "IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
	}}

	// Until the Service informer has listed once, the kubelet refuses.
	if _, err := a.containerEnv(ctx, pod, c, "10.88.0.9", nil); err == nil || err.Error() != envvars.ErrServicesNotSynced.Error() {
		t.Fatalf("unsynced: err = %v", err)
	}
	withServices(t, a,
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default"},
			Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.1", Ports: []corev1.ServicePort{{Name: "https", Port: 443, Protocol: "TCP"}}}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web-api", Namespace: "app"},
			Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.7", Ports: []corev1.ServicePort{{Port: 80}}}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "other"},
			Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.8", Ports: []corev1.ServicePort{{Port: 5432}}}})
	env, err := a.containerEnv(ctx, pod, c, "10.88.0.9", nil)
	if err != nil {
		t.Fatal(err)
	}
	got := envMap(t, env)
	for k, v := range map[string]string{"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT_HTTPS": "443",
		"WEB_API_SERVICE_HOST": "10.96.0.7", "WEB_API_PORT": "tcp://10.96.0.7:80", "PW": "hunter2", "CPUS": "3", "IP": "10.88.0.9"} {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if _, ok := got["DB_SERVICE_HOST"]; ok {
		t.Error("a Service of another namespace gave variables")
	}
	a.records.wait() // written off the critical path
	rec, err := envvars.LoadRecord(a.cfg.DataDir, "uid-2", "c")
	if err != nil {
		t.Fatalf("no env record: %v", err)
	}
	for _, v := range rec.Vars {
		if strings.Contains(v.Value, "hunter2") {
			t.Errorf("the record holds a secret's value in %s", v.Name)
		}
	}

	// enableServiceLinks: false leaves the kubernetes Service only.
	off := pod.DeepCopy()
	off.Spec.EnableServiceLinks = ptr.To(false)
	env, err = a.containerEnv(ctx, off, &corev1.Container{Name: "c"}, "10.88.0.9", nil)
	if err != nil {
		t.Fatal(err)
	}
	got = envMap(t, env)
	if _, ok := got["WEB_API_SERVICE_HOST"]; ok || got["KUBERNETES_SERVICE_HOST"] != "10.96.0.1" {
		t.Errorf("links off: %v", got)
	}

	// hostNetwork: status.podIP is the node's IP, even before the sandbox reports one.
	hn := pod.DeepCopy()
	hn.Spec.HostNetwork = true
	env, err = a.containerEnv(ctx, hn, &corev1.Container{Name: "c", Env: c.Env[2:]}, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if ip := envMap(t, env)["IP"]; ip != "192.0.2.10" {
		t.Errorf("hostNetwork status.podIP = %q, want the node IP", ip)
	}
}
