package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// TestStubServesTheWorkload runs the whole workload, small, against the
// client floor's stub: every request the benchmark makes has an answer
// client-go accepts (typed JSON and protobuf, lists, watch frames).
func TestStubServesTheWorkload(t *testing.T) {
	dir := t.TempDir()
	files := newStubFiles(dir)
	const pods = 20
	podJSON := make([]json.RawMessage, pods)
	for i := range pods {
		p := pod(i)
		p.Namespace, p.ResourceVersion = namespace, strconv.Itoa(i+10)
		b, err := storedJSON(p, "Pod")
		if err != nil {
			t.Fatal(err)
		}
		podJSON[i] = b
	}
	data, _ := json.Marshal(podJSON)
	if err := os.WriteFile(files.pods, data, 0o600); err != nil {
		t.Fatal(err)
	}
	cm, _ := storedJSON(configMap("c"), "ConfigMap")
	if err := os.WriteFile(files.configMap, cm, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := newStub(files)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(s)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	rc := &rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{Insecure: true}, QPS: 1000, Burst: 1000, Timeout: 10 * time.Second}
	cfg := config{pods: pods, n: 5, watchers: 3, events: 2, clients: 2, duration: 200 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := runWorkload(ctx, "stub", cfg, rc, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !res.protoServed || len(res.watchLat) != cfg.watchers*cfg.events || res.gets.ops == 0 || res.creates.ops == 0 {
		t.Fatalf("protobuf %v, %d watch latencies, %d gets, %d creates", res.protoServed, len(res.watchLat), res.gets.ops, res.creates.ops)
	}
}
