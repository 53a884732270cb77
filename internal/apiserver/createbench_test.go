package apiserver

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// BenchmarkCreatePod: the server's own cost of a pod create (memory store
// behind the watch cache: no etcd, no network).
func BenchmarkCreatePod(b *testing.B) {
	_, do := newTestServer(b)
	for i := 0; b.Loop(); i++ {
		body := strings.Replace(podJSON, "%s", fmt.Sprintf("p%d", i), 1)
		if rec := do("POST", "/api/v1/namespaces/default/pods", "application/json", body); rec.Code != 201 {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkCreatePodHTTP2: a pod create through the server's whole HTTP
// path (request limits, TLS, HTTP/2) from one client, one at a time, as
// client-go sends it, the pod 4 KiB of JSON like bench/api's (memory
// store: no etcd).
func BenchmarkCreatePodHTTP2(b *testing.B) {
	pod := strings.Replace(podJSON, `"labels":{"app":"web"}`,
		`"labels":{"app":"web"},"annotations":{"note":"`+strings.Repeat("x", 3800)+`"}`, 1)
	s, _ := newTestServer(b)
	hs := httptest.NewUnstartedServer(s.Handler())
	hs.EnableHTTP2 = true
	hs.Config.HTTP2 = s.httpServer(b.Context()).HTTP2
	hs.StartTLS()
	b.Cleanup(hs.Close)
	client := hs.Client()
	for i := 0; b.Loop(); i++ {
		body := strings.Replace(pod, "%s", fmt.Sprintf("p%d", i), 1)
		req, _ := http.NewRequest("POST", hs.URL+"/api/v1/namespaces/default/pods", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer test-token")
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 201 || resp.ProtoMajor != 2 {
			b.Fatalf("%s: %d", resp.Proto, resp.StatusCode)
		}
	}
}
