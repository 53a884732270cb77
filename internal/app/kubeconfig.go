package app

import (
	"fmt"

	"github.com/berth-dev/berth/internal/pki"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// kubeconfigBytes renders a kubeconfig for server with the given client
// certificate, in the shape kubectl expects (one cluster, user, context).
func kubeconfigBytes(server string, caPEM, certPEM, keyPEM []byte, user string) ([]byte, error) {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["berth"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM}
	cfg.Contexts["berth"] = &clientcmdapi.Context{Cluster: "berth", AuthInfo: user, Namespace: "default"}
	cfg.CurrentContext = "berth"
	return clientcmd.Write(*cfg)
}

// restConfig is the in-process client configuration (admin credentials).
func restConfig(server string, b *pki.Bundle) *rest.Config {
	return &rest.Config{
		Host: server,
		TLSClientConfig: rest.TLSClientConfig{
			CAData: b.CAPEM, CertData: b.AdminCert, KeyData: b.AdminKey,
		},
		QPS: 200, Burst: 400,
		UserAgent: "berth",
		// Protobuf, as kube-controller-manager and kubelet speak to
		// kube-apiserver: a pod decodes several times faster than from
		// JSON, and every informer and status write of the controllers
		// and the agent pays it on the node's cores.
		ContentConfig: protobufContent(),
	}
}

// protobufContent asks for protobuf and sends it, with JSON accepted for
// what has no protobuf encoding.
func protobufContent() rest.ContentConfig {
	return rest.ContentConfig{
		ContentType:        runtime.ContentTypeProtobuf,
		AcceptContentTypes: runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON,
	}
}

func serverURL(addr string) string { return fmt.Sprintf("https://%s", addr) }
