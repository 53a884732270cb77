package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"github.com/berth-dev/berth/internal/testutil/ci"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCerts replaces the API server's serving certificate of a stopped
// server with one kubectl would refuse (expired; without the loopback
// address kubectl dials), restarts it and uses kubectl: berth issued a
// new one and logged why. A serving certificate from another CA stops the
// start with an error naming the files to remove; removing them works.
func TestCerts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServer(t, dir)
	s.mustKubectl(t, "get", "namespaces")
	pkiDir := filepath.Join(dir, "pki")
	now := time.Now()

	for _, tc := range []struct {
		name      string
		from, to  time.Time
		hosts     []string
		logReason string
	}{
		{"Expired", now.Add(-48 * time.Hour), now.Add(-time.Hour), []string{"127.0.0.1", "localhost"}, "expired on"},
		{"WrongSANs", now.Add(-time.Hour), now.Add(365 * 24 * time.Hour), []string{"wrong.example", "192.0.2.1"}, "not valid for"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.stop(syscall.SIGTERM); err != nil {
				t.Fatalf("stopping berth: %v", err)
			}
			caCert, caKey := loadTestCA(t, pkiDir)
			writeLeaf(t, pkiDir, "apiserver", "kube-apiserver", caCert, caKey, tc.from, tc.to, tc.hosts)
			s.start(t)
			// The kubeconfig appears once the API answered berth's own
			// client; kubectl checks the certificate against the CA.
			s.mustKubectl(t, "get", "namespaces")
			log := s.readLog(s.logPath)
			if !strings.Contains(log, "issuing a new certificate") || !strings.Contains(log, tc.logReason) {
				t.Errorf("the server log does not say why it issued a new serving certificate (want %q):\n%s", tc.logReason, log)
			}
		})
	}

	t.Run("OtherCA", func(t *testing.T) {
		if _, err := s.stop(syscall.SIGTERM); err != nil {
			t.Fatalf("stopping berth: %v", err)
		}
		otherCert, otherKey := newTestCA(t)
		writeLeaf(t, pkiDir, "apiserver", "kube-apiserver", otherCert, otherKey, now.Add(-time.Hour), now.Add(24*time.Hour), []string{"127.0.0.1"})
		ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, berthBin, "server", "--data-dir", dir, "--listen", "127.0.0.1:0", "--disable-agent").CombinedOutput()
		if err == nil || ctx.Err() != nil {
			t.Fatalf("berth server started with a serving certificate from another CA (err %v):\n%s", err, out)
		}
		for _, want := range []string{"not signed by berth's CA", "remove " + filepath.Join(pkiDir, "apiserver.crt")} {
			if !strings.Contains(string(out), want) {
				t.Errorf("the error does not say %q:\n%s", want, out)
			}
		}
		// Doing what it says works.
		for _, f := range []string{"apiserver.crt", "apiserver.key"} {
			if err := os.Remove(filepath.Join(pkiDir, f)); err != nil {
				t.Fatal(err)
			}
		}
		s.start(t)
		s.mustKubectl(t, "get", "namespaces")
	})
}

// TestCertsAgentExpiredIdentity: `berth agent` with an expired node
// certificate stops at once and names the command that issues a new one.
func TestCertsAgentExpiredIdentity(t *testing.T) {
	t.Parallel()
	if skipReason != "" {
		ci.Skipf(t, "%s", skipReason)
	}
	dir := t.TempDir()
	ca, caKey := newTestCA(t)
	now := time.Now()
	writeLeaf(t, dir, "node", "system:node:n9", ca, caKey, now.Add(-48*time.Hour), now.Add(-time.Hour), nil)
	certPEM, err := os.ReadFile(filepath.Join(dir, "node.crt"))
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, "node.key"))
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(dir, "n9.kubeconfig")
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", certificate-authority-data: %s}}]
users: [{name: u, user: {client-certificate-data: %s, client-key-data: %s}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`, base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw})),
		base64.StdEncoding.EncodeToString(certPEM), base64.StdEncoding.EncodeToString(keyPEM))
	if err := os.WriteFile(kubeconfig, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, berthBin, "agent", "--kubeconfig", kubeconfig, "--data-dir", filepath.Join(dir, "data"),
		"--node-name", "n9").CombinedOutput()
	if err == nil || ctx.Err() != nil {
		t.Fatalf("berth agent with an expired node certificate: %v\n%s", err, out)
	}
	for _, want := range []string{"expired on", "berth kubeconfig --data-dir DATA_DIR --node n9 > " + kubeconfig} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the error does not say %q:\n%s", want, out)
		}
	}
}

func loadTestCA(t *testing.T, pkiDir string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	certPEM, err := os.ReadFile(filepath.Join(pkiDir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(pkiDir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		t.Fatal("ca.crt or ca.key holds no PEM block")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func newTestCA(t *testing.T) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "another-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// writeLeaf writes pkiDir/NAME.crt and NAME.key, a certificate for CN
// from ca valid from..to for hosts.
func writeLeaf(t *testing.T, pkiDir, name, cn string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, from, to time.Time, hosts []string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: from, NotAfter: to, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pkiDir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pkiDir, name+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}
