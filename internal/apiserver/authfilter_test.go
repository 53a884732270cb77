package apiserver

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/registry"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// onlyAdmin allows everything to "admin" and nothing to others, as RBAC
// with cluster-admin and a user without a role.
var onlyAdmin = authorizer.AuthorizerFunc(func(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	if a.GetUser().GetName() == "admin" {
		return authorizer.DecisionAllow, "", nil
	}
	return authorizer.DecisionNoOpinion, "", nil
})

// TestProfiling: /debug/pprof/ is served to a user authorized for it and
// refused (403) to others, and not at all when disabled.
func TestProfiling(t *testing.T) {
	for _, disabled := range []bool{false, true} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		s, err := New(Config{Store: cachedMemory(t), Registry: registry.Resources(), Listener: ln, TLS: &tls.Config{},
			Tokens: map[string]string{"admin-token": "admin", "viewer-token": "viewer"}, Authorizer: onlyAdmin,
			DisableProfiling: disabled})
		if err != nil {
			t.Fatal(err)
		}
		get := func(path, token string) int {
			req := httptest.NewRequest("GET", path, nil)
			req.Header.Set("Authorization", "Bearer "+token)
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			return rec.Code
		}
		wantAdmin := http.StatusOK
		if disabled {
			wantAdmin = http.StatusNotFound
		}
		for _, path := range []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/pprof/cmdline"} {
			if got := get(path, "admin-token"); got != wantAdmin {
				t.Errorf("disabled=%v: GET %s as admin: %d, want %d", disabled, path, got, wantAdmin)
			}
			if got := get(path, "viewer-token"); got != http.StatusForbidden {
				t.Errorf("disabled=%v: GET %s as a user without the right: %d, want 403", disabled, path, got)
			}
		}
	}
}

// TestImpersonationHeaders: a request with Impersonate-User acts as that
// user when the caller may impersonate, and is refused otherwise; one
// without it is the caller's own.
func TestImpersonationHeaders(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s, err := New(Config{Store: cachedMemory(t), Registry: registry.Resources(), Listener: ln, TLS: &tls.Config{},
		Tokens: map[string]string{"admin-token": "admin", "viewer-token": "viewer"},
		Authorizer: authorizer.AuthorizerFunc(func(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
			if u := a.GetUser().GetName(); u == "admin" || u == "bob" && a.GetVerb() == "create" {
				return authorizer.DecisionAllow, "", nil
			}
			return authorizer.DecisionNoOpinion, "", nil
		})})
	if err != nil {
		t.Fatal(err)
	}
	review := func(token string, hdr ...string) (int, string) {
		req := httptest.NewRequest("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
			strings.NewReader(`{"apiVersion":"authentication.k8s.io/v1","kind":"SelfSubjectReview"}`))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		var out struct {
			Status struct {
				UserInfo struct{ Username string } `json:"userInfo"`
			} `json:"status"`
		}
		_ = json.Unmarshal(rec.Body.Bytes(), &out)
		return rec.Code, out.Status.UserInfo.Username
	}
	if code, user := review("admin-token"); code != http.StatusCreated || user != "admin" {
		t.Errorf("no impersonation: %d %q, want 201 admin", code, user)
	}
	if code, user := review("admin-token", "impersonate-user", "bob"); code != http.StatusCreated || user != "bob" {
		t.Errorf("admin as bob: %d %q, want 201 bob", code, user)
	}
	if code, _ := review("viewer-token", "Impersonate-User", "admin"); code != http.StatusForbidden {
		t.Errorf("viewer as admin: %d, want 403", code)
	}
}
