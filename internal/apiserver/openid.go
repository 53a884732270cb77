package apiserver

import (
	"fmt"
	"net/http"
)

// OpenIDMetadata is the service-account issuer's OIDC discovery: its
// document and its key set, each with how long clients may cache it.
type OpenIDMetadata interface {
	OpenIDConfiguration() (json []byte, maxAgeSeconds int)
	OpenIDKeySet() (json []byte, maxAgeSeconds int)
}

// Kubernetes' paths for service-account issuer discovery; authorized as
// non-resource URLs (system:service-account-issuer-discovery grants them).
const (
	openIDConfigPath = "/.well-known/openid-configuration"
	openIDKeySetPath = "/openid/v1/jwks"
)

// serveOpenID answers the two discovery paths as kube-apiserver does, and
// reports whether the request was one of them.
func (s *Server) serveOpenID(w http.ResponseWriter, r *http.Request) bool {
	md := s.cfg.OpenIDMetadata
	if md == nil || (r.URL.Path != openIDConfigPath && r.URL.Path != openIDKeySetPath) {
		return false
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "405: Method Not Allowed", http.StatusMethodNotAllowed)
		return true
	}
	body, maxAge, ctype := []byte(nil), 0, "application/json"
	if r.URL.Path == openIDConfigPath {
		body, maxAge = md.OpenIDConfiguration()
	} else {
		body, maxAge = md.OpenIDKeySet()
		ctype = "application/jwk-set+json"
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", fmt.Sprintf("public, max-age=%d", maxAge))
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
	return true
}
