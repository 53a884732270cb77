// Package auth holds berth's identity and access pieces, taken from
// Kubernetes wherever it provides them: request authentication (client
// certificates from the cluster CA, service-account JWTs, anonymous), the
// RBAC authorizer over informer caches, and service-account token issuing.
// The API server composes them with k8s.io/apiserver's filters.
package auth

import (
	"context"
	"crypto/x509"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/group"
	"k8s.io/apiserver/pkg/authentication/request/anonymous"
	"k8s.io/apiserver/pkg/authentication/request/bearertoken"
	"k8s.io/apiserver/pkg/authentication/request/union"
	"k8s.io/apiserver/pkg/authentication/user"
)

// AuthnConfig says which credentials the API server accepts.
type AuthnConfig struct {
	// ClientCA verifies client certificates; the certificate's CN is the
	// user name and its O entries the groups, as in Kubernetes.
	ClientCA *x509.CertPool
	// StaticTokens maps bearer tokens to user names (optional).
	StaticTokens map[string]string
	// Tokens authenticates bearer tokens (service-account JWTs); optional.
	Tokens authenticator.Token
	// Anonymous lets requests without credentials through as
	// system:anonymous in system:unauthenticated (kube-apiserver's default);
	// RBAC then decides what they may do.
	Anonymous bool
}

// NewAuthenticator builds the request authenticator kube-apiserver would
// build from the same flags: x509 and bearer tokens, the
// system:authenticated group added, then anonymous as a fallback. A
// credential that is presented but invalid is a 401, never anonymous.
func NewAuthenticator(cfg AuthnConfig) authenticator.Request {
	var reqs []authenticator.Request
	if cfg.ClientCA != nil {
		reqs = append(reqs, newCachedX509(cfg.ClientCA))
	}
	var tokens []authenticator.Token
	if len(cfg.StaticTokens) > 0 {
		tokens = append(tokens, staticTokens(cfg.StaticTokens))
	}
	if cfg.Tokens != nil {
		tokens = append(tokens, cfg.Tokens)
	}
	if len(tokens) > 0 {
		reqs = append(reqs, bearertoken.New(tokenUnion(tokens)))
	}
	a := group.NewAuthenticatedGroupAdder(union.New(reqs...))
	if cfg.Anonymous {
		a = union.NewFailOnError(a, anonymous.NewAuthenticator(nil))
	}
	return a
}

type staticTokens map[string]string

func (s staticTokens) AuthenticateToken(_ context.Context, token string) (*authenticator.Response, bool, error) {
	name, ok := s[token]
	if !ok {
		return nil, false, nil
	}
	return &authenticator.Response{User: &user.DefaultInfo{Name: name}}, true, nil
}

// tokenUnion tries each token authenticator in order; the first that
// recognises the token decides.
type tokenUnion []authenticator.Token

func (u tokenUnion) AuthenticateToken(ctx context.Context, token string) (*authenticator.Response, bool, error) {
	var lastErr error
	for _, t := range u {
		resp, ok, err := t.AuthenticateToken(ctx, token)
		if ok {
			return resp, true, nil
		}
		if err != nil {
			lastErr = err
		}
	}
	return nil, false, lastErr
}
