package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/proxy"
	"github.com/berth-dev/berth/internal/testutil/testregistry"
)

var nodeCounter atomic.Int32

// freeSubnet picks N for a 10.<second>.N.0/24 that no host interface has an
// address in, starting from a per-process, per-call seed (tests in one run
// take different ranges). A range still held by a bridge that a killed run
// left behind is passed over instead of failing the test on it.
func freeSubnet(t testing.TB, second byte, mult int) int {
	t.Helper()
	used := map[int]bool{}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok {
			if ip := ipn.IP.To4(); ip != nil && ip[0] == 10 && ip[1] == second {
				used[int(ip[2])] = true
			}
		}
	}
	for range 250 {
		n := (os.Getpid()*mult + int(nodeCounter.Add(1))) % 250
		if !used[n] {
			return n
		}
	}
	t.Fatalf("no free 10.%d.N.0/24: every one is on a host interface (ip -4 addr)", second)
	return 0
}

// nodeSkipReason says why tests that run real containers cannot run here.
func nodeSkipReason() string {
	if os.Geteuid() != 0 {
		return "running pods needs root (containerd, runc, CNI)"
	}
	for _, bin := range []string{"containerd", "ctr", "runc"} {
		if _, err := exec.LookPath(bin); err != nil {
			return bin + " not installed (make test installs it: scripts/install-deps.sh)"
		}
	}
	if _, err := os.Stat("/usr/lib/cni/bridge"); err != nil {
		return "CNI plugins not installed in /usr/lib/cni (containernetworking-plugins)"
	}
	if _, err := os.Stat(testregistry.BusyboxPath); err != nil {
		return "busybox-static not installed (test images are built from /bin/busybox)"
	}
	return ""
}

// skipOrFailNode skips a test that needs real containers when the machine
// cannot run them; in CI (CI=true) that is a failure, since make test
// installs everything.
func skipOrFailNode(t *testing.T) {
	t.Helper()
	if r := nodeSkipReason(); r != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("cannot run pods in CI: %s", r)
		}
		t.Skip(r)
	}
}

// startNode starts `berth server` with its node agent on a pod range of its
// own (two servers must not share a bridge subnet), and deletes every pod
// before the server stops, so that no container outlives the test.
func startNode(t *testing.T, extraArgs ...string) *server {
	t.Helper()
	skipOrFailNode(t)
	n := freeSubnet(t, 201, 7)
	dir, err := os.MkdirTemp("/tmp", "berth-node-")
	if err != nil {
		t.Fatal(err)
	}
	gateway := fmt.Sprintf("10.201.%d.1", n)
	// Registered first so that it runs last, after the server stopped:
	// the data dir, and the CNI bridge containerd leaves behind (a later
	// run could pick the same subnet).
	t.Cleanup(func() {
		if !t.Failed() {
			// berth reset removes what the stopped server left: pods
			// still running, containerd, the bridge, the Service table,
			// mounts, cgroups and the data dir.
			if out, err := exec.Command(berthBin, "reset", "--data-dir", dir).CombinedOutput(); err != nil {
				t.Errorf("berth reset --data-dir %s: %v\n%s", dir, err, out)
			}
			return
		}
		// A failed test keeps its data dir for a look.
		removeBridgeWithAddress(t, gateway)
		// A server that did not stop cleanly leaves its Service rules.
		_ = (proxy.NFT{}).DeleteTable(context.Background(), proxy.TableName(dir))
	})
	// Service CIDRs differ too: the node's own connections to a ClusterIP
	// go through every server's rules, so two servers must not share one.
	args := append([]string{"--cluster-cidr", fmt.Sprintf("10.201.%d.0/24", n), "--service-cidr", fmt.Sprintf("10.202.%d.0/24", n)}, extraArgs...)
	s := startServerWith(t, dir, true, args...)
	t.Cleanup(func() {
		if s.running() {
			start := time.Now()
			defer func() { t.Logf("deleting every pod took %v", time.Since(start).Round(time.Millisecond)) }()
			// Not --force: a force-deleted pod still gets its whole grace
			// period on the node, as on Kubernetes.
			_, _, _ = s.kubectl("delete", "pods", "--all", "--all-namespaces", "--grace-period=1", "--wait=true", "--timeout=60s")
			deadline := time.Now().Add(60 * time.Second)
			for time.Now().Before(deadline) {
				out, _, err := s.kubectl("get", "pods", "-A", "-o", "name")
				if err == nil && strings.TrimSpace(out) == "" {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			// Let the agent remove the sandboxes of the deleted pods.
			deadline = time.Now().Add(30 * time.Second)
			for time.Now().Before(deadline) {
				out, err := exec.Command("ctr", "--address", dir+"/containerd/containerd.sock", "-n", "k8s.io", "containers", "ls", "-q").Output()
				if err == nil && strings.TrimSpace(string(out)) == "" {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
		}
	})
	return s
}

// podField reads one jsonpath of a pod.
func (s *server) podField(t testing.TB, ns, pod, jsonpath string) string {
	t.Helper()
	out, _, err := s.kubectl("-n", ns, "get", "pod", pod, "-o", "jsonpath="+jsonpath)
	if err != nil {
		return ""
	}
	return out
}

// waitPod polls until the pod's jsonpath equals want.
func (s *server) waitPod(t testing.TB, ns, pod, jsonpath, want string, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, func() error {
		if got := s.podField(t, ns, pod, jsonpath); got != want {
			return fmt.Errorf("pod %s/%s %s = %q, want %q", ns, pod, jsonpath, got, want)
		}
		return nil
	})
}

// removeBridgeWithAddress deletes the bridge holding ip (the pod network's
// gateway), which only this test's server created.
func removeBridgeWithAddress(t testing.TB, ip string) {
	out, err := exec.Command("ip", "-o", "-4", "addr", "show").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && strings.HasPrefix(f[3], ip+"/") && strings.HasPrefix(f[1], "berth-") {
			if out, err := exec.Command("ip", "link", "delete", f[1]).CombinedOutput(); err != nil {
				t.Logf("removing bridge %s: %v %s", f[1], err, out)
			}
		}
	}
}
