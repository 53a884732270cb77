// Package explain implements `berth explain`: it reads a pod and what it
// refers to from the API (and the node's own records, when they can be
// reached) and prints, for people, why something happened. It never
// prints a secret's value.
package explain

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"

	"github.com/berth-dev/berth/internal/agent/images"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
)

// Options select what to explain.
type Options struct {
	Namespace string
	Pod       string
	Container string // empty: every container
	// DataDir, when set, is berth's data dir on this machine; the node's
	// records are read from it when the API cannot serve them.
	DataDir string
}

// Explainer reads from the API.
type Explainer struct {
	Client kubernetes.Interface
	Out    io.Writer
	// NodeProxy, when set, replaces the GET through the API server's node
	// proxy (/api/v1/nodes/{node}/proxy/{path}); tests set it.
	NodeProxy func(ctx context.Context, node string, path ...string) ([]byte, error)
}

// nodeRecord fetches the agent's pull record for a container: through the
// API server's node proxy first, then from a local data dir.
func (e *Explainer) nodeRecord(ctx context.Context, pod *corev1.Pod, container, dataDir string) (*images.PullAttempt, string) {
	if pod.Spec.NodeName != "" {
		raw, err := e.Client.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", pod.Spec.NodeName, "proxy",
			"berth/pullrecords", string(pod.UID), container).DoRaw(ctx)
		if err == nil {
			var a images.PullAttempt
			if json.Unmarshal(raw, &a) == nil && a.Image != "" {
				return &a, "node " + pod.Spec.NodeName
			}
		}
	}
	if dataDir != "" {
		if a, err := images.LoadExplain(filepath.Join(dataDir, "agent"), string(pod.UID), container); err == nil {
			return a, "local data dir " + dataDir
		}
	}
	return nil, ""
}

func fprintf(w io.Writer, format string, args ...any) { _, _ = fmt.Fprintf(w, format, args...) }
