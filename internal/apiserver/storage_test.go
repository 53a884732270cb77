package apiserver

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/storage/memory"
)

// TestDeleteDecodesOnlyCandidates: deleting one object looks for its
// dependents without decoding every object of the namespace.
func TestDeleteDecodesOnlyCandidates(t *testing.T) {
	s, do := newTestServer(t)
	for i := range 200 {
		if rec := do("POST", "/api/v1/namespaces/default/configmaps", "application/json", fmt.Sprintf(cmJSON, fmt.Sprintf("cm%d", i), "x")); rec.Code != http.StatusCreated {
			t.Fatalf("create: %d %s", rec.Code, rec.Body)
		}
	}
	before := s.objs.decodes.Load()
	if rec := do("DELETE", "/api/v1/namespaces/default/configmaps/cm7", "", ""); rec.Code != http.StatusOK {
		t.Fatalf("delete: %d %s", rec.Code, rec.Body)
	}
	if n := s.objs.decodes.Load() - before; n > 10 {
		t.Errorf("deleting one of 200 objects decoded %d objects", n)
	}
}

// TestEventsExpire: events live for the event TTL after their last write,
// other objects stay.
func TestEventsExpire(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s, err := New(Config{Store: memory.New(), Registry: registry.Resources(), Listener: ln, TLS: &tls.Config{},
		Tokens: map[string]string{"test-token": "admin"}, EventTTL: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	do := func(method, path, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer test-token")
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		return rec
	}
	do("POST", "/api/v1/namespaces", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"default"}}`)
	ev := `{"apiVersion":"v1","kind":"Event","metadata":{"name":"e1","namespace":"default"},"involvedObject":{"kind":"Pod","name":"p","namespace":"default"},"reason":"Started","message":"m","type":"Normal"}`
	if rec := do("POST", "/api/v1/namespaces/default/events", ev); rec.Code != http.StatusCreated {
		t.Fatalf("create event: %d %s", rec.Code, rec.Body)
	}
	if rec := do("POST", "/api/v1/namespaces/default/configmaps", fmt.Sprintf(cmJSON, "stays", "x")); rec.Code != http.StatusCreated {
		t.Fatalf("create configmap: %d", rec.Code)
	}
	deadline := time.Now().Add(10 * time.Second)
	for do("GET", "/api/v1/namespaces/default/events/e1", "").Code != http.StatusNotFound {
		if time.Now().After(deadline) {
			t.Fatal("the event did not expire")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if rec := do("GET", "/api/v1/namespaces/default/configmaps/stays", ""); rec.Code != http.StatusOK {
		t.Errorf("the configmap: %d, want it kept", rec.Code)
	}
}
