package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/http"
	"testing"
	"time"
)

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

func (ca *testCA) client(t *testing.T, cn string, groups []string, notAfter time.Time) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:   pkix.Name{CommonName: cn, Organization: groups},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: notAfter,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return cert
}

func requestWith(certs ...*x509.Certificate) *http.Request {
	r, _ := http.NewRequest("GET", "https://x/api", nil)
	r.TLS = &tls.ConnectionState{PeerCertificates: certs}
	return r
}

func TestCachedX509(t *testing.T) {
	ca, other := newTestCA(t), newTestCA(t)
	a := newCachedX509(ca.pool)
	alice := ca.client(t, "alice", []string{"devs"}, time.Now().Add(time.Hour))

	for i := range 3 { // a miss, then hits: the same identity each time
		resp, ok, err := a.AuthenticateRequest(requestWith(alice))
		if err != nil || !ok {
			t.Fatalf("call %d: ok=%v err=%v", i, ok, err)
		}
		if u := resp.User; u.GetName() != "alice" || len(u.GetGroups()) != 1 || u.GetGroups()[0] != "devs" {
			t.Fatalf("call %d: user %+v", i, u)
		}
		// What later filters do to the response must not reach the cache.
		resp.User.(interface{ GetGroups() []string }).GetGroups()[0] = "changed"
	}
	if len(a.entries) != 1 {
		t.Fatalf("%d cache entries, want 1", len(a.entries))
	}

	// Another CA's certificate fails every time, with the library's error.
	mallory := other.client(t, "mallory", []string{"system:masters"}, time.Now().Add(time.Hour))
	for range 2 {
		if _, ok, err := a.AuthenticateRequest(requestWith(mallory)); ok || err == nil {
			t.Fatalf("a certificate of another CA: ok=%v err=%v, want a failure", ok, err)
		}
	}
	if len(a.entries) != 1 {
		t.Fatalf("a failure was cached: %d entries", len(a.entries))
	}

	// A success is reused no longer than the certificate is valid.
	soon := time.Now().Add(2 * time.Minute).Truncate(time.Second)
	bob := ca.client(t, "bob", nil, soon)
	if _, ok, err := a.AuthenticateRequest(requestWith(bob)); !ok || err != nil {
		t.Fatalf("bob: ok=%v err=%v", ok, err)
	}
	if e := a.entries[chainKey([]*x509.Certificate{bob})]; !e.expires.Equal(soon) {
		t.Fatalf("bob's entry expires %v, want the certificate's NotAfter %v", e.expires, soon)
	}
	// Past it, the cache answers nothing: the library decides again (it
	// uses the real clock, so bob still passes) and nothing is cached.
	a.now = func() time.Time { return soon.Add(time.Second) }
	delete(a.entries, chainKey([]*x509.Certificate{alice}))
	if _, ok, err := a.AuthenticateRequest(requestWith(bob)); !ok || err != nil {
		t.Fatalf("bob after expiry: ok=%v err=%v", ok, err)
	}
	if e := a.entries[chainKey([]*x509.Certificate{bob})]; !e.expires.Equal(soon) {
		t.Fatalf("an expired chain was cached again: %v", e.expires)
	}

	// No certificate: not this authenticator's request.
	if _, ok, err := a.AuthenticateRequest(requestWith()); ok || err != nil {
		t.Fatalf("no certificate: ok=%v err=%v", ok, err)
	}
}
