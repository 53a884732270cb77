package apiserver

import (
	"fmt"
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
