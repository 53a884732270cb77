package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// VolumeMounter prepares a pod's volumes on the host and returns the
// container's mounts. Set by the volumes package; nil serves no volumes.
type VolumeMounter interface {
	Mounts(ctx context.Context, pod *corev1.Pod, c *corev1.Container, podDir string) ([]*runtimeapi.Mount, error)
	// Track keeps a running pod's configMap, secret and downward API
	// volumes up to date (also for pods adopted after a restart).
	Track(pod *corev1.Pod, podDir string)
	// Cleanup removes a deleted pod's volumes.
	Cleanup(podDir string) error
}

// envMounter is a VolumeMounter that expands subPathExpr against the
// container's environment (volumes.Manager).
type envMounter interface {
	MountsWithEnv(ctx context.Context, pod *corev1.Pod, c *corev1.Container, podDir string, env map[string]string) ([]*runtimeapi.Mount, error)
}

// containerMounts returns the kubelet-managed mounts (/etc/hosts, the
// termination message file) plus the container's volumes, and the host
// path of the termination message file.
func (a *Agent) containerMounts(ctx context.Context, pod *corev1.Pod, c *corev1.Container, podIP string, attempt int, env map[string]string) ([]*runtimeapi.Mount, string, error) {
	var mounts []*runtimeapi.Mount
	dir := a.podDir(pod)
	if a.volumes != nil {
		var vm []*runtimeapi.Mount
		var err error
		// subPathExpr expands against the environment the container gets.
		if em, ok := a.volumes.(envMounter); ok {
			vm, err = em.MountsWithEnv(ctx, pod, c, dir, env)
		} else {
			vm, err = a.volumes.Mounts(ctx, pod, c, dir)
		}
		if err != nil {
			return nil, "", err
		}
		mounts = append(mounts, vm...)
	}
	// The kubelet's shouldMountHostsFile: a pod-network pod once it has its
	// IP, a host-network pod always.
	if !mountsPath(c, "/etc/hosts") && (podIP != "" || pod.Spec.HostNetwork) {
		hosts := filepath.Join(dir, "etc-hosts")
		content, err := hostsFile(pod, podIP)
		if err != nil {
			return nil, "", err
		}
		if err := os.WriteFile(hosts, content, 0o644); err != nil {
			return nil, "", fmt.Errorf("writing %s: %w", hosts, err)
		}
		mounts = append(mounts, &runtimeapi.Mount{ContainerPath: "/etc/hosts", HostPath: hosts})
	}
	termPath := ""
	if c.TerminationMessagePath != "" {
		cdir := filepath.Join(dir, "containers", c.Name)
		if err := os.MkdirAll(cdir, 0o755); err != nil {
			return nil, "", err
		}
		termPath = filepath.Join(cdir, "termination-log-"+strconv.Itoa(attempt))
		if err := os.WriteFile(termPath, nil, 0o666); err != nil {
			return nil, "", err
		}
		_ = os.Chmod(termPath, 0o666)
		mounts = append(mounts, &runtimeapi.Mount{ContainerPath: c.TerminationMessagePath, HostPath: termPath})
	}
	return mounts, termPath, nil
}

func mountsPath(c *corev1.Container, path string) bool {
	for _, m := range c.VolumeMounts {
		if m.MountPath == path {
			return true
		}
	}
	return false
}

// hostsFile is the kubelet-managed /etc/hosts.
func hostsFile(pod *corev1.Pod, podIP string) ([]byte, error) {
	if _, _, err := podHostname(pod); err != nil { // the FQDN must fit too
		return nil, err
	}
	hostname, domain, err := podHostnameDomain(pod)
	if err != nil {
		return nil, err
	}
	if pod.Spec.HostNetwork {
		// The node's own hosts file, as the kubelet copies it.
		node, err := os.ReadFile(nodeHostsPath)
		if err != nil {
			return nil, fmt.Errorf("reading the node's hosts file for host-network pod %s: %w", podKey(pod), err)
		}
		return hostNetworkHostsFile(node, pod.Spec.HostAliases), nil
	}
	var b strings.Builder
	b.WriteString("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n")
	if domain != "" {
		fmt.Fprintf(&b, "%s\t%s.%s\t%s\n", podIP, hostname, domain, hostname)
	} else {
		fmt.Fprintf(&b, "%s\t%s\n", podIP, hostname)
	}
	b.WriteString(hostAliasEntries(pod.Spec.HostAliases))
	return []byte(b.String()), nil
}

// nodeHostsPath is the node's hosts file, copied for host-network pods.
const nodeHostsPath = "/etc/hosts"

// hostNetworkHostsFile is a host-network pod's /etc/hosts: the kubelet's
// header, the node's file as it is, then the pod's hostAliases.
func hostNetworkHostsFile(node []byte, aliases []corev1.HostAlias) []byte {
	return []byte("# Kubernetes-managed hosts file (host network).\n" + string(node) + hostAliasEntries(aliases))
}

// hostAliasEntries is the hostAliases block of a managed hosts file: one
// line per IP with all its names.
func hostAliasEntries(aliases []corev1.HostAlias) string {
	if len(aliases) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n# Entries added by HostAliases.\n")
	for _, h := range aliases {
		fmt.Fprintf(&b, "%s\t%s\n", h.IP, strings.Join(h.Hostnames, "\t"))
	}
	return b.String()
}
