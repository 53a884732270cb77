package app

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/berth-dev/berth/internal/pki"
	"k8s.io/client-go/rest"
)

// checkAgentCerts checks, before `berth agent` starts, the certificates
// it cannot issue itself: the client certificate of its kubeconfig (its
// node identity) and its kubelet endpoint's serving certificate. Expired
// or near expiry (pki.RenewAfter), or a serving certificate that does not
// cover the node's name and address (where API servers dial it), is an
// error naming the command that issues a new one: found now, it costs a
// restart; found by TLS later, every request of the node fails.
func checkAgentCerts(cfg AgentConfig, rc *rest.Config, nodeIP string, now time.Time) error {
	if c, err := firstCert(rc.TLSClientConfig.CertData, rc.TLSClientConfig.CertFile); err != nil {
		return fmt.Errorf("reading the client certificate of kubeconfig %s: %w", cfg.Kubeconfig, err)
	} else if c != nil {
		if p := pki.Expiry(c, now); p != "" {
			node, ok := strings.CutPrefix(c.Subject.CommonName, "system:node:")
			if !ok {
				node = cfg.NodeName
			}
			return fmt.Errorf("the client certificate in kubeconfig %s (%s) %s, and berth agent cannot renew it: "+
				"on the machine running berth server, issue a new one with `berth kubeconfig --data-dir DATA_DIR --node %s > %s` "+
				"(a Kubernetes control plane: a new kubelet client certificate for CN=system:node:%s, O=system:nodes from its CA)",
				cfg.Kubeconfig, c.Subject.CommonName, p, node, cfg.Kubeconfig, node)
		}
	}
	if cfg.TLSCertFile == "" {
		return nil
	}
	c, err := firstCert(nil, cfg.TLSCertFile)
	if err != nil || c == nil {
		return fmt.Errorf("reading --tls-cert-file %s: %v", cfg.TLSCertFile, err)
	}
	var problem string
	if p := pki.Expiry(c, now); p != "" {
		problem = p
	} else if missing := pki.Uncovered(c, []string{cfg.NodeName, nodeIP}); len(missing) > 0 {
		problem = fmt.Sprintf("is not valid for %s (API servers reach the node's kubelet endpoint by its name and address)", strings.Join(missing, ", "))
	}
	if problem == "" {
		return nil
	}
	return fmt.Errorf("the kubelet endpoint's serving certificate %s %s: issue a new one with "+
		"`berth kubeconfig --data-dir DATA_DIR --node %s --kubelet-serving-dir DIR` on the machine running berth server "+
		"(it covers the node name and this machine's address by default; add others with --kubelet-serving-host) "+
		"and pass DIR/kubelet.crt and DIR/kubelet.key to --tls-cert-file and --tls-private-key-file",
		cfg.TLSCertFile, problem, cfg.NodeName)
}

// firstCert parses the first certificate of data, or of file if data is
// empty; nil when neither is set (a kubeconfig with a token).
func firstCert(data []byte, file string) (*x509.Certificate, error) {
	if len(data) == 0 && file != "" {
		var err error
		if data, err = os.ReadFile(file); err != nil {
			return nil, err
		}
	}
	if len(data) == 0 {
		return nil, nil
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("no PEM certificate")
	}
	return x509.ParseCertificate(block.Bytes)
}
