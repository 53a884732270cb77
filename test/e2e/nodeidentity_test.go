package e2e

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testutil/testregistry"
	"k8s.io/client-go/tools/clientcmd"
)

// TestNodeIdentity joins a second `berth agent` (node n2) beside a berth
// server with only a node identity from `berth kubeconfig --node n2`, so
// that it can do nothing but what the Node authorizer, RBAC's node rules
// and NodeRestriction allow: it must still run a pod bound to it (with a
// secret and a configmap it uses), and be refused a secret no pod of it
// uses and every write to another node's pods and Node.
func TestNodeIdentity(t *testing.T) {
	s := startNode(t)
	reg := testregistry.Start(t, testregistry.Options{})
	image, _ := reg.Push(t, "e2e/busybox:v1", testregistry.Image{})
	ns := "nodeid"
	s.namespace(t, ns)
	s.waitDefaultSA(t, ns)
	self := strings.TrimSpace(s.mustKubectl(t, "get", "nodes", "-o", "jsonpath={.items[0].metadata.name}"))

	servingDir := t.TempDir()
	kc, err := exec.Command(berthBin, "kubeconfig", "--data-dir", s.dataDir, "--node", "n2", "--kubelet-serving-dir", servingDir).Output()
	if err != nil {
		t.Fatalf("berth kubeconfig --node n2: %v", err)
	}
	kcPath := filepath.Join(t.TempDir(), "n2.kubeconfig")
	if err := os.WriteFile(kcPath, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	asNode := func(args ...string) (string, error) {
		out, err := exec.Command("kubectl", append([]string{"--kubeconfig", kcPath}, args...)...).CombinedOutput()
		return string(out), err
	}
	if out, err := asNode("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"); err != nil || out != "system:node:n2" {
		t.Fatalf("whoami with the node kubeconfig: %q %v", out, err)
	}

	startSecondAgent(t, s, kcPath, "n2", "--port", "0",
		"--tls-cert-file", filepath.Join(servingDir, "kubelet.crt"), "--tls-private-key-file", filepath.Join(servingDir, "kubelet.key"))
	s.waitNodeReady(t, "n2", 90*time.Second)

	s.mustKubectl(t, "-n", ns, "create", "secret", "generic", "used", "--from-literal=k=v")
	s.mustKubectl(t, "-n", ns, "create", "secret", "generic", "unused", "--from-literal=k=v")
	s.mustKubectl(t, "-n", ns, "create", "configmap", "cfg", "--from-literal=k=v")
	s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: on-n2, namespace: %[1]s}
spec:
  nodeName: n2
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: %[2]s
    command: ["sh", "-c", "cat /s/k /c/k; echo; sleep 3600"]
    volumeMounts: [{name: s, mountPath: /s}, {name: c, mountPath: /c}]
  volumes:
  - {name: s, secret: {secretName: used}}
  - {name: c, configMap: {name: cfg}}
---
apiVersion: v1
kind: Pod
metadata: {name: on-self, namespace: %[1]s}
spec:
  nodeName: %[3]s
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: %[2]s, command: ["sleep", "3600"]}
`, ns, image, self))
	s.waitPod(t, ns, "on-n2", "{.status.phase}", "Running", 120*time.Second)
	s.waitPod(t, ns, "on-n2", "{.status.containerStatuses[0].ready}", "true", 30*time.Second)
	s.waitPod(t, ns, "on-self", "{.status.phase}", "Running", 120*time.Second)

	otherPod := filepath.Join(t.TempDir(), "on-self.json")
	if err := os.WriteFile(otherPod, []byte(s.mustKubectl(t, "-n", ns, "get", "pod", "on-self", "-o", "json")), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want string // "" = allowed
	}{
		{"GetSecretOfItsPod", []string{"-n", ns, "get", "secret", "used", "-o", "name"}, ""},
		{"GetOtherSecret", []string{"-n", ns, "get", "secret", "unused"},
			`secrets "unused" is forbidden: User "system:node:n2" cannot get resource "secrets" in API group "" in the namespace "nodeid": node: no relationship found between node 'n2' and this object`},
		{"ListSecrets", []string{"-n", ns, "get", "secrets"},
			`secrets is forbidden: User "system:node:n2" cannot list resource "secrets" in API group "" in the namespace "nodeid"`},
		{"DeleteOtherNodesPod", []string{"-n", ns, "delete", "pod", "on-self", "--wait=false"},
			`pods "on-self" is forbidden: node "n2" can only delete pods with spec.nodeName set to itself`},
		// Raw PUTs: kubectl label and patch read the pod first, which the
		// Node authorizer refuses too (ReadOtherNodesPod).
		{"ReadOtherNodesPod", []string{"-n", ns, "get", "pod", "on-self"},
			`pods "on-self" is forbidden: User "system:node:n2" cannot get resource "pods" in API group "" in the namespace "nodeid": node: no relationship found between node 'n2' and this object`},
		{"PutOtherNodesPod", []string{"replace", "--raw", "/api/v1/namespaces/" + ns + "/pods/on-self", "-f", otherPod},
			`pods "on-self" is forbidden: User "system:node:n2" cannot update resource "pods" in API group "" in the namespace "nodeid"`},
		// A raw PUT: kubectl patch --subresource=status reads first.
		{"PutOtherNodesPodStatus", []string{"replace", "--raw", "/api/v1/namespaces/" + ns + "/pods/on-self/status", "-f", otherPod},
			`pods "on-self" is forbidden: node "n2" can only update pod status for pods with spec.nodeName set to itself`},
		{"LabelOtherNode", []string{"label", "node", self, "x=y"},
			`nodes "` + self + `" is forbidden: node "n2" is not allowed to modify node "` + self + `"`},
		{"CreatePod", []string{"-n", ns, "run", "sneaky", "--image=" + image, "--overrides", `{"spec":{"nodeName":"n2"}}`},
			`pods "sneaky" is forbidden: pod does not have "kubernetes.io/config.mirror" annotation, node "n2" can only create mirror pods`},
	}
	for _, c := range cases {
		out, err := asNode(c.args...)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v\n%s", c.name, err, out)
		case c.want != "" && (err == nil || !strings.Contains(out, c.want)):
			t.Errorf("%s: got %q (err %v), want %q", c.name, out, err, c.want)
		}
	}
	// n2's kubelet endpoint serves logs and exec to the API server (whose
	// client certificate it checks against the kubeconfig's CA and
	// authorizes by SubjectAccessReview through n2's own credentials).
	eventually(t, 30*time.Second, func() error {
		out, stderr, err := s.kubectl("-n", ns, "logs", "on-n2")
		if err != nil || strings.TrimSpace(out) != "vv" {
			return fmt.Errorf("kubectl logs on-n2: %q %v %s", out, err, stderr)
		}
		return nil
	})
	if out := s.mustKubectl(t, "-n", ns, "exec", "on-n2", "--", "cat", "/c/k"); out != "v" {
		t.Errorf("kubectl exec on-n2: %q, want v", out)
	}
	// The server's kubelet endpoint authorizes by SubjectAccessReview: the
	// API server's client certificate may read logs (kubectl logs), a
	// node's certificate (no nodes/proxy) may not.
	eventually(t, 30*time.Second, func() error {
		out, stderr, err := s.kubectl("-n", ns, "logs", "on-self")
		if err != nil {
			return fmt.Errorf("kubectl logs on-self: %v %s %s", err, out, stderr)
		}
		return nil
	})
	port := s.mustKubectl(t, "get", "node", self, "-o", "jsonpath={.status.daemonEndpoints.kubeletEndpoint.Port}")
	ip := s.mustKubectl(t, "get", "node", self, "-o", `jsonpath={.status.addresses[?(@.type=="InternalIP")].address}`)
	rc, err := clientcmd.BuildConfigFromFlags("", kcPath)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(rc.TLSClientConfig.CertData, rc.TLSClientConfig.KeyData)
	if err != nil {
		t.Fatal(err)
	}
	// The node's certificate is valid (the TLS handshake passes); only
	// authorization refuses it. The serving certificate is not checked
	// here: this test is about the client side.
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true}}} //nolint:gosec // see above
	resp, err := hc.Get("https://" + net.JoinHostPort(ip, port) + "/containerLogs/" + ns + "/on-self/c")
	if err != nil {
		t.Fatalf("kubelet endpoint with n2's certificate: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := "Forbidden (user=system:node:n2, verb=get, resource=nodes, subresource(s)=[proxy])"; resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), want) {
		t.Errorf("kubelet endpoint with n2's certificate: %d %q, want 403 %q", resp.StatusCode, body, want)
	}
	if got := s.podField(t, ns, "on-self", "{.metadata.deletionTimestamp}"); got != "" {
		t.Errorf("on-self is being deleted (%s) after n2's refused delete", got)
	}
}

// waitNodeReady polls until the node's Ready condition is True.
func (s *server) waitNodeReady(t testing.TB, node string, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, func() error {
		out, _, err := s.kubectl("get", "node", node, "-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		if err != nil || out != "True" {
			return fmt.Errorf("node %s Ready = %q (%v)", node, out, err)
		}
		return nil
	})
}

// startSecondAgent runs `berth agent` as node name with kubeconfig, on its
// own data dir and pod CIDR; cleanup deletes its pods (as admin), stops it
// and resets its data dir.
func startSecondAgent(t *testing.T, s *server, kubeconfig, name string, extraArgs ...string) {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "berth-agent-")
	if err != nil {
		t.Fatal(err)
	}
	n := freeSubnet(t, 203, 11)
	logPath := filepath.Join(s.cacheDir, "berth-agent-"+name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"agent", "--kubeconfig", kubeconfig, "--data-dir", dir, "--node-name", name,
		"--cluster-cidr", fmt.Sprintf("10.203.%d.0/24", n), "--log-level", "debug"}, extraArgs...) // debug: client-go reports refusals
	cmd := exec.Command(berthBin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start berth agent: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logFile.Close(); close(done) }()
	t.Cleanup(func() {
		_, _, _ = s.kubectl("delete", "pods", "--all-namespaces", "--field-selector", "spec.nodeName="+name, "--grace-period=1", "--wait=true", "--timeout=60s")
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		// Everything the agent (and its Service proxy and DNS) asks for
		// must be within what a node is allowed.
		full, _ := os.ReadFile(logPath)
		for _, line := range strings.Split(string(full), "\n") {
			if strings.Contains(strings.ToLower(line), "forbidden") {
				t.Errorf("berth agent %s was refused: %s", name, s.redactString(line))
			}
		}
		if t.Failed() {
			t.Logf("berth agent %s log:\n%s", name, s.readLog(logPath))
			// The data dir stays for a look; its bridge goes, so that no
			// later run meets its range.
			removeBridgeWithAddress(t, fmt.Sprintf("10.203.%d.1", n))
			return
		}
		if out, err := exec.Command(berthBin, "reset", "--data-dir", dir).CombinedOutput(); err != nil {
			t.Errorf("berth reset --data-dir %s: %v\n%s", dir, err, out)
		}
	})
}
