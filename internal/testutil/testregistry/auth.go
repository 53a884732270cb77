package testregistry

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// certPair is a certificate with its key.
type certPair struct {
	cert *x509.Certificate
	der  []byte
	key  *ecdsa.PrivateKey
}

func newCert(t testing.TB, cn string, parent *certPair, isCA bool, ips []net.IP) *certPair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, IPAddresses: ips}
	if isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = []string{"localhost"}
	}
	parentCert, parentKey := tmpl, key
	if parent != nil {
		parentCert, parentKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &certPair{cert: cert, der: der, key: key}
}

func (c *certPair) writePEM(t testing.TB, certPath, keyPath string) {
	t.Helper()
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if keyPath != "" {
		kd, _ := x509.MarshalECPrivateKey(c.key)
		if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// tlsConfig writes a CA and a serving certificate for 127.0.0.1 under dir
// and returns the registry config snippet and the CA file.
func tlsConfig(t testing.TB, dir string) (snippet, caFile string) {
	ca := newCert(t, "berth-test-registry-ca", nil, true, nil)
	srv := newCert(t, "127.0.0.1", ca, false, []net.IP{net.ParseIP("127.0.0.1")})
	caFile = filepath.Join(dir, "ca.crt")
	ca.writePEM(t, caFile, "")
	srv.writePEM(t, filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	return "  tls: {certificate: " + filepath.Join(dir, "tls.crt") + ", key: " + filepath.Join(dir, "tls.key") + "}\n", caFile
}

// tokenServer is a Docker Distribution token server (the bearer flow
// Harbor and Docker Hub use): it checks basic credentials and signs JWTs
// (ES256, x5c) that the registry trusts through its root bundle.
type tokenServer struct {
	url      string
	issuer   string
	service  string
	signer   *certPair
	username string
	password string
}

func startTokenServer(t testing.TB, dir, username, password string) (*tokenServer, string) {
	ts := &tokenServer{issuer: "berth-test-issuer", service: "berth-test-registry", username: username, password: password}
	ts.signer = newCert(t, "berth-test-token-signer", nil, true, nil)
	bundle := filepath.Join(dir, "token-root.crt")
	ts.signer.writePEM(t, bundle, "")
	srv := httptest.NewServer(http.HandlerFunc(ts.serve))
	t.Cleanup(srv.Close)
	// A host name, not an IP literal: clients refuse private-IP realms.
	ts.url = strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	snippet := "auth:\n  token:\n    realm: " + ts.url + "/token\n    service: " + ts.service +
		"\n    issuer: " + ts.issuer + "\n    rootcertbundle: " + bundle + "\n"
	return ts, snippet
}

func (ts *tokenServer) serve(w http.ResponseWriter, r *http.Request) {
	user, pass, ok := r.BasicAuth()
	scopes := r.URL.Query()["scope"]
	service := r.URL.Query().Get("service")
	if r.Method == http.MethodPost {
		// The OAuth2 password grant containerd tries first.
		_ = r.ParseForm()
		if r.PostForm.Get("grant_type") == "password" {
			user, pass, ok = r.PostForm.Get("username"), r.PostForm.Get("password"), true
		}
		scopes = strings.Fields(r.PostForm.Get("scope"))
		service = r.PostForm.Get("service")
	}
	var access []map[string]any
	if ok {
		if user != ts.username || pass != ts.password {
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"invalid username or password"}]}`, http.StatusUnauthorized)
			return
		}
		for _, scope := range scopes {
			parts := strings.Split(scope, ":")
			if len(parts) != 3 {
				continue
			}
			access = append(access, map[string]any{"type": parts[0], "name": parts[1], "actions": strings.Split(parts[2], ",")})
		}
	} else {
		user = ""
	}
	now := time.Now()
	claims := map[string]any{"iss": ts.issuer, "sub": user, "aud": service,
		"exp": now.Add(5 * time.Minute).Unix(), "nbf": now.Add(-time.Minute).Unix(), "iat": now.Unix(),
		"jti": base64.RawURLEncoding.EncodeToString([]byte(now.String())), "access": access}
	header := map[string]any{"typ": "JWT", "alg": "ES256", "x5c": []string{base64.StdEncoding.EncodeToString(ts.signer.der)}}
	token, err := signES256(header, claims, ts.signer.key)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"token": token, "access_token": token, "expires_in": 300, "issued_at": now.Format(time.RFC3339)})
}

func signES256(header, claims map[string]any, key *ecdsa.PrivateKey) (string, error) {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	signing := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c)
	sum := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signing + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// httpClient trusts the registry's CA when it serves HTTPS.
func (r *Registry) httpClient() *http.Client {
	if r.CAFile == "" {
		return &http.Client{Transport: http.DefaultTransport}
	}
	pool := x509.NewCertPool()
	b, _ := os.ReadFile(r.CAFile)
	pool.AppendCertsFromPEM(b)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}
