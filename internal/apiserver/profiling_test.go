package apiserver

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
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
