package apiserver

import (
	"context"
	"net/http"
	"strings"

	"github.com/berth-dev/berth/internal/auth"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	genericfilters "k8s.io/apiserver/pkg/endpoints/filters"
	"k8s.io/apiserver/pkg/endpoints/filters/impersonation"
	"k8s.io/apiserver/pkg/endpoints/request"
)

// buildHandler wraps next in the filters kube-apiserver puts in front of
// every request, in its order: request info, authentication (a failure is
// 401), impersonation (Impersonate-* headers, itself authorized), then
// authorization (a denial is Kubernetes' 403 with its exact message).
func (s *Server) buildHandler(next http.Handler) http.Handler {
	authn := s.cfg.Authenticator
	if authn == nil {
		authn = auth.NewAuthenticator(auth.AuthnConfig{ClientCA: s.cfg.TLS.ClientCAs, StaticTokens: s.cfg.Tokens})
	}
	var authz authorizer.Authorizer = authorizerfactory.NewAlwaysAllowAuthorizer()
	if s.cfg.Authorizer != nil {
		authz = s.cfg.Authorizer
	}
	s.authn = authn
	s.reviews = newReviews(authz, s.cfg.Rules, s)
	codecs := serializer.NewCodecFactory(s.scheme).WithoutConversion()
	h := genericfilters.WithAuthorization(next, authz, codecs)
	h = skipWithoutImpersonation(impersonation.WithImpersonation(h, authz, codecs), h)
	h = genericfilters.WithAuthentication(h, authn, genericfilters.Unauthorized(codecs), s.cfg.APIAudiences, nil)
	return genericfilters.WithRequestInfo(h, &request.RequestInfoFactory{
		APIPrefixes: sets.NewString("api", "apis"), GrouplessAPIPrefixes: sets.NewString("api"),
	})
}

// skipWithoutImpersonation sends a request that carries no Impersonate-*
// header (the only ones the impersonation filter reads; Go canonicalizes
// header names) straight to next, which is what the filter itself does
// with it, after looking up each header it knows.
func skipWithoutImpersonation(withImpersonation, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for k := range r.Header {
			if strings.HasPrefix(k, "Impersonate-") {
				withImpersonation.ServeHTTP(w, r)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// userName is the authenticated (or impersonated) user of ctx.
func userName(ctx context.Context) string {
	if u, ok := request.UserFrom(ctx); ok {
		return u.GetName()
	}
	return ""
}
