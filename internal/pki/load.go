package pki

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"path/filepath"
)

// LoadCA loads the CA under dir without creating or reissuing anything,
// for commands that sign with it while a server may be running
// (`berth kubeconfig`). Only CA, CAPEM and the signing key are set.
func LoadCA(dir string) (*Bundle, error) {
	certPath, keyPath := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("loading the cluster CA: %w (is --data-dir the directory berth server uses, and readable by you?)", err)
	}
	ca, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", certPath, err)
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s is not a signing key", keyPath)
	}
	return &Bundle{Dir: dir, CA: ca, CAPEM: pemCert(ca.Raw), caKey: signer}, nil
}
