package apiserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/storage"
	"github.com/berth-dev/berth/internal/storage/memory"
	"github.com/berth-dev/berth/internal/watchcache"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// cachedMemory is a memory store behind a watch cache, as berth's server
// runs its embedded etcd: the cache is the store's sole writer.
func cachedMemory(t testing.TB) storage.Store {
	t.Helper()
	c, err := watchcache.New(t.Context(), memory.New(), watchcache.Options{SoleWriter: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// newTestServer serves the API over a memory store behind a watch cache,
// authenticating with a bearer token, with the default namespace present.
func newTestServer(t testing.TB) (*Server, func(method, path, contentType, body string, hdr ...string) *httptest.ResponseRecorder) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	s, err := New(Config{Store: cachedMemory(t), Registry: registry.Resources(), Listener: ln, TLS: &tls.Config{},
		Tokens: map[string]string{"test-token": "admin"}})
	if err != nil {
		t.Fatal(err)
	}
	do := func(method, path, contentType, body string, hdr ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer test-token")
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		return rec
	}
	if rec := do("POST", "/api/v1/namespaces", "application/json", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"default"}}`); rec.Code != http.StatusCreated {
		t.Fatalf("creating namespace default: %d %s", rec.Code, rec.Body)
	}
	return s, do
}

const podJSON = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"%s","namespace":"default","labels":{"app":"web"}},"spec":{"serviceAccountName":"x","containers":[{"name":"c","image":"busybox:1.36"}]}}`

func statusOf(t *testing.T, rec *httptest.ResponseRecorder) metav1.Status {
	t.Helper()
	var st metav1.Status
	_ = json.Unmarshal(rec.Body.Bytes(), &st)
	return st
}

func TestRequests(t *testing.T) {
	_, do := newTestServer(t)
	pod := func(name string) string { return strings.Replace(podJSON, "%s", name, 1) }
	for _, tc := range []struct {
		name, method, path, ctype, body string
		hdr                             []string
		code                            int
		contains                        string
	}{
		{name: "create", method: "POST", path: "/api/v1/namespaces/default/pods", ctype: "application/json", body: pod("a"), code: 201, contains: `"imagePullPolicy":"IfNotPresent"`},
		{name: "duplicate", method: "POST", path: "/api/v1/namespaces/default/pods", ctype: "application/json", body: pod("a"), code: 409, contains: `pods \"a\" already exists`},
		{name: "missing namespace", method: "POST", path: "/api/v1/namespaces/nope/pods", ctype: "application/json", body: strings.Replace(pod("b"), `"default"`, `"nope"`, 1), code: 404, contains: `namespaces \"nope\" not found`},
		{name: "strict unknown field", method: "POST", path: "/api/v1/namespaces/default/pods?fieldValidation=Strict", ctype: "application/json",
			body: strings.Replace(pod("c"), `"image":"busybox:1.36"`, `"image":"busybox:1.36","foo":1`, 1), code: 400, contains: `strict decoding error: unknown field \"spec.containers[0].foo\"`},
		{name: "invalid", method: "POST", path: "/api/v1/namespaces/default/pods", ctype: "application/json", body: strings.Replace(pod("d"), `"image":"busybox:1.36"`, `"image":""`, 1), code: 422, contains: "spec.containers[0].image: Required value"},
		{name: "get", method: "GET", path: "/api/v1/namespaces/default/pods/a", code: 200, contains: `"resourceVersion"`},
		{name: "not found", method: "GET", path: "/api/v1/namespaces/default/pods/zz", code: 404, contains: `pods \"zz\" not found`},
		{name: "unsupported field selector", method: "GET", path: "/api/v1/namespaces/default/pods?fieldSelector=spec.foo%3Dx", code: 400, contains: "field label not supported: spec.foo"},
		{name: "label selector", method: "GET", path: "/api/v1/pods?labelSelector=app%3Dnone", code: 200, contains: `"items":[]`},
		{name: "table", method: "GET", path: "/api/v1/namespaces/default/pods", hdr: []string{"Accept", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}, code: 200, contains: `"name":"Restarts"`},
		{name: "merge patch", method: "PATCH", path: "/api/v1/namespaces/default/pods/a", ctype: "application/merge-patch+json", body: `{"metadata":{"labels":{"tier":"x"}}}`, code: 200, contains: `"tier":"x"`},
		{name: "json patch", method: "PATCH", path: "/api/v1/namespaces/default/pods/a", ctype: "application/json-patch+json", body: `[{"op":"add","path":"/metadata/annotations","value":{"k":"v"}}]`, code: 200, contains: `"k":"v"`},
		{name: "immutable spec", method: "PATCH", path: "/api/v1/namespaces/default/pods/a", ctype: "application/strategic-merge-patch+json", body: `{"spec":{"restartPolicy":"Never"}}`, code: 422, contains: "pod updates may not change fields"},
		{name: "stale update", method: "PUT", path: "/api/v1/namespaces/default/pods/a", ctype: "application/json", body: strings.Replace(pod("a"), `"namespace":"default"`, `"namespace":"default","resourceVersion":"1"`, 1), code: 409, contains: "the object has been modified"},
		{name: "discovery", method: "GET", path: "/api/v1", code: 200, contains: `"name":"pods"`},
		{name: "discovery lists discovery.k8s.io", method: "GET", path: "/apis", code: 200, contains: `"name":"discovery.k8s.io"`},
		{name: "endpointslices served", method: "GET", path: "/apis/discovery.k8s.io/v1", code: 200, contains: `"name":"endpointslices","singularName":"endpointslice","namespaced":true,"kind":"EndpointSlice"`},
		{name: "endpointslice defaulted and validated", method: "POST", path: "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices", ctype: "application/json",
			body: `{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"s"},"addressType":"IPv4","ports":[{"port":80}],"endpoints":[{"addresses":["10.0.0.1"]}]}`,
			code: 201, contains: `"ports":[{"name":"","protocol":"TCP","port":80}]`},
		{name: "invalid endpointslice", method: "POST", path: "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices", ctype: "application/json",
			body: `{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"t"},"addressType":"IPv4","endpoints":[{"addresses":["fd00::1"]}]}`,
			code: 422, contains: `EndpointSlice.discovery.k8s.io \"t\" is invalid: endpoints[0].addresses: Invalid value: \"fd00::1\": must be an IPv4 address`},
		{name: "openapi advertises fieldValidation", method: "GET", path: "/openapi/v3/api/v1", code: 200, contains: `"fieldValidation"`},
		{name: "delete unbound pod at once", method: "DELETE", path: "/api/v1/namespaces/default/pods/a", code: 200, contains: `"name":"a"`},
		{name: "gone", method: "GET", path: "/api/v1/namespaces/default/pods/a", code: 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(tc.method, tc.path, tc.ctype, tc.body, tc.hdr...)
			if rec.Code != tc.code || !strings.Contains(rec.Body.String(), tc.contains) {
				t.Errorf("%s %s = %d %s, want %d containing %q", tc.method, tc.path, rec.Code, rec.Body, tc.code, tc.contains)
			}
		})
	}
}

func TestUnauthenticated(t *testing.T) {
	s, _ := newTestServer(t)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/pods", nil))
	if rec.Code != http.StatusUnauthorized || statusOf(t, rec).Reason != metav1.StatusReasonUnauthorized {
		t.Errorf("no credentials: %d %s", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != http.StatusOK || rec.Body.String() != "ok" {
		t.Errorf("/readyz without credentials: %d %s", rec.Code, rec.Body)
	}
}

func TestFinalizerHoldsDeletion(t *testing.T) {
	_, do := newTestServer(t)
	body := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"held","namespace":"default","finalizers":["example.com/hold"]}}`
	if rec := do("POST", "/api/v1/namespaces/default/configmaps", "application/json", body); rec.Code != 201 {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	if rec := do("DELETE", "/api/v1/namespaces/default/configmaps/held", "", ""); rec.Code != 200 || !strings.Contains(rec.Body.String(), "deletionTimestamp") {
		t.Fatalf("delete with a finalizer: %d %s", rec.Code, rec.Body)
	}
	if rec := do("GET", "/api/v1/namespaces/default/configmaps/held", "", ""); rec.Code != 200 {
		t.Fatalf("held object gone early: %d", rec.Code)
	}
	if rec := do("PATCH", "/api/v1/namespaces/default/configmaps/held", "application/merge-patch+json", `{"metadata":{"finalizers":null}}`); rec.Code != 200 {
		t.Fatalf("removing the finalizer: %d %s", rec.Code, rec.Body)
	}
	if rec := do("GET", "/api/v1/namespaces/default/configmaps/held", "", ""); rec.Code != 404 {
		t.Errorf("object still there after its last finalizer went: %d", rec.Code)
	}
}

func TestWatchResumesAndExpires(t *testing.T) {
	s, do := newTestServer(t)
	mk := func(name string) string {
		rec := do("POST", "/api/v1/namespaces/default/configmaps", "application/json", `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"`+name+`","namespace":"default"}}`)
		var cm corev1.ConfigMap
		_ = json.Unmarshal(rec.Body.Bytes(), &cm)
		return cm.ResourceVersion
	}
	rv := mk("one")
	mk("two")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Set("Authorization", "Bearer test-token")
		s.ServeHTTP(w, r.WithContext(ctx))
	}))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=" + rv + "&timeoutSeconds=5")
	if err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(resp.Body).ReadString('\n')
	resp.Body.Close()
	if !strings.Contains(line, `"type":"ADDED"`) || !strings.Contains(line, `"name":"two"`) {
		t.Errorf("watch from %s: first event %s, want ADDED two", rv, line)
	}
	cur, _ := s.cfg.Store.Revision(ctx)
	if err := s.cfg.Store.Compact(ctx, cur); err != nil {
		t.Fatal(err)
	}
	resp, err = http.Get(srv.URL + "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion=" + rv + "&timeoutSeconds=5")
	if err != nil {
		t.Fatal(err)
	}
	line, _ = bufio.NewReader(resp.Body).ReadString('\n')
	resp.Body.Close()
	if !strings.Contains(line, `"type":"ERROR"`) || !strings.Contains(line, `"code":410`) {
		t.Errorf("watch from a compacted revision: %s, want an ERROR event with 410", line)
	}
}
