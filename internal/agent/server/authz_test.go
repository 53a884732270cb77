package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// sarFake allows what its rule says and records the attributes it saw.
type sarFake struct {
	allow func(authorizer.Attributes) bool
	seen  []authorizer.Attributes
}

func (f *sarFake) Authorize(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	f.seen = append(f.seen, a)
	if f.allow(a) {
		return authorizer.DecisionAllow, "", nil
	}
	return authorizer.DecisionNoOpinion, "", nil
}

func TestWithAuthorization(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("served")) })
	fake := &sarFake{allow: func(a authorizer.Attributes) bool {
		for _, g := range a.GetUser().GetGroups() {
			if g == "system:masters" {
				return true
			}
		}
		return a.GetUser().GetName() == "apiserver" && a.GetVerb() == "create"
	}}
	h := withAuthorization(ok, fake, "n1")
	cert := func(cn string, groups ...string) *tls.ConnectionState {
		return &tls.ConnectionState{PeerCertificates: []*x509.Certificate{{Subject: pkix.Name{CommonName: cn, Organization: groups}}}}
	}
	cases := []struct {
		name, method, path string
		tls                *tls.ConnectionState
		code               int
		body               string
	}{
		{"MastersLogs", "GET", "/containerLogs/ns/p/c", cert("kube-apiserver-kubelet-client", "system:masters"), 200, "served"},
		{"ExecCreateAllowed", "POST", "/exec/ns/p/c", cert("apiserver"), 200, "served"},
		{"LogsGetRefused", "GET", "/containerLogs/ns/p/c", cert("apiserver"), 403, "Forbidden (user=apiserver, verb=get, resource=nodes, subresource(s)=[proxy])"},
		{"NodeRefused", "GET", "/exec/ns/p/c", cert("system:node:n2", "system:nodes"), 403, "Forbidden (user=system:node:n2, verb=get, resource=nodes, subresource(s)=[proxy])"},
		{"NoCertificate", "GET", "/containerLogs/ns/p/c", nil, 401, "Unauthorized"},
		{"HealthzOpen", "GET", "/healthz", nil, 200, "served"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(c.method, c.path, nil)
			r.TLS = c.tls
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != c.code || !strings.Contains(w.Body.String(), c.body) {
				t.Errorf("%s %s: %d %q, want %d %q", c.method, c.path, w.Code, w.Body.String(), c.code, c.body)
			}
		})
	}
	a := fake.seen[0]
	if a.GetResource() != "nodes" || a.GetSubresource() != "proxy" || a.GetName() != "n1" || a.GetAPIVersion() != "v1" || !a.IsResourceRequest() {
		t.Errorf("attributes %+v, want nodes/proxy of n1", a)
	}
}
