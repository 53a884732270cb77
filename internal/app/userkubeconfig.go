package app

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"

	"github.com/berth-dev/berth/internal/agent"
	"github.com/berth-dev/berth/internal/pki"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/client-go/tools/clientcmd"
)

// UserKubeconfig returns a kubeconfig for user (in groups) with a client
// certificate signed by the cluster CA under dataDir. server defaults to
// the server of the admin kubeconfig berth wrote there. What the user may
// do is up to RBAC: bind roles to the user or group name.
func UserKubeconfig(dataDir, userName string, groups []string, server string) ([]byte, error) {
	if userName == "" {
		return nil, fmt.Errorf("--user is required")
	}
	if server == "" {
		admin, err := clientcmd.LoadFromFile(KubeconfigPath(dataDir))
		if err != nil {
			return nil, fmt.Errorf("reading the server address from %s: %w (start berth server first, or pass --server)", KubeconfigPath(dataDir), err)
		}
		for _, c := range admin.Clusters {
			server = c.Server
		}
	}
	bundle, err := pki.LoadCA(filepath.Join(dataDir, "pki"))
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := bundle.IssueClient(userName, groups...)
	if err != nil {
		return nil, fmt.Errorf("signing a certificate for %s: %w", userName, err)
	}
	return kubeconfigBytes(server, bundle.CAPEM, certPEM, keyPEM, userName)
}

// NodesGroup is the group of node identities (system:nodes).
const NodesGroup = user.NodesGroup

// NodeUser is the user name of node name's identity, system:node:NAME, as
// the Node authorizer and NodeRestriction recognise it.
func NodeUser(name string) string { return "system:node:" + name }

// WriteKubeletServing writes dir/kubelet.crt and dir/kubelet.key (0600),
// a serving certificate for node's kubelet endpoint signed by the cluster
// CA under dataDir, for hosts (default: node, this machine's IP and
// 127.0.0.1).
func WriteKubeletServing(dataDir, node string, hosts []string, dir string) error {
	if len(hosts) == 0 {
		hosts = []string{node, agent.HostIP(), "127.0.0.1"}
	}
	bundle, err := pki.LoadCA(filepath.Join(dataDir, "pki"))
	if err != nil {
		return err
	}
	cert, err := bundle.IssueServing(NodeUser(node), hosts)
	if err != nil {
		return fmt.Errorf("signing the kubelet serving certificate of %s: %w", node, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := pki.WriteFileAtomic(filepath.Join(dir, "kubelet.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return err
	}
	return pki.WriteFileAtomic(filepath.Join(dir, "kubelet.crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}), 0o600)
}
