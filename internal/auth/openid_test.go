package auth

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	jose "gopkg.in/go-jose/go-jose.v2"
	"gopkg.in/go-jose/go-jose.v2/jwt"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A relying party (what OIDC discovery is for) must find the issuer, the key
// set, and in it the key that verifies a token berth issued.
func TestOpenIDDiscovery(t *testing.T) {
	key, err := LoadOrCreateKey(filepath.Join(t.TempDir(), "sa.key"))
	if err != nil {
		t.Fatal(err)
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "ns", UID: "sa-uid"}}
	tokens, err := NewTokens(key, DefaultIssuer, &fakeObjects{sa: sa})
	if err != nil {
		t.Fatal(err)
	}
	raw, maxAge := tokens.OpenIDConfiguration()
	var doc struct {
		Issuer  string   `json:"issuer"`
		JWKSURI string   `json:"jwks_uri"`
		Algs    []string `json:"id_token_signing_alg_values_supported"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("discovery document: %v", err)
	}
	if doc.Issuer != DefaultIssuer || doc.JWKSURI != DefaultIssuer+"/openid/v1/jwks" || len(doc.Algs) != 1 || doc.Algs[0] != "ES256" || maxAge <= 0 {
		t.Errorf("discovery document %+v, max-age %d", doc, maxAge)
	}
	rawKeys, _ := tokens.OpenIDKeySet()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(rawKeys, &set); err != nil || len(set.Keys) != 1 {
		t.Fatalf("key set %s: %v", rawKeys, err)
	}
	if !set.Keys[0].IsPublic() {
		t.Fatal("the key set holds a private key")
	}
	tok, _, err := tokens.Issue(context.Background(), sa, nil, nil, nil, []string{"oidc-discovery-test"}, 600, 0)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := jwt.ParseSigned(tok)
	if err != nil {
		t.Fatal(err)
	}
	var claims jwt.Claims
	if err := parsed.Claims(set.Keys[0].Key, &claims); err != nil {
		t.Fatalf("the published key does not verify an issued token: %v", err)
	}
	if claims.Issuer != DefaultIssuer || !claims.Audience.Contains("oidc-discovery-test") {
		t.Errorf("claims %+v", claims)
	}
}
