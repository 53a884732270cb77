package envvars

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// fakeSources serves ConfigMaps and Secrets; errs scripts other errors.
type fakeSources struct {
	cms     map[string]*corev1.ConfigMap
	secrets map[string]*corev1.Secret
	errs    map[string]error
	gets    int
}

func (f *fakeSources) ConfigMap(_ context.Context, ns, name string) (*corev1.ConfigMap, error) {
	f.gets++
	if err := f.errs["cm/"+name]; err != nil {
		return nil, err
	}
	if cm, ok := f.cms[name]; ok {
		return cm, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "configmap"}, name)
}

func (f *fakeSources) Secret(_ context.Context, ns, name string) (*corev1.Secret, error) {
	f.gets++
	if err := f.errs["secret/"+name]; err != nil {
		return nil, err
	}
	if s, ok := f.secrets[name]; ok {
		return s, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secret"}, name)
}

func sources() *fakeSources {
	return &fakeSources{
		cms: map[string]*corev1.ConfigMap{
			"cm1": {ObjectMeta: metav1.ObjectMeta{Name: "cm1"}, Data: map[string]string{"A": "cm1-a", "B": "cm1-b"},
				BinaryData: map[string][]byte{"BIN": []byte("x")}},
			"cm2": {ObjectMeta: metav1.ObjectMeta{Name: "cm2"}, Data: map[string]string{"B": "cm2-b", "C": "cm2-c"}},
		},
		secrets: map[string]*corev1.Secret{
			"s1": {ObjectMeta: metav1.ObjectMeta{Name: "s1"}, Data: map[string][]byte{"PASSWORD": []byte("hunter2"), "B": []byte("s1-b")}},
		},
		errs: map[string]error{},
	}
}

func truePtr() *bool { b := true; return &b }

func testPod(c corev1.Container) *corev1.Pod {
	links := true
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "app", UID: "uid-1",
			Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"team": "blue"}},
		Spec: corev1.PodSpec{NodeName: "node1", ServiceAccountName: "sa", EnableServiceLinks: &links,
			Containers: []corev1.Container{c}},
	}
}

func input(c corev1.Container, src Sources) Input {
	pod := testPod(c)
	return Input{Pod: pod, Container: &pod.Spec.Containers[0], PodIPs: []string{"10.88.0.5"}, NodeIPs: []string{"192.168.1.2"},
		Services: []*corev1.Service{
			svc("default", "kubernetes", "10.96.0.1", port("https", 443, "TCP")),
			svc("app", "web", "10.96.0.3", port("http", 80, "TCP")),
		},
		ServicesSynced: true,
		Allocatable:    corev1.ResourceList{"cpu": resource.MustParse("4"), "memory": resource.MustParse("8Gi"), "ephemeral-storage": resource.MustParse("100Gi")},
		Sources:        src}
}

func get(env *Env, name string) (Var, bool) {
	for _, v := range env.Vars {
		if v.Name == name {
			return v, true
		}
	}
	return Var{}, false
}

func lit(name, value string) corev1.EnvVar { return corev1.EnvVar{Name: name, Value: value} }

func TestPrecedenceAndExpansion(t *testing.T) {
	c := corev1.Container{Name: "c",
		EnvFrom: []corev1.EnvFromSource{
			{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm1"}}},
			{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm2"}}},
			{Prefix: "P_", SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "s1"}}},
			{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "WEB_SERVICE_HOST"}, Optional: truePtr()}},
		},
		Env: []corev1.EnvVar{
			lit("FWD", "$(LATER)"),
			lit("LATER", "x"),
			lit("C", "env-c"),
			lit("WEB_SERVICE_PORT", "9999"),
			lit("REF", "$(A)-$(C)-$(WEB_SERVICE_HOST)-$(NOPE)-$$(A)-$$$(A)-$(-$"),
			lit("TAINT", "pw=$(P_PASSWORD)"),
			lit("EMPTY", ""),
			lit("SELF", "$(SELF)"),
			lit("B", "$(B)+"),
		},
	}
	src := sources()
	in := input(c, src)
	in.ImageEnv = []string{"PATH=/bin", "C=image-c", "HOME=/root"}
	env, err := Build(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"A": "cm1-a", "B": "cm2-b+", "C": "env-c", "P_PASSWORD": "hunter2", "P_B": "s1-b",
		"FWD": "$(LATER)", "LATER": "x", "WEB_SERVICE_PORT": "9999",
		"REF":   "cm1-a-env-c-10.96.0.3-$(NOPE)-$(A)-$cm1-a-$(-$",
		"TAINT": "pw=hunter2", "EMPTY": "", "SELF": "$(SELF)",
		"WEB_SERVICE_HOST": "10.96.0.3", "KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_PORT_443_TCP_PROTO": "tcp",
	}
	m := env.Map()
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %q, want %q", k, m[k], v)
		}
	}
	if _, ok := m["BIN"]; ok {
		t.Error("binaryData must not become a variable")
	}
	if _, ok := m["PATH"]; ok {
		t.Error("image ENV must not be among the pod's variables (the runtime merges it)")
	}
	if len(env.Image) != 2 || env.Image[0].Name != "PATH" || env.Image[1].Name != "HOME" {
		t.Errorf("image vars = %+v, want PATH and HOME (C overridden)", env.Image)
	}
	// Names are unique.
	seen := map[string]bool{}
	for _, v := range env.Vars {
		if seen[v.Name] {
			t.Errorf("%s given twice", v.Name)
		}
		seen[v.Name] = true
	}
	ref, _ := get(env, "REF")
	if got := strings.Join(ref.Origin.Expanded, ","); got != "A,C,WEB_SERVICE_HOST" {
		t.Errorf("REF expanded %q", got)
	}
	if got := strings.Join(ref.Origin.Literal, ","); got != "NOPE" {
		t.Errorf("REF literal %q", got)
	}
	if v, _ := get(env, "TAINT"); !v.Secret {
		t.Error("a value expanded from a secret is secret")
	}
	if v, _ := get(env, "P_PASSWORD"); !v.Secret || v.Origin.Kind != KindEnvFromSecret || v.Origin.Prefix != "P_" || v.Origin.Name != "s1" {
		t.Errorf("P_PASSWORD: %+v", v)
	}
	if v, _ := get(env, "C"); strings.Join(v.Origin.Overrides, ";") != "envFrom[1] configMap cm2;image ENV" {
		t.Errorf("C overrides %q", v.Origin.Overrides)
	}
	if v, _ := get(env, "B"); strings.Join(v.Origin.Overrides, ";") != "envFrom[0] configMap cm1;envFrom[1] configMap cm2" || v.Origin.Kind != KindValue {
		t.Errorf("B: %+v", v)
	}
	if v, _ := get(env, "WEB_SERVICE_PORT"); strings.Join(v.Origin.Overrides, ";") != "service link of app/web" {
		t.Errorf("WEB_SERVICE_PORT overrides %q", v.Origin.Overrides)
	}
	if v, _ := get(env, "KUBERNETES_SERVICE_HOST"); v.Origin.Kind != KindService || v.Origin.Name != "default/kubernetes" {
		t.Errorf("KUBERNETES_SERVICE_HOST origin %+v", v.Origin)
	}
	// Each configMap is read once per build.
	if src.gets != 4 {
		t.Errorf("%d GETs, want 4", src.gets)
	}
	// Command and args expand against the final list; subPathExpr too.
	if got := env.Expand([]string{"$(C)", "$(PATH)", "$$(C)", "$(WEB_SERVICE_HOST)"}); strings.Join(got, " ") != "env-c $(PATH) $(C) 10.96.0.3" {
		t.Errorf("Expand = %q", got)
	}
	if env.Expand(nil) != nil {
		t.Error("Expand(nil) must stay nil")
	}
	if got, err := env.SubPath("logs/$(C)"); err != nil || got != "logs/env-c" {
		t.Errorf("SubPath = %q, %v", got, err)
	}
	if _, err := env.SubPath("$(EMPTY)/$(NOPE)"); err == nil || err.Error() != "missing value for EMPTY, NOPE" {
		t.Errorf("SubPath error = %v", err)
	}
}

func TestPreconditions(t *testing.T) {
	in := input(corev1.Container{Name: "c"}, sources())
	in.ServicesSynced = false
	if _, err := Build(context.Background(), in); err == nil || err.Error() != "services have not yet been read at least once, cannot construct envvars" {
		t.Errorf("unsynced: %v", err)
	}
	in = input(corev1.Container{Name: "c"}, sources())
	in.Pod.Spec.EnableServiceLinks = nil
	if _, err := Build(context.Background(), in); err == nil || err.Error() != "nil pod.spec.enableServiceLinks encountered, cannot construct envvars" {
		t.Errorf("nil links: %v", err)
	}
}

func TestOptionalSemantics(t *testing.T) {
	cmRef := func(name, key string, opt bool) corev1.EnvVar {
		r := &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key}
		if opt {
			r.Optional = truePtr()
		}
		return corev1.EnvVar{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: r}}
	}
	secRef := func(name, key string, opt bool) corev1.EnvVar {
		r := &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: key}
		if opt {
			r.Optional = truePtr()
		}
		return corev1.EnvVar{Name: "X", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: r}}
	}
	forbidden := apierrors.NewForbidden(schema.GroupResource{Resource: "configmaps"}, "locked", errors.New("no access"))
	tests := []struct {
		name    string
		c       corev1.Container
		want    string // value of X, "<unset>" when not set
		wantErr string
	}{
		{"required configMap missing", corev1.Container{Env: []corev1.EnvVar{cmRef("nope", "k", false)}}, "", `configmap "nope" not found`},
		{"optional configMap missing", corev1.Container{Env: []corev1.EnvVar{cmRef("nope", "k", true)}}, "<unset>", ""},
		{"required key missing", corev1.Container{Env: []corev1.EnvVar{cmRef("cm1", "zz", false)}}, "", "couldn't find key zz in ConfigMap app/cm1"},
		{"optional key missing", corev1.Container{Env: []corev1.EnvVar{cmRef("cm1", "zz", true)}}, "<unset>", ""},
		{"optional but forbidden", corev1.Container{Env: []corev1.EnvVar{cmRef("locked", "k", true)}}, "", forbidden.Error()},
		{"required secret missing", corev1.Container{Env: []corev1.EnvVar{secRef("nope", "k", false)}}, "", `secret "nope" not found`},
		{"optional secret missing", corev1.Container{Env: []corev1.EnvVar{secRef("nope", "k", true)}}, "<unset>", ""},
		{"secret key missing", corev1.Container{Env: []corev1.EnvVar{secRef("s1", "zz", false)}}, "", "couldn't find key zz in Secret app/s1"},
		{"optional missing keeps the envFrom value", corev1.Container{
			EnvFrom: []corev1.EnvFromSource{{Prefix: "", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cmx"}}}},
			Env:     []corev1.EnvVar{cmRef("nope", "k", true)}}, "from-envFrom", ""},
		{"envFrom required missing", corev1.Container{EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}}}}}, "", `secret "nope" not found`},
		{"envFrom optional missing", corev1.Container{EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Optional: truePtr()}}}}, "<unset>", ""},
		{"envFrom optional forbidden", corev1.Container{EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "locked"}, Optional: truePtr()}}}}, "", forbidden.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := sources()
			src.cms["cmx"] = &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cmx"}, Data: map[string]string{"X": "from-envFrom"}}
			src.errs["cm/locked"] = forbidden
			tt.c.Name = "c"
			env, err := Build(context.Background(), input(tt.c, src))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := "<unset>"
			if v, ok := env.Map()["X"]; ok {
				got = v
			}
			if got != tt.want {
				t.Errorf("X = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestFieldRefs(t *testing.T) {
	tests := []struct {
		path, want string
		hostNet    bool
		podIPs     []string
		wantErr    string
	}{
		{path: "metadata.name", want: "p"},
		{path: "metadata.namespace", want: "app"},
		{path: "metadata.uid", want: "uid-1"},
		{path: "metadata.labels['app']", want: "web"},
		{path: "metadata.labels['missing']", want: ""},
		{path: "metadata.annotations['team']", want: "blue"},
		{path: "spec.nodeName", want: "node1"},
		{path: "spec.serviceAccountName", want: "sa"},
		{path: "status.hostIP", want: "192.168.1.2"},
		{path: "status.hostIPs", want: "192.168.1.2"},
		{path: "status.podIP", want: "10.88.0.5", podIPs: []string{"10.88.0.5", "fd00::5"}},
		{path: "status.podIPs", want: "10.88.0.5,fd00::5", podIPs: []string{"10.88.0.5", "fd00::5"}},
		{path: "status.podIP", want: "192.168.1.2", hostNet: true},
		{path: "status.podIPs", want: "192.168.1.2", hostNet: true},
		{path: "spec.restartPolicy", wantErr: "field label not supported: spec.restartPolicy"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			c := corev1.Container{Name: "c", Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: tt.path}}}}}
			in := input(c, sources())
			in.PodIPs = tt.podIPs
			if tt.podIPs == nil && !tt.hostNet {
				in.PodIPs = []string{"10.88.0.5"}
			}
			in.Pod.Spec.HostNetwork = tt.hostNet
			env, err := Build(context.Background(), in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			v, _ := get(env, "X")
			if v.Value != tt.want || v.Origin.Kind != KindFieldRef || v.Origin.Key != tt.path {
				t.Errorf("X = %+v, want %q", v, tt.want)
			}
		})
	}
}

func TestResourceFieldRefs(t *testing.T) {
	q := resource.MustParse
	main := corev1.Container{Name: "main", Resources: corev1.ResourceRequirements{
		Limits:   corev1.ResourceList{"cpu": q("250m"), "memory": q("64Mi"), "hugepages-2Mi": q("4Mi")},
		Requests: corev1.ResourceList{"cpu": q("125m"), "memory": q("32Mi")},
	}}
	side := corev1.Container{Name: "side", Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{"cpu": q("1500m")}}}
	tests := []struct {
		name, res, divisor, container string
		podLimits                     corev1.ResourceList
		noNode                        bool
		want, wantErr                 string
	}{
		{name: "cpu limit, divisor 1 rounds up", res: "limits.cpu", want: "1"},
		{name: "cpu limit in millicores", res: "limits.cpu", divisor: "1m", want: "250"},
		{name: "cpu request", res: "requests.cpu", divisor: "1m", want: "125"},
		{name: "memory in Mi", res: "limits.memory", divisor: "1Mi", want: "64"},
		{name: "memory bytes", res: "limits.memory", want: "67108864"},
		{name: "memory in Gi rounds up", res: "limits.memory", divisor: "1Gi", want: "1"},
		{name: "memory request in Mi", res: "requests.memory", divisor: "1Mi", want: "32"},
		{name: "no ephemeral limit: allocatable", res: "limits.ephemeral-storage", divisor: "1Gi", want: "100"},
		{name: "no request: 0", res: "requests.ephemeral-storage", want: "0"},
		{name: "hugepages", res: "limits.hugepages-2Mi", divisor: "1Mi", want: "4"},
		{name: "other container", res: "limits.cpu", divisor: "1m", container: "side", want: "1500"},
		{name: "other container, allocatable memory", res: "limits.memory", divisor: "1Gi", container: "side", want: "8"},
		{name: "pod-level limit replaces allocatable", res: "limits.memory", divisor: "1Mi", container: "side", podLimits: corev1.ResourceList{"memory": q("512Mi")}, want: "512"},
		{name: "unknown container", res: "limits.cpu", container: "ghost", wantErr: "container ghost not found"},
		{name: "unsupported", res: "limits.gpu", wantErr: "Unsupported container resource : limits.gpu"},
		{name: "node unknown", res: "limits.cpu", noNode: true, wantErr: "failed to find node object, expected a node"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := main.DeepCopy()
			ref := &corev1.ResourceFieldSelector{Resource: tt.res, ContainerName: tt.container}
			if tt.divisor != "" {
				ref.Divisor = q(tt.divisor)
			}
			c.Env = []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: ref}}}
			in := input(*c, sources())
			in.Pod.Spec.Containers = append(in.Pod.Spec.Containers, side)
			in.Container = &in.Pod.Spec.Containers[0]
			if tt.podLimits != nil {
				in.Pod.Spec.Resources = &corev1.ResourceRequirements{Limits: tt.podLimits}
			}
			if tt.noNode {
				in.Allocatable = nil
			}
			env, err := Build(context.Background(), in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if v, _ := get(env, "X"); v.Value != tt.want {
				t.Errorf("X = %q, want %q", v.Value, tt.want)
			}
		})
	}
}

func TestFileKeyRef(t *testing.T) {
	dir := t.TempDir()
	vol := filepath.Join(dir, "vol")
	if err := os.MkdirAll(vol, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(vol, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("vars.env", "# comment\n\n  DB_HOST='db.local' # trailing\nMULTI='a\nb'\nEMPTY=''\nSPACED= 'x'\nQUOTE='$(NOT) \"x\"'\n")
	write("bad.env", "KEY = 'v'\n")
	if err := os.WriteFile(filepath.Join(dir, "outside.env"), []byte("DB_HOST='outside'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/vars.env", filepath.Join(vol, "abs-link.env")); err != nil {
		t.Fatal(err)
	}
	ref := func(volume, path, key string, opt bool) corev1.EnvVar {
		r := &corev1.FileKeySelector{VolumeName: volume, Path: path, Key: key}
		if opt {
			r.Optional = truePtr()
		}
		return corev1.EnvVar{Name: "X", ValueFrom: &corev1.EnvVarSource{FileKeyRef: r}}
	}
	tests := []struct {
		name          string
		env           corev1.EnvVar
		want, wantErr string
	}{
		{"value", ref("data", "vars.env", "DB_HOST", false), "db.local", ""},
		{"multi-line", ref("data", "vars.env", "MULTI", false), "a\nb", ""},
		{"no expansion", ref("data", "vars.env", "QUOTE", false), `$(NOT) "x"`, ""},
		{"missing key", ref("data", "vars.env", "NOPE", false), "", `environment variable key "NOPE" not found in file "` + filepath.Join(vol, "vars.env") + `"`},
		{"missing key, optional", ref("data", "vars.env", "NOPE", true), "<unset>", ""},
		{"empty value is missing", ref("data", "vars.env", "EMPTY", false), "", `environment variable key "EMPTY" not found in file "` + filepath.Join(vol, "vars.env") + `"`},
		{"space after =: empty", ref("data", "vars.env", "SPACED", true), "<unset>", ""},
		{"bad file", ref("data", "bad.env", "KEY", false), "", "couldn't parse env file"},
		{"missing file, even optional", ref("data", "nope.env", "KEY", true), "", "couldn't parse env file"},
		{"unknown volume", ref("other", "vars.env", "KEY", false), "", `cannot find the volume "other" referenced by FileKeyRef`},
		{"cannot leave the volume", ref("data", "../outside.env", "DB_HOST", true), "", "couldn't parse env file"},
		{"absolute link stays inside", ref("data", "abs-link.env", "DB_HOST", false), "db.local", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := input(corev1.Container{Name: "c", Env: []corev1.EnvVar{tt.env}}, sources())
			in.VolumePath = func(name string) (string, bool) { return vol, name == "data" }
			env, err := Build(context.Background(), in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := "<unset>"
			if v, ok := get(env, "X"); ok {
				got = v.Value
				if v.Origin.Kind != KindFileKeyRef || v.Origin.Name != "data" {
					t.Errorf("origin %+v", v.Origin)
				}
			}
			if got != tt.want {
				t.Errorf("X = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestExpandStatic(t *testing.T) {
	env := []corev1.EnvVar{lit("A", "a"), lit("B", "$(A)"), {Name: "F", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}
	got := ExpandStatic([]string{"$(A)", "$(B)", "$(F)", "$(Z)", "$$(A)"}, env)
	if strings.Join(got, " ") != "a $(A)  $(Z) $(A)" {
		t.Errorf("got %q", got)
	}
	if ExpandStatic(nil, env) != nil {
		t.Error("nil command must stay nil")
	}
}

func TestRecordHidesSecrets(t *testing.T) {
	c := corev1.Container{Name: "c",
		EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "s1"}}}},
		Env:     []corev1.EnvVar{lit("URL", "postgres://u:$(PASSWORD)@db"), lit("PLAIN", "ok")}}
	env, err := Build(context.Background(), input(c, sources()))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rec := NewRecord("app", "p", "uid-1", "c", env, metav1.Now().Time)
	if err := WriteRecord(dir, rec); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "env", "uid-1", "c.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "hunter2") {
		t.Fatal("a secret's value was written to the record")
	}
	back, err := LoadRecord(dir, "uid-1", "c")
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, v := range back.Vars {
		switch v.Name {
		case "PASSWORD", "URL":
			if !v.Secret || v.Value != "" {
				t.Errorf("%s: %+v", v.Name, v)
			}
			found++
		case "PLAIN":
			if v.Value != "ok" {
				t.Errorf("PLAIN = %q", v.Value)
			}
			found++
		}
	}
	if found != 3 {
		t.Errorf("found %d of 3 variables", found)
	}
	if _, err := LoadRecord(dir, "..", "c"); err == nil {
		t.Error("a path-escaping UID must be refused")
	}
}

func TestCheckExec(t *testing.T) {
	var svcs []*corev1.Service
	for i := 0; i < 500; i++ {
		svcs = append(svcs, svc("app", "service-number-"+strings.Repeat("x", 20)+"-"+string(rune('a'+i%26))+strings.Repeat("y", i%7)+"-"+itoa(i), "10.96.1.1", port("http", 8080, "TCP")))
	}
	in := input(corev1.Container{Name: "c"}, sources())
	in.Services = svcs
	env, err := Build(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	total, _ := env.ExecSize(nil)
	// 500 Services fit in the default 2 MiB (measured: exec takes 2097152
	// bytes of strings, NULs and pointers with an 8 MiB stack).
	if err := env.CheckExec("c", nil, 2097152); err != nil {
		t.Fatalf("500 Services (%d bytes) refused: %v", total, err)
	}
	err = env.CheckExec("c", []string{"sh"}, total/2)
	if err == nil || !strings.Contains(err.Error(), "argument list too long") || !strings.Contains(err.Error(), "500 Services") ||
		!strings.Contains(err.Error(), "enableServiceLinks: false") {
		t.Errorf("over the limit: %v", err)
	}
	big := input(corev1.Container{Name: "c", Env: []corev1.EnvVar{lit("HUGE", strings.Repeat("x", MaxArgStrLen))}}, sources())
	env, err = Build(context.Background(), big)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.CheckExec("c", nil, 1<<30); err == nil || !strings.Contains(err.Error(), "HUGE") {
		t.Errorf("one string over MAX_ARG_STRLEN: %v", err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
