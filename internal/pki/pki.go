// Package pki creates, loads and checks the cluster's certificates: a CA,
// the API server's serving certificate and the admin client certificate,
// under one directory, reused on later starts while they are valid, and
// written atomically (internal/atomicfile).
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/atomicfile"
)

// Bundle is the loaded PKI.
type Bundle struct {
	Dir       string
	CA        *x509.Certificate
	CAPEM     []byte
	caKey     crypto.Signer
	Serving   tls.Certificate
	AdminCert []byte // PEM
	AdminKey  []byte // PEM
}

// File names under Dir.
const (
	CACertFile    = "ca.crt"
	CAKeyFile     = "ca.key"
	ServingCert   = "apiserver.crt"
	ServingKey    = "apiserver.key"
	AdminCertFile = "admin.crt"
	AdminKeyFile  = "admin.key"
)

// Ensure loads the PKI under dir, creating what is missing. The serving
// certificate is valid for hosts (IPs or DNS names) plus localhost, the
// loopback addresses and the kubernetes Service's names.
//
// Every certificate is checked on the way: a leaf (serving, admin) that
// is expired, near expiry (RenewAfter), lacks one of the hosts, or does
// not match its key is issued again from the CA, with a log line saying
// why; a CA that is expired, or a leaf signed by another CA, is an error
// that says which files to remove or restore.
func Ensure(dir string, hosts []string, log *slog.Logger) (*Bundle, error) {
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pki: creating %s: %w", dir, err)
	}
	b := &Bundle{Dir: dir}
	var err error
	if b.CA, b.caKey, err = ensureCA(dir, log); err != nil {
		return nil, err
	}
	b.CAPEM = pemCert(b.CA.Raw)
	all := append([]string{"localhost", "127.0.0.1", "::1", "kubernetes", "kubernetes.default",
		"kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}, hosts...)
	// Pods reach the API by names and addresses (the pod network's
	// gateway, the kubernetes ClusterIP) that depend on flags which may
	// have changed since the certificate was issued.
	servingCert, servingKey, err := b.ensureLeaf(ServingCert, ServingKey, all, log, func() *x509.Certificate {
		tmpl := template("kube-apiserver", leafValidity)
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
		addHosts(tmpl, all)
		return tmpl
	})
	if err != nil {
		return nil, err
	}
	b.Serving = tls.Certificate{Certificate: [][]byte{servingCert.Raw}, PrivateKey: servingKey, Leaf: servingCert}
	adminCert, _, err := b.ensureLeaf(AdminCertFile, AdminKeyFile, nil, log, func() *x509.Certificate {
		tmpl := template("admin", leafValidity)
		tmpl.Subject.Organization = []string{"system:masters"}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		return tmpl
	})
	if err != nil {
		return nil, err
	}
	b.AdminCert = pemCert(adminCert.Raw)
	if b.AdminKey, err = os.ReadFile(filepath.Join(dir, AdminKeyFile)); err != nil {
		return nil, err
	}
	return b, nil
}

// Lifetimes of what berth issues. A leaf never outlives the CA (sign
// caps it).
const (
	caValidity   = 10 * 365 * 24 * time.Hour
	leafValidity = 5 * 365 * 24 * time.Hour
)

// ensureCA loads the CA under dir or, on the first start, creates it. A
// CA cannot be renewed in place (every certificate and kubeconfig trusts
// this one), so any problem with it is an error.
func ensureCA(dir string, log *slog.Logger) (*x509.Certificate, crypto.Signer, error) {
	certPath, keyPath := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	if _, err := os.Stat(certPath); errors.Is(err, os.ErrNotExist) {
		// No CA certificate: a first start, or one that crashed after
		// writing only the key (written first), unless certificates it
		// signed remain.
		for _, leaf := range []string{ServingCert, AdminCertFile} {
			if _, err := os.Stat(filepath.Join(dir, leaf)); err == nil {
				return nil, nil, fmt.Errorf("pki: %s is missing, but %s, which it signed, is there: restore the CA (%s and %s), "+
					"or start the cluster over with `berth reset --data-dir %s`", certPath, filepath.Join(dir, leaf), certPath, keyPath, filepath.Dir(dir))
			}
		}
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		tmpl := template("berth-ca", caValidity)
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign
		ca, err := sign(tmpl, tmpl, key.Public(), key)
		if err != nil {
			return nil, nil, fmt.Errorf("pki: creating the CA: %w", err)
		}
		if err := writePair(certPath, keyPath, ca, key); err != nil {
			return nil, nil, err
		}
		return ca, key, nil
	}
	ca, err := LoadCA(dir)
	if err != nil {
		return nil, nil, err
	}
	if p := Expiry(ca.CA, time.Now()); p != "" {
		log.Warn("berth's CA is near expiry: it cannot be renewed in place; plan to start over with berth reset before it expires",
			"cert", certPath, "problem", p)
	}
	return ca.CA, ca.caKey, nil
}

// ensureLeaf loads dir's certFile and keyFile, or issues them from the CA
// (newTemplate) when missing, unusable, near expiry or not covering hosts.
func (b *Bundle) ensureLeaf(certFile, keyFile string, hosts []string, log *slog.Logger, newTemplate func() *x509.Certificate) (*x509.Certificate, crypto.Signer, error) {
	certPath, keyPath := filepath.Join(b.Dir, certFile), filepath.Join(b.Dir, keyFile)
	cert, key, why, err := b.checkLeaf(certPath, keyPath, hosts)
	if err != nil {
		return nil, nil, err
	}
	if why == "" {
		return cert, key, nil
	}
	if why != "missing" {
		log.Info("issuing a new certificate", "cert", certPath, "reason", why)
	}
	newKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	cert, err = sign(newTemplate(), b.CA, newKey.Public(), b.caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: issuing %s: %w", certPath, err)
	}
	if err := writePair(certPath, keyPath, cert, newKey); err != nil {
		return nil, nil, err
	}
	return cert, newKey, nil
}

// checkLeaf loads a leaf pair and says why it must be issued again ("" if
// it is good). A leaf signed by another CA is an error: the CA was
// replaced, and issuing silently would hide that.
func (b *Bundle) checkLeaf(certPath, keyPath string, hosts []string) (*x509.Certificate, crypto.Signer, string, error) {
	certPEM, certErr := os.ReadFile(certPath)
	keyPEM, keyErr := os.ReadFile(keyPath)
	if errors.Is(certErr, os.ErrNotExist) || errors.Is(keyErr, os.ErrNotExist) {
		return nil, nil, "missing", nil
	}
	if err := errors.Join(certErr, keyErr); err != nil {
		return nil, nil, "", fmt.Errorf("pki: %w", err)
	}
	cert, err := parseCert(certPEM)
	if err != nil {
		return nil, nil, fmt.Sprintf("unreadable certificate: %v", err), nil
	}
	if err := cert.CheckSignatureFrom(b.CA); err != nil {
		return nil, nil, "", fmt.Errorf("pki: %s (%s) is not signed by berth's CA %s (was the CA replaced?): "+
			"remove %s and %s and berth issues new ones from the current CA, or restore the CA that signed it",
			certPath, cert.Subject.CommonName, filepath.Join(b.Dir, CACertFile), certPath, keyPath)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// Also what a crash between writing a new key and its
		// certificate leaves.
		return nil, nil, fmt.Sprintf("certificate and key do not match: %v", err), nil
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, nil, "the key is not a signing key", nil
	}
	if p := Expiry(cert, time.Now()); p != "" {
		return nil, nil, p, nil
	}
	if missing := Uncovered(cert, hosts); len(missing) > 0 {
		return nil, nil, fmt.Sprintf("not valid for %s", strings.Join(missing, ", ")), nil
	}
	return cert, signer, "", nil
}

// writePair writes key then certificate, each atomically: a crash in
// between leaves the old certificate with a new key, which checkLeaf
// finds mismatched and issues again, never a certificate without its key.
func writePair(certPath, keyPath string, cert *x509.Certificate, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	if err := atomicfile.Write(certPath, pemCert(cert.Raw), 0o644); err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	return nil
}

func addHosts(tmpl *x509.Certificate, hosts []string) {
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
}

// IssueClient signs a client certificate for user in groups, returning PEM
// certificate and key (not written to disk).
func (b *Bundle) IssueClient(user string, groups ...string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := template(user, leafValidity)
	tmpl.Subject.Organization = groups
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	cert, err := sign(tmpl, b.CA, key.Public(), b.caKey)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pemCert(cert.Raw), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

// ServerTLS is the API server's TLS config: its serving certificate, and
// client certificates verified against the CA when presented.
func (b *Bundle) ServerTLS() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(b.CA)
	return &tls.Config{
		Certificates: []tls.Certificate{b.Serving},
		ClientCAs:    pool,
		ClientAuth:   tls.VerifyClientCertIfGiven,
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2", "http/1.1"},
	}
}

func template(cn string, validity time.Duration) *x509.Certificate {
	serial, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	now := time.Now().Add(-time.Hour) // tolerate small clock skew
	return &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: cn}, NotBefore: now, NotAfter: now.Add(validity)}
}

// sign issues tmpl from parent; a leaf is cut off at the CA's expiry, as
// it could not be verified past it anyway.
func sign(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) (*x509.Certificate, error) {
	if tmpl != parent && tmpl.NotAfter.After(parent.NotAfter) {
		tmpl.NotAfter = parent.NotAfter
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

func parseCert(certPEM []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	return x509.ParseCertificate(block.Bytes)
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// WriteFileAtomic writes path atomically and durably (see atomicfile):
// for kubeconfigs and the agent's certificates.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	return atomicfile.Write(path, data, mode)
}

// IssueServing signs a serving certificate for hosts (the node agent's
// kubelet endpoint).
func (b *Bundle) IssueServing(cn string, hosts []string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := template(cn, leafValidity)
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	addHosts(tmpl, hosts)
	cert, err := sign(tmpl, b.CA, key.Public(), b.caKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}, nil
}

// CAPool is a pool holding the cluster CA.
func (b *Bundle) CAPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(b.CA)
	return p
}

// KubeletClientTLS is the API server's client configuration towards node
// agents: a client certificate from the cluster CA.
func (b *Bundle) KubeletClientTLS() (*tls.Config, error) {
	certPEM, keyPEM, err := b.IssueClient("kube-apiserver-kubelet-client", "system:masters")
	if err != nil {
		return nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: b.CAPool(), MinVersion: tls.VersionTLS12}, nil
}
