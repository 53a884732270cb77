package agent

import (
	"context"
	"os"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestHostNetworkHostsFile: a host-network pod gets the node's hosts file
// under the kubelet's host-network header, then its hostAliases.
func TestHostNetworkHostsFile(t *testing.T) {
	node := "127.0.0.1\tlocalhost\n10.0.0.5\tnode1\n"
	aliases := []corev1.HostAlias{{IP: "192.0.2.1", Hostnames: []string{"foo.local", "bar.local"}}}
	for _, tc := range []struct {
		name    string
		aliases []corev1.HostAlias
		want    string
	}{
		{"no aliases", nil, "# Kubernetes-managed hosts file (host network).\n" + node},
		{"aliases", aliases, "# Kubernetes-managed hosts file (host network).\n" + node +
			"\n# Entries added by HostAliases.\n192.0.2.1\tfoo.local\tbar.local\n"},
	} {
		if got := string(hostNetworkHostsFile([]byte(node), tc.aliases)); got != tc.want {
			t.Errorf("%s: got\n%s\nwant\n%s", tc.name, got, tc.want)
		}
	}

	// hostsFile and containerMounts use the node's real /etc/hosts, and
	// mount it even before (and without) a pod IP.
	real, err := os.ReadFile("/etc/hosts")
	if err != nil {
		t.Fatalf("reading the node's /etc/hosts: %v", err)
	}
	pod := hostnamePod("web-0", "", "", nil)
	pod.Spec.HostNetwork = true
	pod.Spec.HostAliases = aliases
	want := string(hostNetworkHostsFile(real, aliases))
	got, err := hostsFile(pod, "")
	if err != nil || string(got) != want {
		t.Fatalf("hostsFile = %q, %v; want %q", got, err, want)
	}
	a := &Agent{cfg: Config{DataDir: t.TempDir()}}
	if err := os.MkdirAll(a.podDir(pod), 0o755); err != nil {
		t.Fatal(err)
	}
	mounts, _, err := a.containerMounts(context.Background(), pod, &corev1.Container{Name: "c"}, "", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, m := range mounts {
		if m.ContainerPath == "/etc/hosts" {
			found = true
			if b, err := os.ReadFile(m.HostPath); err != nil || string(b) != want {
				t.Errorf("mounted hosts file %q, %v; want %q", b, err, want)
			}
		}
	}
	if !found {
		t.Errorf("no /etc/hosts mount for a host-network pod: %v", mounts)
	}
}
