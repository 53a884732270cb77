package apiserver

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/storage/memory"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// fuzzServer is a server for calling its functions directly (no listener
// is served).
func fuzzServer(f *testing.F) *Server {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { ln.Close() })
	s, err := New(Config{Store: memory.New(), Registry: registry.Resources(), Listener: ln, TLS: &tls.Config{}})
	if err != nil {
		f.Fatal(err)
	}
	return s
}

func fuzzResource(f *testing.F, s *Server, resource string) *registry.Resource {
	res, ok := s.reg.Lookup(schema.GroupVersionResource{Version: "v1", Resource: resource})
	if !ok {
		f.Fatalf("no resource %s", resource)
	}
	return res
}

// FuzzPatch: the three patch types never panic on any patch, answer
// errors as API statuses, and never yield an object past the size limit.
func FuzzPatch(f *testing.F) {
	s := fuzzServer(f)
	res := fuzzResource(f, s, "pods")
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox",
			Env: []corev1.EnvVar{{Name: "A", Value: "1"}}, Ports: []corev1.ContainerPort{{ContainerPort: 80}}}}}}
	pod.SetResourceVersion("5")
	for _, seed := range []struct {
		pt    uint8
		patch string
	}{
		{0, `[{"op":"replace","path":"/metadata/labels/app","value":"db"}]`},
		{0, `[{"op":"copy","from":"/spec","path":"/metadata/annotations"}]`},
		{0, `[{"op":"add","path":"/spec/containers/-","value":{"name":"d","image":"x"}},{"op":"move","from":"/spec/containers/0","path":"/spec/containers/1"}]`},
		{0, `[{"op":"remove","path":"/spec/containers/-1"}]`},
		{0, `[{"op":"test","path":"/metadata/name","value":"p"}]`},
		{1, `{"metadata":{"labels":{"app":null}}}`},
		{1, `{"spec":{"containers":[{"name":"c","image":"b"}]}}`},
		{2, `{"spec":{"containers":[{"name":"c","env":[{"name":"B","value":"2"}]}]}}`},
		{2, `{"spec":{"containers":[{"$patch":"delete","name":"c"}]}}`},
		{2, `{"spec":{"$setElementOrder/containers":[{"name":"c"}],"containers":[{"name":"c","ports":[{"$patch":"replace"}]}]}}`},
		{2, `{"metadata":{"$deleteFromPrimitiveList/finalizers":["a"]}}`},
		{2, `{"$retainKeys":["spec"],"spec":null}`},
		{1, `null`}, {2, `[]`}, {0, `{}`},
	} {
		f.Add(seed.pt, []byte(seed.patch))
	}
	types3 := []types.PatchType{types.JSONPatchType, types.MergePatchType, types.StrategicMergePatchType}
	f.Fuzz(func(t *testing.T, pt uint8, patch []byte) {
		out, err := s.mergePatch(res, types3[int(pt)%3], pod.DeepCopy(), patch, &writeOptions{validation: metav1.FieldValidationWarn})
		if err != nil {
			var status apierrors.APIStatus
			if !errors.As(err, &status) {
				t.Fatalf("patch %q: a non-API error %T: %v", patch, err, err)
			}
			return
		}
		data, err := json.Marshal(out)
		if err != nil {
			t.Fatalf("the patched object does not encode: %v", err)
		}
		if len(data) > maxPatchedObjectBytes+64<<10 {
			t.Fatalf("the patched object has %d bytes", len(data))
		}
	})
}

// FuzzSelectors: label and field selectors parse or fail with 400, and a
// parsed selector can be matched against an object.
func FuzzSelectors(f *testing.F) {
	s := fuzzServer(f)
	res := fuzzResource(f, s, "pods")
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", Labels: map[string]string{"app": "web", "tier": "1"}},
		Spec: corev1.PodSpec{NodeName: "node1"}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	for _, seed := range [][2]string{
		{"app=web", "spec.nodeName=node1"}, {"app in (web,db),!tier", "status.phase!=Pending"},
		{"tier notin (2), app", "metadata.name==p,metadata.namespace=default"}, {"app!=", "spec.nodeName="},
		{"a=b=c", "x=y"}, {"(", "metadata.name=p\\,q"}, {"tier>0", "status.phase"}, {"", ""},
	} {
		f.Add(seed[0], seed[1], "")
		f.Add(seed[0], seed[1], "p")
	}
	f.Fuzz(func(t *testing.T, labelSel, fieldSel, name string) {
		q := url.Values{"labelSelector": {labelSel}, "fieldSelector": {fieldSel}}
		r := httptest.NewRequest(http.MethodGet, "/api/v1/pods", nil)
		r.URL.RawQuery = q.Encode()
		sel, err := parseSelectors(r, res, name)
		if err != nil {
			if !apierrors.IsBadRequest(err) {
				t.Fatalf("selectors %q %q: %v, want 400", labelSel, fieldSel, err)
			}
			return
		}
		_ = sel.matches(res, pod)
	})
}

// FuzzDecode: a request body in any supported content type decodes or
// fails with 400; it never panics.
func FuzzDecode(f *testing.F) {
	s := fuzzServer(f)
	pods := fuzzResource(f, s, "pods")
	contentTypes := []string{"application/json", "application/yaml", "application/vnd.kubernetes.protobuf"}
	for _, seed := range []string{
		podJSON, `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","name":"b"}}`,
		`{"apiVersion":"v2","kind":"Pod"}`, `{"kind":"Service"}`, `{"spec":{"containers":7}}`,
		"apiVersion: v1\nkind: Pod\nmetadata:\n  name: y\n", "a: &a [*a]", "k8s\x00\n\x02v1\x12\x03Pod", "", "null", "[]",
	} {
		for i := range contentTypes {
			f.Add(uint8(i), []byte(seed))
		}
	}
	f.Fuzz(func(t *testing.T, ct uint8, body []byte) {
		contentType := contentTypes[int(ct)%len(contentTypes)]
		data := body
		if contentType == "application/yaml" {
			j, err := toJSON(contentType, body)
			if err != nil {
				return
			}
			data, contentType = j, "application/json"
		}
		_, _, err := s.decodeObjectAs(pods, contentType, data, metav1.FieldValidationStrict)
		if err != nil && !apierrors.IsBadRequest(err) {
			t.Fatalf("decoding %q: %v, want 400", body, err)
		}
		var opts metav1.DeleteOptions
		if err := s.decodeInto(contentType, data, metav1.SchemeGroupVersion.WithKind("DeleteOptions"), &opts); err != nil && !apierrors.IsBadRequest(err) {
			t.Fatalf("decoding DeleteOptions %q: %v, want 400", body, err)
		}
	})
}
