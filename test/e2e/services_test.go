package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testutil/testregistry"
)

// TestServices is issue 7's acceptance across its parts, with the default
// settings (API on loopback): a Service with a selector gets its Endpoints
// from the endpoints controller, its name resolves through the kube-dns
// ClusterIP, the ClusterIP reaches ready backends only and follows
// scaling, the container sees the service links, and the API answers pods
// at https://kubernetes.default.svc.
func TestServices(t *testing.T) {
	s := startNode(t)
	tlsget := buildTestProgram(t, "tlsget")
	resolve := buildTestProgram(t, "resolve")
	ca, err := os.ReadFile(filepath.Join(s.dataDir, "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	reg := testregistry.Start(t, testregistry.Options{})
	// The Go programs are named *.sh only because the image builder makes
	// such files executable.
	image, _ := reg.Push(t, "e2e/services:v1", testregistry.Image{
		Files: map[string]string{"/www/.keep": "", "/ca.crt": string(ca), "/bin/tlsget.sh": string(tlsget), "/bin/resolve.sh": string(resolve)}})

	ns := "svc"
	s.namespace(t, ns)
	backend := func(name string, ready bool) string {
		probe := "ls /"
		if !ready {
			probe = "cat /nonexistent"
		}
		return fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: %s, labels: {app: web}}
spec:
  containers:
  - name: web
    image: %s
    command: ["sh", "-c", "hostname > /www/index.html; exec httpd -f -p 8080 -h /www"]
    ports: [{name: http, containerPort: 8080}]
    readinessProbe:
      exec: {command: ["sh", "-c", "%s"]}
      periodSeconds: 1
`, name, ns, image, probe)
	}
	// The Service exists before the client, so the client gets its links.
	s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Service
metadata: {name: web, namespace: %s}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
`, ns))
	s.apply(t, backend("web-1", true))
	s.apply(t, backend("web-2", false))
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
	for _, p := range []string{"web-1", "web-2", "client"} {
		s.waitPod(t, ns, p, "{.status.phase}", "Running", 90*time.Second)
	}
	webIP := s.mustKubectl(t, "-n", ns, "get", "svc", "web", "-o", "jsonpath={.spec.clusterIP}")

	// answers asks the Service n times from the client and returns the
	// distinct backends that answered.
	answers := func(n int) ([]string, error) {
		seen := map[string]bool{}
		for i := 0; i < n; i++ {
			out, stderr, err := s.kubectl("-n", ns, "exec", "client", "--", "tlsget.sh", "http://web/index.html")
			if err != nil {
				return nil, fmt.Errorf("GET http://web/: %v %s", err, stderr)
			}
			seen[strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(out), "200 "))] = true
		}
		var out []string
		for k := range seen {
			out = append(out, k)
		}
		sort.Strings(out)
		return out, nil
	}

	t.Run("DNS", func(t *testing.T) {
		// Through the nameserver in the pod's resolv.conf: the kube-dns
		// ClusterIP, proxied to berth's DNS server.
		for _, name := range []string{"web." + ns + ".svc.cluster.local", "web"} {
			eventually(t, 20*time.Second, func() error {
				out, stderr, err := s.kubectl("-n", ns, "exec", "client", "--", "resolve.sh", name)
				if err != nil || strings.TrimSpace(out) != name+" "+webIP {
					return fmt.Errorf("resolve %s: %q %s %v (want %s)", name, out, stderr, err, webIP)
				}
				return nil
			})
		}
		out, _, _ := s.kubectl("-n", ns, "exec", "client", "--", "resolve.sh", "nosuch."+ns+".svc.cluster.local")
		if !strings.Contains(out, "no such host") {
			t.Errorf("an unknown Service name: %q, want no such host", out)
		}
	})

	t.Run("ReadyBackendsOnly", func(t *testing.T) {
		eventually(t, 30*time.Second, func() error {
			got, err := answers(8)
			if err != nil {
				return err
			}
			if strings.Join(got, ",") != "web-1" {
				return fmt.Errorf("answered by %v, want web-1 only (web-2 is not ready)", got)
			}
			return nil
		})
	})

	t.Run("Scaling", func(t *testing.T) {
		s.apply(t, backend("web-3", true))
		s.waitPod(t, ns, "web-3", "{.status.phase}", "Running", 60*time.Second)
		eventually(t, 40*time.Second, func() error {
			got, err := answers(12)
			if err != nil {
				return err
			}
			if strings.Join(got, ",") != "web-1,web-3" {
				return fmt.Errorf("answered by %v, want web-1 and web-3", got)
			}
			return nil
		})
		s.mustKubectl(t, "-n", ns, "delete", "pod", "web-1", "--wait=true", "--timeout=60s")
		eventually(t, 30*time.Second, func() error {
			got, err := answers(6)
			if err != nil {
				return err
			}
			if strings.Join(got, ",") != "web-3" {
				return fmt.Errorf("answered by %v, want web-3 only after web-1 was deleted", got)
			}
			return nil
		})
	})

	t.Run("ServiceLinks", func(t *testing.T) {
		env := s.mustKubectl(t, "-n", ns, "exec", "client", "--", "env")
		for _, want := range []string{"WEB_SERVICE_HOST=" + webIP, "WEB_SERVICE_PORT=80", "WEB_SERVICE_PORT_HTTP=80",
			"WEB_PORT=tcp://" + webIP + ":80", "WEB_PORT_80_TCP_ADDR=" + webIP, "KUBERNETES_SERVICE_PORT=443"} {
			if !strings.Contains(env, want+"\n") {
				t.Errorf("env lacks %s:\n%s", want, env)
			}
		}
	})

	t.Run("APIAtKubernetesDefaultSvc", func(t *testing.T) {
		for _, url := range []string{"https://kubernetes.default.svc/version", "https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT/version"} {
			out, stderr, err := s.kubectl("-n", ns, "exec", "client", "--", "tlsget.sh", "-servername", "kubernetes.default.svc", url)
			if err != nil || !strings.HasPrefix(out, "200 ") || !strings.Contains(out, "gitVersion") {
				t.Errorf("GET %s from a pod: %q %s %v", url, out, stderr, err)
			}
		}
	})
}
