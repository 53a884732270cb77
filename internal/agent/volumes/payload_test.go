package volumes

import (
	"context"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes/fake"
)

func TestConfigMapPayload(t *testing.T) {
	cm := configMap("cfg", map[string]string{"a": "A", "b": "B"})
	cm.BinaryData = map[string][]byte{"bin": {0, 1, 2}}
	tests := []struct {
		name     string
		items    []corev1.KeyToPath
		optional bool
		want     payload
		wantErr  string
	}{
		{name: "all keys with the default mode", want: payload{
			"a": {Data: []byte("A"), Mode: 0o644}, "b": {Data: []byte("B"), Mode: 0o644}, "bin": {Data: []byte{0, 1, 2}, Mode: 0o644}}},
		{name: "items with paths and modes", items: []corev1.KeyToPath{
			{Key: "a", Path: "conf/a.txt", Mode: ptr(int32(0o400))}, {Key: "bin", Path: "b.bin"}},
			want: payload{"conf/a.txt": {Data: []byte("A"), Mode: 0o400}, "b.bin": {Data: []byte{0, 1, 2}, Mode: 0o644}}},
		{name: "missing item key", items: []corev1.KeyToPath{{Key: "nope", Path: "x"}},
			wantErr: "configmap references non-existent config key: nope"},
		{name: "missing item key, optional", items: []corev1.KeyToPath{{Key: "nope", Path: "x"}, {Key: "a", Path: "a"}}, optional: true,
			want: payload{"a": {Data: []byte("A"), Mode: 0o644}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := configMapPayload(tt.items, cm, 0o644, tt.optional)
			checkPayload(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestSecretPayload(t *testing.T) {
	s := secret("s", map[string]string{"user": "admin", "pass": "hunter2"})
	tests := []struct {
		name     string
		items    []corev1.KeyToPath
		mode     int32
		optional bool
		want     payload
		wantErr  string
	}{
		{name: "all keys", mode: 0o400, want: payload{"user": {Data: []byte("admin"), Mode: 0o400}, "pass": {Data: []byte("hunter2"), Mode: 0o400}}},
		{name: "items", mode: 0o644, items: []corev1.KeyToPath{{Key: "pass", Path: "db/password", Mode: ptr(int32(0o600))}},
			want: payload{"db/password": {Data: []byte("hunter2"), Mode: 0o600}}},
		{name: "missing key", mode: 0o644, items: []corev1.KeyToPath{{Key: "token", Path: "t"}},
			wantErr: "references non-existent secret key: token"},
		{name: "missing key, optional", mode: 0o644, items: []corev1.KeyToPath{{Key: "token", Path: "t"}}, optional: true, want: payload{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := secretPayload(tt.items, s, tt.mode, tt.optional)
			checkPayload(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestProjectedPayload(t *testing.T) {
	src := clientSources{client: fake.NewClientset(
		configMap("cfg", map[string]string{"a": "from-cm", "shared": "cm"}),
		secret("sec", map[string]string{"s": "from-secret", "shared": "secret"}),
	)}
	pod := testPod(nil)
	tests := []struct {
		name        string
		sources     []corev1.VolumeProjection
		want        payload
		wantErr     string
		wantSkipped []string
	}{
		{name: "merged, later sources win", sources: []corev1.VolumeProjection{
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"},
				Items: []corev1.KeyToPath{{Key: "s", Path: "s"}, {Key: "shared", Path: "shared", Mode: ptr(int32(0o400))}}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}},
		}, want: payload{
			"a": {Data: []byte("from-cm"), Mode: 0o640}, "shared": {Data: []byte("secret"), Mode: 0o400},
			"s": {Data: []byte("from-secret"), Mode: 0o640}, "name": {Data: []byte("p"), Mode: 0o640}}},
		{name: "service account token skipped", sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token"}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
				{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}},
		}, want: payload{"namespace": {Data: []byte("ns"), Mode: 0o640}}, wantSkipped: []string{"serviceAccountToken:token"}},
		{name: "optional missing sources", sources: []corev1.VolumeProjection{
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}, Optional: ptr(true)}},
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}, Optional: ptr(true)}},
		}, want: payload{}},
		{name: "one missing source", sources: []corev1.VolumeProjection{
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}}},
		}, wantErr: `secret "gone" not found`},
		{name: "errors joined", sources: []corev1.VolumeProjection{
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "nocm"}}},
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "nosec"}}},
		}, wantErr: `[configmap "nocm" not found, secret "nosec" not found]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var skipped []string
			got, err := projectedPayload(context.Background(), src, pod,
				&corev1.ProjectedVolumeSource{Sources: tt.sources, DefaultMode: ptr(int32(0o640))}, testAlloc,
				func(kind, path string) { skipped = append(skipped, kind+":"+path) })
			checkPayload(t, got, err, tt.want, tt.wantErr)
			if !reflect.DeepEqual(skipped, tt.wantSkipped) {
				t.Errorf("skipped %v, want %v", skipped, tt.wantSkipped)
			}
		})
	}
}

func TestSourcesNotFoundWording(t *testing.T) {
	src := clientSources{client: fake.NewClientset()}
	_, err := src.configMap(context.Background(), "ns", "x")
	if !apierrors.IsNotFound(err) || err.Error() != `configmap "x" not found` {
		t.Errorf("configMap error %v (NotFound %v), want NotFound `configmap \"x\" not found`", err, apierrors.IsNotFound(err))
	}
	_, err = src.secret(context.Background(), "ns", "x")
	if !apierrors.IsNotFound(err) || err.Error() != `secret "x" not found` {
		t.Errorf("secret error %v, want NotFound `secret \"x\" not found`", err)
	}
}

func TestMemoSourcesReadsOnce(t *testing.T) {
	client := fake.NewClientset(configMap("cfg", map[string]string{"a": "A"}))
	src := newMemoSources(clientSources{client: client})
	for range 3 {
		if _, err := src.configMap(context.Background(), "ns", "cfg"); err != nil {
			t.Fatal(err)
		}
		if _, err := src.secret(context.Background(), "ns", "missing"); err == nil {
			t.Fatal("missing secret found")
		}
	}
	if n := len(client.Actions()); n != 2 {
		t.Errorf("%d API calls, want 2", n)
	}
}

func checkPayload(t *testing.T, got payload, err error, want payload, wantErr string) {
	t.Helper()
	if wantErr != "" {
		if err == nil || err.Error() != wantErr {
			t.Fatalf("error %v, want %q", err, wantErr)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Errorf("payload has %d files, want %d: %v", len(got), len(want), keys(got))
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("missing %s", k)
			continue
		}
		if string(g.Data) != string(w.Data) || g.Mode != w.Mode {
			t.Errorf("%s = %q %o, want %q %o", k, g.Data, g.Mode, w.Data, w.Mode)
		}
	}
}

func keys(p payload) []string {
	var out []string
	for k := range p {
		out = append(out, k)
	}
	return out
}
