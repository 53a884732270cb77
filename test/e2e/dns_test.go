package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testutil/testregistry"
)

// TestDNS: the cluster DNS server answers pods on the pod network's
// gateway (the kube-dns Endpoints), and each dnsPolicy gives the
// resolv.conf a Kubernetes node gives. Through the kube-dns ClusterIP the
// queries need the ClusterIP proxy, which is tested with it.
func TestDNS(t *testing.T) {
	s := startNode(t)
	reg := testregistry.Start(t, testregistry.Options{})
	resolver := buildTestProgram(t, "resolve")
	image, _ := reg.Push(t, "e2e/busybox:dns", testregistry.Image{Files: map[string]string{"/resolve": string(resolver)}})
	ns := "dns"
	s.namespace(t, ns)

	var gateway string
	eventually(t, 30*time.Second, func() error {
		out, _, err := s.kubectl("-n", "kube-system", "get", "endpoints", "kube-dns", "-o", "jsonpath={.subsets[0].addresses[0].ip}")
		if gateway = strings.TrimSpace(out); err != nil || gateway == "" {
			return fmt.Errorf("kube-dns endpoints have no address yet: %q %v", out, err)
		}
		return nil
	})
	dnsIP := strings.TrimSpace(s.mustKubectl(t, "-n", "kube-system", "get", "service", "kube-dns", "-o", "jsonpath={.spec.clusterIP}"))
	// The tenth address of the service CIDR, as kubeadm: the kubernetes
	// Service has the first.
	kubeIP := strings.TrimSpace(s.mustKubectl(t, "get", "service", "kubernetes", "-o", "jsonpath={.spec.clusterIP}"))
	if want := strings.TrimSuffix(kubeIP, ".1") + ".10"; !strings.HasSuffix(kubeIP, ".1") || dnsIP != want {
		t.Errorf("kube-dns ClusterIP = %s, want %s (the tenth address of the service CIDR; kubernetes has %s)", dnsIP, want, kubeIP)
	}

	s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Service
metadata: {name: web, namespace: %[1]s}
spec:
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: cluster-first, namespace: %[1]s}
spec:
  terminationGracePeriodSeconds: 0
  containers: [{name: c, image: %[2]s, command: ["sleep", "3600"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: default-policy, namespace: %[1]s}
spec:
  terminationGracePeriodSeconds: 0
  dnsPolicy: Default
  containers: [{name: c, image: %[2]s, command: ["sleep", "3600"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: none-policy, namespace: %[1]s}
spec:
  terminationGracePeriodSeconds: 0
  dnsPolicy: None
  dnsConfig:
    nameservers: ["192.0.2.53"]
    searches: ["a.example", "b.example"]
    options: [{name: ndots, value: "2"}, {name: edns0}]
  containers: [{name: c, image: %[2]s, command: ["sleep", "3600"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: search-list, namespace: %[1]s}
spec:
  terminationGracePeriodSeconds: 0
  dnsPolicy: None
  dnsConfig:
    nameservers: [%[3]q]
    searches: ["%[1]s.svc.cluster.local", "svc.cluster.local", "cluster.local"]
    options: [{name: ndots, value: "5"}]
  containers:
  - name: c
    image: %[2]s
    command: ["sh", "-c", "busybox cp /resolve /tmp/resolve && busybox chmod 755 /tmp/resolve && exec sleep 3600"]
`, ns, image, gateway))
	clusterIP := strings.TrimSpace(s.mustKubectl(t, "-n", ns, "get", "service", "web", "-o", "jsonpath={.spec.clusterIP}"))
	for _, p := range []string{"cluster-first", "default-policy", "none-policy", "search-list"} {
		s.waitPod(t, ns, p, "{.status.phase}", "Running", 90*time.Second)
	}

	t.Run("resolv.conf", func(t *testing.T) {
		hostServers, hostSearches, hostOptions := hostResolvConf(t)
		want := map[string]string{
			"cluster-first": resolvConf([]string{dnsIP},
				append([]string{ns + ".svc.cluster.local", "svc.cluster.local", "cluster.local"}, hostSearches...), []string{"ndots:5"}),
			"default-policy": resolvConf(hostServers, hostSearches, hostOptions),
			"none-policy":    "search a.example b.example\nnameserver 192.0.2.53\noptions ndots:2 edns0\n",
		}
		for pod, w := range want {
			if got := s.mustKubectl(t, "-n", ns, "exec", pod, "--", "cat", "/etc/resolv.conf"); got != w {
				t.Errorf("%s: /etc/resolv.conf =\n%s\nwant\n%s", pod, got, w)
			}
		}
	})

	lookup := func(name string) (string, time.Duration, error) {
		start := time.Now()
		out, stderr, err := s.kubectl("-n", ns, "exec", "cluster-first", "--", "busybox", "nslookup", name, gateway)
		return out + stderr, time.Since(start), err
	}
	t.Run("service names", func(t *testing.T) {
		name := "web." + ns + ".svc.cluster.local"
		eventually(t, 20*time.Second, func() error {
			out, _, err := lookup(name)
			if err != nil || !strings.Contains(out, "Address: "+clusterIP) {
				return fmt.Errorf("nslookup %s %s: %v\n%s\nwant Address: %s", name, gateway, err, out, clusterIP)
			}
			return nil
		})
		// The search list, as a pod's C library walks it (ndots:5): a
		// pod with the ClusterFirst configuration but the gateway for
		// nameserver, until the ClusterIP proxy carries 10.96.0.10.
		for _, short := range []string{"web", "web." + ns, "web." + ns + ".svc", "web." + ns + ".svc.cluster.local"} {
			out, stderr, err := s.kubectl("-n", ns, "exec", "search-list", "--", "/tmp/resolve", short)
			if want := short + " " + clusterIP + "\n"; err != nil || out != want {
				t.Errorf("resolving %s through the search list: %v %s\n%s\nwant %q", short, err, stderr, out, want)
			}
		}
	})
	t.Run("headless", func(t *testing.T) {
		// Nothing keeps the Endpoints of selector Services in this test's
		// scope: a selectorless headless Service with Endpoints by hand.
		podIP := s.podField(t, ns, "search-list", "{.status.podIP}")
		s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Service
metadata: {name: hl, namespace: %[1]s}
spec:
  clusterIP: None
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Endpoints
metadata: {name: hl, namespace: %[1]s}
subsets:
- addresses: [{ip: %[2]q, hostname: h0}]
  ports: [{name: http, port: 80}]
`, ns, podIP))
		eventually(t, 10*time.Second, func() error {
			out, stderr, err := s.kubectl("-n", ns, "exec", "search-list", "--", "/tmp/resolve", "hl", "h0.hl")
			if want := "hl " + podIP + "\nh0.hl " + podIP + "\n"; err != nil || out != want {
				return fmt.Errorf("resolving the headless service: %v %s\n%s\nwant %q", err, stderr, out, want)
			}
			return nil
		})
	})
	t.Run("NXDOMAIN at once", func(t *testing.T) {
		out, took, err := lookup("nothing-here." + ns + ".svc.cluster.local")
		if err == nil || !strings.Contains(out, "NXDOMAIN") {
			t.Errorf("nslookup of a missing service: %v\n%s\nwant NXDOMAIN", err, out)
		}
		// kubectl exec alone takes a few hundred milliseconds; a resolver
		// that waited on an upstream would take seconds.
		if took > 3*time.Second {
			t.Errorf("NXDOMAIN took %v", took)
		}
	})
	t.Run("pod record", func(t *testing.T) {
		podIP := s.podField(t, ns, "cluster-first", "{.status.podIP}")
		out, _, err := lookup(strings.ReplaceAll(podIP, ".", "-") + "." + ns + ".pod.cluster.local")
		if err != nil || !strings.Contains(out, "Address: "+podIP) {
			t.Errorf("pod A record: %v\n%s\nwant %s", err, out, podIP)
		}
	})
}

// hostResolvConf reads the node's resolver file as the kubelet does.
func hostResolvConf(t *testing.T) (servers, searches, options []string) {
	b, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch f[0] {
		case "nameserver":
			servers = append(servers, f[1])
		case "search":
			searches = nil
			for _, s := range f[1:] {
				if s != "." {
					searches = append(searches, strings.TrimSuffix(s, "."))
				}
			}
		case "options":
			options = append(options, f[1:]...)
		}
	}
	return servers, searches, options
}

// resolvConf is the file containerd writes from a CRI DNS config.
func resolvConf(servers, searches, options []string) string {
	var b strings.Builder
	if len(searches) > 0 {
		b.WriteString("search " + strings.Join(searches, " ") + "\n")
	}
	for _, s := range servers {
		b.WriteString("nameserver " + s + "\n")
	}
	if len(options) > 0 {
		b.WriteString("options " + strings.Join(options, " ") + "\n")
	}
	return b.String()
}
