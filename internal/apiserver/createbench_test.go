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
	benchCreates(b, func(i int) string { return strings.Replace(podJSON, "%s", fmt.Sprintf("p%d", i), 1) })
}

// benchCreates creates the pod body(i) once per iteration, i counting up.
func benchCreates(b *testing.B, body func(i int) string) {
	_, do := newTestServer(b)
	for i := 0; b.Loop(); i++ {
		if rec := do("POST", "/api/v1/namespaces/default/pods", "application/json", body(i)); rec.Code != 201 {
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

// benchWebPod is bench/api's pod: a small web deployment's pod (labels,
// annotations, env with the downward API, ports, resources, a probe),
// about 4 KiB once defaulted and stored.
const benchWebPod = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-0","namespace":"default",
"labels":{"app.kubernetes.io/name":"web","app.kubernetes.io/component":"frontend","app.kubernetes.io/version":"1.27.3","shard":"0"},
"annotations":{"prometheus.io/scrape":"true","prometheus.io/port":"9090"}},
"spec":{"serviceAccountName":"x","schedulerName":"bench-unscheduled","containers":[{"name":"web","image":"registry.example.com/shop/web:1.27.3",
"args":["--listen=:8080","--metrics=:9090"],
"ports":[{"name":"http","containerPort":8080,"protocol":"TCP"},{"name":"metrics","containerPort":9090,"protocol":"TCP"}],
"env":[{"name":"LOG_LEVEL","value":"info"},{"name":"DATABASE_URL","value":"postgres://shop@db.shop.svc:5432/shop?sslmode=disable"},
{"name":"CACHE_TTL","value":"30s"},{"name":"POD_NAME","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}},
{"name":"POD_IP","valueFrom":{"fieldRef":{"fieldPath":"status.podIP"}}}],
"resources":{"requests":{"cpu":"100m","memory":"128Mi"},"limits":{"memory":"256Mi"}},
"readinessProbe":{"httpGet":{"path":"/healthz","port":"http"},"periodSeconds":5}}]}}`

// BenchmarkMergePatchPod: the server's own cost of a JSON merge patch of
// one annotation of bench/api's pod (its watch fan-out's write), memory
// store behind the watch cache.
func BenchmarkMergePatchPod(b *testing.B) {
	_, do := newTestServer(b)
	if rec := do("POST", "/api/v1/namespaces/default/pods", "application/json", benchWebPod); rec.Code != 201 {
		b.Fatalf("%d %s", rec.Code, rec.Body)
	}
	for i := 0; b.Loop(); i++ {
		patch := fmt.Sprintf(`{"metadata":{"annotations":{"bench/round":"%d"}}}`, i)
		if rec := do("PATCH", "/api/v1/namespaces/default/pods/web-0", "application/merge-patch+json", patch); rec.Code != 200 {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkCreateWebPod: BenchmarkCreatePod with bench/api's pod.
func BenchmarkCreateWebPod(b *testing.B) {
	benchCreates(b, func(i int) string { return strings.Replace(benchWebPod, `"web-0"`, fmt.Sprintf(`"web-%d"`, i), 1) })
}
