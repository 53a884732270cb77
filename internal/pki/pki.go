// Package pki creates and loads the cluster's certificates: a CA, the API
// server's serving certificate and the admin client certificate. Files
// are written once under a directory and reused on later starts.
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
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
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
// certificate is valid for hosts (IPs or DNS names) plus localhost and
// the loopback addresses.
func Ensure(dir string, hosts []string) (*Bundle, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pki: creating %s: %w", dir, err)
	}
	b := &Bundle{Dir: dir}
	var err error
	b.CA, b.caKey, err = loadOrCreate(dir, CACertFile, CAKeyFile, nil, func(key crypto.Signer) (*x509.Certificate, error) {
		tmpl := template("berth-ca", 10*365*24*time.Hour)
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign
		return sign(tmpl, tmpl, key.Public(), key)
	})
	if err != nil {
		return nil, err
	}
	b.CAPEM = pemCert(b.CA.Raw)
	all := append([]string{"localhost", "127.0.0.1", "::1", "kubernetes", "kubernetes.default",
		"kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}, hosts...)
	// A serving certificate from an earlier start that lacks one of the
	// names is issued again: pods reach the API by names and addresses
	// (the pod network's gateway, the kubernetes ClusterIP) that depend
	// on flags which may have changed since.
	coversAll := func(c *x509.Certificate) bool {
		for _, h := range all {
			if h != "" && c.VerifyHostname(h) != nil {
				return false
			}
		}
		return c.CheckSignatureFrom(b.CA) == nil
	}
	servingCert, servingKey, err := loadOrCreate(dir, ServingCert, ServingKey, coversAll, func(key crypto.Signer) (*x509.Certificate, error) {
		tmpl := template("kube-apiserver", 5*365*24*time.Hour)
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment
		for _, h := range all {
			if ip := net.ParseIP(h); ip != nil {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			} else {
				tmpl.DNSNames = append(tmpl.DNSNames, h)
			}
		}
		return sign(tmpl, b.CA, key.Public(), b.caKey)
	})
	if err != nil {
		return nil, err
	}
	b.Serving = tls.Certificate{Certificate: [][]byte{servingCert.Raw}, PrivateKey: servingKey, Leaf: servingCert}
	adminCert, _, err := loadOrCreate(dir, AdminCertFile, AdminKeyFile, nil, func(key crypto.Signer) (*x509.Certificate, error) {
		tmpl := template("admin", 5*365*24*time.Hour)
		tmpl.Subject.Organization = []string{"system:masters"}
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		return sign(tmpl, b.CA, key.Public(), b.caKey)
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

// IssueClient signs a client certificate for user in groups, returning PEM
// certificate and key (not written to disk).
func (b *Bundle) IssueClient(user string, groups ...string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := template(user, 5*365*24*time.Hour)
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

func sign(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) (*x509.Certificate, error) {
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

// loadOrCreate reads a certificate and key pair, or creates and writes it;
// a loaded certificate that valid (if non-nil) rejects is created again.
// The key is written before the certificate so that a crash in between
// leaves no certificate without its key.
func loadOrCreate(dir, certFile, keyFile string, valid func(*x509.Certificate) bool, create func(crypto.Signer) (*x509.Certificate, error)) (*x509.Certificate, crypto.Signer, error) {
	certPath, keyPath := filepath.Join(dir, certFile), filepath.Join(dir, keyFile)
	certPEM, certErr := os.ReadFile(certPath)
	keyPEM, keyErr := os.ReadFile(keyPath)
	if certErr == nil && keyErr == nil && valid != nil {
		if c, err := parseCert(certPEM); err == nil && !valid(c) {
			certErr = errors.New("reissue")
		}
	}
	if certErr == nil && keyErr == nil {
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, nil, fmt.Errorf("pki: loading %s: %w (delete %s and %s to regenerate)", certPath, err, certPath, keyPath)
		}
		cert, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			return nil, nil, err
		}
		signer, ok := pair.PrivateKey.(crypto.Signer)
		if !ok {
			return nil, nil, errors.New("pki: " + keyPath + " is not a signing key")
		}
		return cert, signer, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	cert, err := create(key)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: creating %s: %w", certFile, err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	if err := writeAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, nil, err
	}
	if err := writeAtomic(certPath, pemCert(cert.Raw), 0o644); err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

// writeAtomic writes via a temporary file and rename, so readers never see
// a partial file.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return fmt.Errorf("pki: writing %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

// WriteFileAtomic is writeAtomic for other packages (kubeconfig).
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	return writeAtomic(path, data, mode)
}

// IssueServing signs a serving certificate for hosts (the node agent's
// kubelet endpoint).
func (b *Bundle) IssueServing(cn string, hosts []string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := template(cn, 5*365*24*time.Hour)
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
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
