package apiserver

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// TestNoOpWrites: an update or patch that changes nothing writes nothing
// (the resourceVersion stays) and answers the stored object, managedFields
// timestamps included; one that changes something writes.
func TestNoOpWrites(t *testing.T) {
	_, do := newTestServer(t)
	const path = "/api/v1/namespaces/default/pods"
	rec := do("POST", path, "application/json", strings.Replace(podJSON, "%s", "p", 1))
	if rec.Code != 201 {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	decode := func(body []byte) *corev1.Pod {
		t.Helper()
		var p corev1.Pod
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatal(err)
		}
		return &p
	}
	created := decode(rec.Body.Bytes())
	if len(created.ManagedFields) == 0 || created.ManagedFields[0].Time == nil {
		t.Fatalf("created pod: managedFields %+v, want an entry with a time", created.ManagedFields)
	}
	for _, tc := range []struct{ name, method, ctype, body string }{
		{"merge patch changing nothing", "PATCH", "application/merge-patch+json", `{"metadata":{"labels":{"app":"web"}}}`},
		{"strategic merge patch changing nothing", "PATCH", "application/strategic-merge-patch+json", `{}`},
		{"JSON patch changing nothing", "PATCH", "application/json-patch+json", `[{"op":"test","path":"/metadata/name","value":"p"}]`},
	} {
		rec := do(tc.method, path+"/p", tc.ctype, tc.body)
		if rec.Code != 200 {
			t.Fatalf("%s: %d %s", tc.name, rec.Code, rec.Body)
		}
		got := decode(rec.Body.Bytes())
		if got.ResourceVersion != created.ResourceVersion {
			t.Errorf("%s: resourceVersion %s, want %s (nothing written)", tc.name, got.ResourceVersion, created.ResourceVersion)
		}
		if len(got.ManagedFields) == 0 || got.ManagedFields[0].Time == nil || !got.ManagedFields[0].Time.Equal(created.ManagedFields[0].Time) {
			t.Errorf("%s: managedFields %+v, want the stored ones", tc.name, got.ManagedFields)
		}
	}
	rec = do("PATCH", path+"/p", "application/merge-patch+json", `{"metadata":{"labels":{"app":"db"}}}`)
	if rec.Code != 200 {
		t.Fatalf("patch: %d %s", rec.Code, rec.Body)
	}
	if got := decode(rec.Body.Bytes()); got.ResourceVersion == created.ResourceVersion || got.Labels["app"] != "db" {
		t.Errorf("a patch changing a label: resourceVersion %s (was %s), labels %v", got.ResourceVersion, created.ResourceVersion, got.Labels)
	}
}

// TestStallWatchdog: it fires for a write that lasts the timeout, not for
// writes that end in time, nor after stop.
func TestStallWatchdog(t *testing.T) {
	fired := make(chan struct{}, 10)
	wd := newStallWatchdog(50*time.Millisecond, func() { fired <- struct{}{} })
	for range 5 { // quick writes
		wd.begin()
		wd.end()
	}
	time.Sleep(120 * time.Millisecond)
	if len(fired) != 0 {
		t.Fatal("fired for writes that ended in time")
	}
	wd.begin() // a write that blocks
	select {
	case <-fired:
	case <-time.After(5 * time.Second):
		t.Fatal("did not fire for a write in progress past the timeout")
	}
	wd.end()
	wd.begin()
	wd.stop()
	time.Sleep(120 * time.Millisecond)
	if len(fired) != 0 {
		t.Fatal("fired after stop")
	}
}
