package pki

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// LoadCA loads the CA under dir without creating or reissuing anything,
// for commands that sign with it while a server may be running
// (`berth kubeconfig`). Only CA, CAPEM and the signing key are set. An
// expired CA is an error that says how to start over.
func LoadCA(dir string) (*Bundle, error) {
	certPath, keyPath := filepath.Join(dir, CACertFile), filepath.Join(dir, CAKeyFile)
	pair, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		if strings.Contains(err.Error(), "does not match") {
			return nil, fmt.Errorf("loading the cluster CA: %s and %s do not match: restore the pair from a backup, or start over with `berth reset --data-dir %s`",
				certPath, keyPath, filepath.Dir(dir))
		}
		return nil, fmt.Errorf("loading the cluster CA: %w (is --data-dir the directory berth server uses, and readable by you?)", err)
	}
	ca, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", certPath, err)
	}
	if !ca.IsCA {
		return nil, fmt.Errorf("%s is not a CA certificate: restore berth's CA, or start over with `berth reset --data-dir %s`", certPath, filepath.Dir(dir))
	}
	if p := Expiry(ca, time.Now()); strings.HasPrefix(p, "expired") || strings.HasPrefix(p, "not valid before") {
		return nil, fmt.Errorf("berth's CA %s is %s, and no certificate it signed can be trusted: "+
			"start the cluster over with `berth reset --data-dir %s` (this removes its state), "+
			"or restore a valid CA into %s and %s", certPath, p, filepath.Dir(dir), certPath, keyPath)
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s is not a signing key", keyPath)
	}
	return &Bundle{Dir: dir, CA: ca, CAPEM: pemCert(ca.Raw), caKey: signer}, nil
}
