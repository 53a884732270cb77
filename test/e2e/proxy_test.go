package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/proxy"
	"github.com/berth-dev/berth/internal/testutil/ci"
	"github.com/berth-dev/berth/internal/testutil/testregistry"
)

// TestServiceProxy: ClusterIP traffic programmed in nftables reaches a
// ready backend from pods and from the node, never an unready one; a
// Service without endpoints refuses at once; the API server answers pods
// at the kubernetes Service over verified TLS while its gateway listener
// stays closed to anything outside the pod bridge; rules follow Service
// deletion, go on SIGTERM and come back on start.
func TestServiceProxy(t *testing.T) {
	if _, err := exec.LookPath("nft"); err != nil {
		skipOrFailNode(t)
		ci.Skipf(t, "nft is not installed (scripts/install-deps.sh installs nftables)")
	}
	s := startNode(t)
	table := proxy.TableName(s.dataDir)
	tlsget := buildTestProgram(t, "tlsget")
	ca, err := os.ReadFile(filepath.Join(s.dataDir, "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	reg := testregistry.Start(t, testregistry.Options{})
	// The Go client is named *.sh only because the image builder makes
	// such files executable.
	image, _ := reg.Push(t, "e2e/proxy:v1", testregistry.Image{
		Files: map[string]string{"/www/.keep": "", "/ca.crt": string(ca), "/bin/tlsget.sh": string(tlsget)}})

	ns := "proxy"
	s.namespace(t, ns)
	for _, name := range []string{"backend-a", "backend-b", "backend-c"} {
		s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: %s}
spec:
  containers:
  - name: web
    image: %s
    command: ["sh", "-c", "hostname > /www/index.html; exec httpd -f -p 8080 -h /www"]
    ports: [{name: http, containerPort: 8080}]
`, name, ns, image))
	}
	s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: %s}
spec:
  containers:
  - name: client
    image: %s
    command: ["sleep", "3600"]
`, ns, image))
	ips := map[string]string{}
	for _, name := range []string{"backend-a", "backend-b", "backend-c", "client"} {
		s.waitPod(t, ns, name, "{.status.phase}", "Running", 90*time.Second)
		ips[name] = s.podField(t, ns, name, "{.status.podIP}")
	}

	// No selector: Endpoints are written here (backend-c listed as not
	// ready), so no endpoints controller rewrites them.
	s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Service
metadata: {name: web, namespace: %[1]s}
spec:
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: web, namespace: %[1]s}
subsets:
- addresses: [{ip: %[2]s}, {ip: %[3]s}]
  notReadyAddresses: [{ip: %[4]s}]
  ports: [{name: http, port: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: empty, namespace: %[1]s}
spec:
  ports: [{port: 80}]
`, ns, ips["backend-a"], ips["backend-b"], ips["backend-c"]))
	webIP := s.mustKubectl(t, "-n", ns, "get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}")
	emptyIP := s.mustKubectl(t, "-n", ns, "get", "svc", "empty", "-o", "jsonpath={.spec.clusterIP}")
	eventually(t, 20*time.Second, func() error {
		out := nftList(t, table)
		if !strings.Contains(out, "dnat to "+ips["backend-a"]+":8080") || !strings.Contains(out, "dnat to "+ips["backend-b"]+":8080") {
			return fmt.Errorf("table %s does not DNAT to both ready backends yet:\n%s", table, out)
		}
		return nil
	})
	if out := nftList(t, table); strings.Contains(out, ips["backend-c"]) {
		t.Errorf("the not-ready backend %s is programmed:\n%s", ips["backend-c"], out)
	}

	checkBackends := func(t *testing.T, from string, got []string) {
		t.Helper()
		seen := map[string]int{}
		for _, g := range got {
			seen[strings.TrimSpace(g)]++
		}
		if seen["backend-c"] > 0 {
			t.Errorf("%s: the not-ready backend answered %d times", from, seen["backend-c"])
		}
		if seen["backend-a"] == 0 || seen["backend-b"] == 0 || seen["backend-a"]+seen["backend-b"] != len(got) {
			t.Errorf("%s: answers %v, want only backend-a and backend-b, both", from, seen)
		}
	}

	t.Run("FromPod", func(t *testing.T) {
		// busybox nc speaks the HTTP: the static Debian busybox's wget
		// crashes in these minimal images. The body is the last line.
		out := s.mustKubectl(t, "-n", ns, "exec", "client", "--", "sh", "-c",
			fmt.Sprintf(`i=0; while [ $i -lt 24 ]; do printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 5 %s 80 | tail -n 1 || echo FAIL; i=$((i+1)); done`, webIP))
		checkBackends(t, "pod → "+webIP, strings.Split(strings.TrimSpace(out), "\n"))
		// Hairpin: a backend reaching its own Service gets itself too.
		out = s.mustKubectl(t, "-n", ns, "exec", "backend-a", "--", "sh", "-c",
			fmt.Sprintf(`i=0; while [ $i -lt 24 ]; do printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 5 %s 80 | tail -n 1 || echo FAIL; i=$((i+1)); done`, webIP))
		checkBackends(t, "backend-a → "+webIP+" (hairpin)", strings.Split(strings.TrimSpace(out), "\n"))
	})

	t.Run("FromNode", func(t *testing.T) {
		client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		var got []string
		for range 24 {
			resp, err := client.Get("http://" + webIP + ":80/")
			if err != nil {
				t.Fatalf("node → %s: %v", webIP, err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			got = append(got, string(b))
		}
		checkBackends(t, "node → "+webIP, got)
	})

	t.Run("NoEndpointsRefusesFast", func(t *testing.T) {
		start := time.Now()
		out, _, err := s.kubectl("-n", ns, "exec", "client", "--", "sh", "-c",
			fmt.Sprintf(`nc -w 20 %s 80 </dev/null 2>&1; echo "rc=$?"`, emptyIP))
		if err != nil || !strings.Contains(out, "refused") || strings.Contains(out, "rc=0") {
			t.Errorf("pod → %s (no endpoints): %q %v, want connection refused", emptyIP, out, err)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("pod → service without endpoints took %v, want a fast refusal", took)
		}
		start = time.Now()
		c, err := net.DialTimeout("tcp", emptyIP+":80", 10*time.Second)
		if c != nil {
			c.Close()
		}
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("node → %s (no endpoints): %v, want connection refused", emptyIP, err)
		}
		if took := time.Since(start); took > 500*time.Millisecond {
			t.Errorf("node → service without endpoints took %v, want a fast refusal", took)
		}
	})

	gateway := s.mustKubectl(t, "get", "endpoints", "kubernetes", "-o", "jsonpath={.subsets[0].addresses[0].ip}")
	apiPort := s.mustKubectl(t, "get", "endpoints", "kubernetes", "-o", "jsonpath={.subsets[0].ports[0].port}")
	t.Run("APIFromPod", func(t *testing.T) {
		if !strings.HasSuffix(gateway, ".1") || !strings.HasPrefix(ips["client"], strings.TrimSuffix(gateway, "1")) {
			t.Errorf("kubernetes Endpoints address %s is not the pod network's gateway (client pod %s)", gateway, ips["client"])
		}
		kubeIP := s.mustKubectl(t, "get", "svc", "kubernetes", "-o", "jsonpath={.spec.clusterIP}")
		// The ClusterIP and the gateway are verified as the URL's host; the
		// DNS name pods use is verified with -servername.
		urls := []string{"https://" + kubeIP + ":443/version", "https://" + net.JoinHostPort(gateway, apiPort) + "/version"}
		if env := s.mustKubectl(t, "-n", ns, "exec", "client", "--", "sh", "-c", "echo $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT"); strings.TrimSpace(env) != ":" {
			urls = append(urls, "https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/version")
		} else {
			t.Log("the container has no KUBERNETES_SERVICE_HOST yet (service links): the ClusterIP is used directly")
		}
		args := append([]string{"-n", ns, "exec", "client", "--", "tlsget.sh"}, urls...)
		out, stderr, err := s.kubectl(args...)
		if err != nil || strings.Count(out, "200 ") != len(urls) || !strings.Contains(out, "gitVersion") {
			t.Errorf("pod → API %v: %q %s %v", urls, out, stderr, err)
		}
		out, stderr, err = s.kubectl("-n", ns, "exec", "client", "--", "tlsget.sh", "-servername", "kubernetes.default.svc", "https://"+kubeIP+":443/version")
		if err != nil || !strings.HasPrefix(out, "200 ") {
			t.Errorf("pod → API verified as kubernetes.default.svc: %q %s %v", out, stderr, err)
		}
		// From the node too, through the same Service.
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(ca)
		client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		resp, err := client.Get("https://" + kubeIP + ":443/version")
		if err != nil {
			t.Fatalf("node → API at the kubernetes ClusterIP: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("node → API at the kubernetes ClusterIP: %s", resp.Status)
		}
	})

	t.Run("APIClosedOutsideTheBridge", func(t *testing.T) {
		// Bound to the gateway address only, not to every address.
		ss, err := exec.Command("ss", "-Hltn", "sport = :"+apiPort).Output()
		if err != nil {
			t.Fatalf("ss: %v", err)
		}
		if !strings.Contains(string(ss), gateway+":"+apiPort) || strings.Contains(string(ss), "0.0.0.0:"+apiPort) || strings.Contains(string(ss), "*:"+apiPort) {
			t.Errorf("listeners on port %s:\n%s\nwant 127.0.0.1 and %s only", apiPort, ss, gateway)
		}
		guard := regexp.MustCompile(`ip daddr ` + regexp.QuoteMeta(gateway) + ` tcp dport \{[^}]*\b` + apiPort + `\b[^}]*\} iifname != "lo" fib daddr \. iif type != local drop`)
		if out := nftList(t, table); !guard.MatchString(out) {
			t.Errorf("table %s lacks the guard of the API port %s on %s:\n%s", table, apiPort, gateway, out)
		}
		// And for real: from a network namespace routed through the host
		// over a veth (another machine, as far as the host can tell), the
		// API is dropped while an unguarded port on the same address answers.
		outsider := newOutsideNetns(t, gateway)
		ctl, err := listenOnAddr(gateway)
		if err != nil {
			t.Fatal(err)
		}
		defer ctl.Close()
		go func() {
			for {
				c, err := ctl.Accept()
				if err != nil {
					return
				}
				_, _ = c.Write([]byte("control\n"))
				c.Close()
			}
		}()
		ctlPort := fmt.Sprint(ctl.Addr().(*net.TCPAddr).Port)
		if out, err := outsider("busybox", "nc", "-w", "3", gateway, ctlPort); err != nil || !strings.Contains(out, "control") {
			t.Fatalf("control: the outside namespace cannot reach %s:%s at all (%q, %v); the check below would prove nothing", gateway, ctlPort, out, err)
		}
		if out, err := outsider("busybox", "nc", "-w", "3", gateway, apiPort); err == nil {
			t.Errorf("the API on %s:%s answered from outside the pod bridge: %q", gateway, apiPort, out)
		}
	})

	t.Run("DeletingTheServiceRemovesItsRules", func(t *testing.T) {
		s.mustKubectl(t, "-n", ns, "delete", "svc", "web")
		eventually(t, 20*time.Second, func() error {
			ipRE := regexp.MustCompile(`(^|[^0-9.])` + regexp.QuoteMeta(webIP) + `($|[^0-9])`)
			if out := nftList(t, table); strings.Contains(out, "svc-"+ns+"/web/") || ipRE.MatchString(out) {
				return fmt.Errorf("rules of the deleted Service remain:\n%s", out)
			}
			return nil
		})
	})

	t.Run("TableGoneOnSIGTERMAndBackOnStart", func(t *testing.T) {
		if _, err := s.stop(syscall.SIGTERM); err != nil {
			t.Fatalf("stop: %v", err)
		}
		if out, err := exec.Command("nft", "list", "table", "ip", table).CombinedOutput(); err == nil {
			t.Errorf("table %s is still there after SIGTERM:\n%s", table, out)
		}
		s.start(t) // so that the harness deletes the pods as usual
		eventually(t, 30*time.Second, func() error {
			if out := nftList(t, table); !strings.Contains(out, "svc-"+ns+"/empty/") && !strings.Contains(out, emptyIP) {
				return fmt.Errorf("table %s not rebuilt after the restart:\n%s", table, out)
			}
			return nil
		})
	})
}

// nftList prints the table ("" when it does not exist).
func nftList(t testing.TB, table string) string {
	t.Helper()
	out, err := exec.Command("nft", "list", "table", "ip", table).CombinedOutput()
	if err != nil {
		return ""
	}
	return string(out)
}

// listenOnAddr listens on ip, an address that exists on the bridge.
func listenOnAddr(ip string) (net.Listener, error) {
	return net.Listen("tcp4", net.JoinHostPort(ip, "0"))
}

// newOutsideNetns makes a network namespace joined to the host by a veth
// pair (not the pod bridge), with a route to gateway through the host, and
// returns a runner of commands inside it. The namespace belongs to a
// `sleep` child (never `ip netns add`, whose shared /run/netns mount breaks
// the removal of every pod network namespace created before it).
func newOutsideNetns(t *testing.T, gateway string) func(args ...string) (string, error) {
	t.Helper()
	n := freeSubnet(t, 203, 7)
	host, peer := fmt.Sprintf("bpx%da", n), fmt.Sprintf("bpx%db", n)
	hostIP, peerIP := fmt.Sprintf("10.203.%d.1", n), fmt.Sprintf("10.203.%d.2", n)
	holder := exec.Command("unshare", "--net", "sleep", "300")
	holder.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := holder.Start(); err != nil {
		t.Fatalf("unshare --net: %v", err)
	}
	_ = exec.Command("ip", "link", "del", host).Run()
	t.Cleanup(func() {
		_ = exec.Command("ip", "link", "del", host).Run()
		_ = holder.Process.Kill()
		_ = holder.Wait()
	})
	nsNet := fmt.Sprintf("--net=/proc/%d/ns/net", holder.Process.Pid)
	inside := func(args ...string) *exec.Cmd {
		return exec.Command("nsenter", append([]string{nsNet, "--"}, args...)...)
	}
	run := func(cmd *exec.Cmd) {
		t.Helper()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, out)
		}
	}
	// The child must have its own namespace before the peer moves there.
	eventually(t, 5*time.Second, func() error {
		self, _ := os.Readlink("/proc/self/ns/net")
		theirs, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", holder.Process.Pid))
		if err != nil || theirs == self {
			return fmt.Errorf("unshare has not entered its namespace yet (%v)", err)
		}
		return nil
	})
	run(exec.Command("ip", "link", "add", host, "type", "veth", "peer", "name", peer, "netns", fmt.Sprint(holder.Process.Pid)))
	run(exec.Command("ip", "addr", "add", hostIP+"/30", "dev", host))
	run(exec.Command("ip", "link", "set", host, "up"))
	run(inside("ip", "addr", "add", peerIP+"/30", "dev", peer))
	run(inside("ip", "link", "set", peer, "up"))
	run(inside("ip", "route", "add", gateway+"/32", "via", hostIP))
	return func(args ...string) (string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cmd := inside(args...)
		cmd = exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
}
