package server

import (
	"fmt"
	"net/http"

	"k8s.io/apiserver/pkg/authentication/request/x509"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// withAuthorization is the kubelet's webhook authorization mode in front
// of h: the client certificate (already verified against the cluster CA
// by TLS) names the user (CN) and groups (O), and every request but
// /healthz must be allowed on nodes/proxy of this node, with the verb of
// its HTTP method, by authz (a SubjectAccessReview against the API
// server). Refusals carry the kubelet's texts.
func withAuthorization(h http.Handler, authz authorizer.UnconditionalAuthorizer, nodeName string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" { // the kubelet serves it without authentication
			h.ServeHTTP(w, r)
			return
		}
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		resp, ok, err := x509.CommonNameUserConversion.User(r.TLS.PeerCertificates)
		if err != nil || !ok {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		attrs := requestAttributes(resp.User, r, nodeName)
		decision, _, err := authz.Authorize(r.Context(), attrs)
		if err != nil {
			http.Error(w, fmt.Sprintf("Authorization error (user=%s, verb=%s, resource=%s, subresource=%s)",
				attrs.User.GetName(), attrs.Verb, attrs.Resource, attrs.Subresource), http.StatusInternalServerError)
			return
		}
		if decision != authorizer.DecisionAllow {
			http.Error(w, fmt.Sprintf("Forbidden (user=%s, verb=%s, resource=%s, subresource(s)=%v)",
				attrs.User.GetName(), attrs.Verb, attrs.Resource, []string{attrs.Subresource}), http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// requestAttributes maps a request as the kubelet does: verb from the
// method, resource nodes/NAME. Every path berth serves (containerLogs,
// exec, attach, portForward, pods, berth's explain records) is the
// kubelet's default subresource, proxy; berth serves no stats, metrics,
// logs, checkpoint or configz paths.
func requestAttributes(u user.Info, r *http.Request, nodeName string) authorizer.AttributesRecord {
	verb := ""
	switch r.Method {
	case http.MethodPost:
		verb = "create"
	case http.MethodGet:
		verb = "get"
	case http.MethodPut:
		verb = "update"
	case http.MethodPatch:
		verb = "patch"
	case http.MethodDelete:
		verb = "delete"
	}
	return authorizer.AttributesRecord{User: u, Verb: verb, APIVersion: "v1", Resource: "nodes", Subresource: "proxy",
		Name: nodeName, ResourceRequest: true, Path: r.URL.Path}
}
