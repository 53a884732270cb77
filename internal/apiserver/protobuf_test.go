package apiserver

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/client-go/kubernetes/scheme"
)

const acceptProtobuf = "application/vnd.kubernetes.protobuf, application/json"

// decodeProto decodes a protobuf body as client-go does.
func decodeProto(t *testing.T, body []byte, into runtime.Object) {
	t.Helper()
	if !isProtoEnveloped(body) {
		t.Fatalf("not protobuf: %.200q", body)
	}
	if _, _, err := protobuf.NewSerializer(scheme.Scheme, scheme.Scheme).Decode(body, nil, into); err != nil {
		t.Fatalf("decoding protobuf: %v", err)
	}
}

// TestProtobufMatchesJSON: a get, a list and a watch in protobuf carry
// exactly what the JSON ones carry.
func TestProtobufMatchesJSON(t *testing.T) {
	_, do := newTestServer(t)
	for _, name := range []string{"a", "b", "c"} {
		if rec := do("POST", "/api/v1/namespaces/default/pods", "application/json", strings.Replace(podJSON, "%s", name, 1)); rec.Code != http.StatusCreated {
			t.Fatalf("creating pod %s: %d %s", name, rec.Code, rec.Body)
		}
	}
	if rec := do("PATCH", "/api/v1/namespaces/default/pods/c", "application/merge-patch+json", `{"metadata":{"labels":{"app":"db"}}}`); rec.Code != http.StatusOK {
		t.Fatalf("patching pod c: %d %s", rec.Code, rec.Body)
	}

	t.Run("get", func(t *testing.T) {
		rec := do("GET", "/api/v1/namespaces/default/pods/a", "", "", "Accept", acceptProtobuf)
		if ct := rec.Header().Get("Content-Type"); ct != protobufMediaType {
			t.Fatalf("Content-Type = %q, want %q", ct, protobufMediaType)
		}
		var got, want corev1.Pod
		decodeProto(t, rec.Body.Bytes(), &got)
		if err := json.Unmarshal(do("GET", "/api/v1/namespaces/default/pods/a", "", "").Body.Bytes(), &want); err != nil {
			t.Fatal(err)
		}
		got.TypeMeta = want.TypeMeta // protobuf carries it in the envelope
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("protobuf get differs from JSON (-json +protobuf):\n%s", diff)
		}
	})

	for _, path := range []string{"/api/v1/namespaces/default/pods", "/api/v1/pods?labelSelector=app%3Dweb"} {
		t.Run("list "+path, func(t *testing.T) {
			rec := do("GET", path, "", "", "Accept", acceptProtobuf)
			var got, want corev1.PodList
			decodeProto(t, rec.Body.Bytes(), &got)
			if err := json.Unmarshal(do("GET", path, "", "").Body.Bytes(), &want); err != nil {
				t.Fatal(err)
			}
			// Protobuf carries types in the envelope, not per item.
			got.TypeMeta = want.TypeMeta
			for i := range want.Items {
				want.Items[i].TypeMeta = metav1.TypeMeta{}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("protobuf list differs from JSON (-json +protobuf):\n%s", diff)
			}
			if len(got.Items) == 0 {
				t.Error("empty list")
			}
		})
	}

	t.Run("watch", func(t *testing.T) {
		rec := do("GET", "/api/v1/namespaces/default/pods?watch=1&resourceVersion=0&timeoutSeconds=1&labelSelector=app%3Dweb", "", "", "Accept", acceptProtobuf)
		if ct := rec.Header().Get("Content-Type"); ct != protobufWatchType {
			t.Fatalf("Content-Type = %q, want %q", ct, protobufWatchType)
		}
		var names []string
		body := rec.Body.Bytes()
		for len(body) > 0 {
			if len(body) < 4 {
				t.Fatalf("truncated frame: %q", body)
			}
			n := binary.BigEndian.Uint32(body)
			frame := body[4 : 4+n]
			body = body[4+n:]
			var ev metav1.WatchEvent
			if err := ev.Unmarshal(frame); err != nil {
				t.Fatalf("decoding a watch event: %v", err)
			}
			var p corev1.Pod
			decodeProto(t, ev.Object.Raw, &p)
			if ev.Type != "ADDED" || p.ResourceVersion == "" {
				t.Errorf("event %s %s (resourceVersion %q), want ADDED with a resourceVersion", ev.Type, p.Name, p.ResourceVersion)
			}
			names = append(names, p.Name)
		}
		if diff := cmp.Diff([]string{"a", "b"}, names); diff != "" {
			t.Errorf("watched pods (-want +got):\n%s", diff)
		}
	})
}

// TestReadResourceVersions: gets, lists and watches at a resourceVersion,
// with Kubernetes' semantics and errors.
func TestReadResourceVersions(t *testing.T) {
	s, do := newTestServer(t)
	rec := do("POST", "/api/v1/namespaces/default/configmaps", "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}`)
	if rec.Code != http.StatusCreated {
		t.Fatalf("creating: %d %s", rec.Code, rec.Body)
	}
	var cm corev1.ConfigMap
	_ = json.Unmarshal(rec.Body.Bytes(), &cm)
	rev := revisionOf(&cm)
	for i := range 3 {
		rec = do("PATCH", "/api/v1/namespaces/default/configmaps/a", "application/merge-patch+json", `{"data":{"k":"`+fmt.Sprint(i)+`"}}`)
		if rec.Code != http.StatusOK {
			t.Fatalf("patching: %d %s", rec.Code, rec.Body)
		}
	}
	_ = json.Unmarshal(rec.Body.Bytes(), &cm)
	last := revisionOf(&cm)
	if err := s.cfg.Store.Compact(t.Context(), last-1); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, path string
		code       int
		contains   string
	}{
		{"get, newest", "/api/v1/namespaces/default/configmaps/a", 200, fmt.Sprintf(`"resourceVersion":"%d"`, last)},
		{"get, any", "/api/v1/namespaces/default/configmaps/a?resourceVersion=0", 200, fmt.Sprintf(`"resourceVersion":"%d"`, last)},
		{"get, not older than", fmt.Sprintf("/api/v1/namespaces/default/configmaps/a?resourceVersion=%d", rev), 200, fmt.Sprintf(`"resourceVersion":"%d"`, last)},
		{"list, any", "/api/v1/namespaces/default/configmaps?resourceVersion=0", 200, `"name":"a"`},
		{"list, not older than", fmt.Sprintf("/api/v1/namespaces/default/configmaps?resourceVersion=%d&resourceVersionMatch=NotOlderThan", last), 200, `"name":"a"`},
		{"list, match without resourceVersion", "/api/v1/namespaces/default/configmaps?resourceVersionMatch=NotOlderThan", 400, "resourceVersionMatch is forbidden unless resourceVersion is provided"},
		{"list, bad match", "/api/v1/namespaces/default/configmaps?resourceVersion=1&resourceVersionMatch=Newest", 400, "resourceVersionMatch: Unsupported value"},
		{"list, too large", fmt.Sprintf("/api/v1/namespaces/default/configmaps?resourceVersion=%d", last+1000), 504, "Too large resource version"},
		{"watch, compacted", fmt.Sprintf("/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=2&resourceVersion=%d", rev), 200, fmt.Sprintf(`too old resource version: %d (%d)`, rev, last-1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := do("GET", tc.path, "", "")
			body, _ := io.ReadAll(rec.Body)
			if rec.Code != tc.code || !bytes.Contains(body, []byte(tc.contains)) {
				t.Errorf("GET %s = %d %.300s, want %d containing %s", tc.path, rec.Code, body, tc.code, tc.contains)
			}
		})
	}
}
