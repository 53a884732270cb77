package apiserver

import (
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestPodGeneration follows Kubernetes' pod strategies: creation sets 1,
// binding and status writes keep it, a spec change bumps it, and the first
// graceful deletion bumps it once more.
func TestPodGeneration(t *testing.T) {
	_, do := newTestServer(t)
	const path = "/api/v1/namespaces/default/pods/g"
	get := func() corev1.Pod {
		t.Helper()
		rec := do("GET", path, "", "")
		var p corev1.Pod
		if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
			t.Fatalf("get: %d %s", rec.Code, rec.Body)
		}
		return p
	}
	if rec := do("POST", "/api/v1/nodes", "application/json", `{"apiVersion":"v1","kind":"Node","metadata":{"name":"n1"}}`); rec.Code != 201 {
		t.Fatalf("creating node n1: %d %s", rec.Code, rec.Body)
	}
	steps := []struct {
		name, method, path, ctype, body string
		code                            int
		gen                             int64
	}{
		{"create", "POST", "/api/v1/namespaces/default/pods", "application/json",
			`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"g","namespace":"default","generation":100},"spec":{"terminationGracePeriodSeconds":30,"containers":[{"name":"c","image":"busybox"}]}}`, 201, 1},
		{"binding", "POST", path + "/binding", "application/json",
			`{"apiVersion":"v1","kind":"Binding","metadata":{"name":"g"},"target":{"kind":"Node","name":"n1"}}`, 201, 1},
		{"status", "PATCH", path + "/status", "application/merge-patch+json",
			`{"status":{"phase":"Running","observedGeneration":1}}`, 200, 1},
		{"spec", "PATCH", path, "application/merge-patch+json", `{"spec":{"activeDeadlineSeconds":100}}`, 200, 2},
		{"labels only", "PATCH", path, "application/merge-patch+json", `{"metadata":{"labels":{"a":"b"}}}`, 200, 2},
		{"graceful delete", "DELETE", path, "", "", 200, 3},
		{"delete again", "DELETE", path, "", "", 200, 3},
	}
	for _, s := range steps {
		rec := do(s.method, s.path, s.ctype, s.body)
		if rec.Code != s.code {
			t.Fatalf("%s: %d %s", s.name, rec.Code, rec.Body)
		}
		if p := get(); p.Generation != s.gen {
			t.Errorf("%s: generation %d, want %d", s.name, p.Generation, s.gen)
		}
	}
	if p := get(); p.Status.ObservedGeneration != 1 || !strings.Contains(p.Spec.NodeName, "n1") {
		t.Errorf("observedGeneration %d nodeName %q", p.Status.ObservedGeneration, p.Spec.NodeName)
	}
}
