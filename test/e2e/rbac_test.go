package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testutil/testregistry"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestRBAC checks identity and access on one node: a pod's in-cluster
// client gets exactly what RBAC gives its service account, kubectl auth
// can-i / whoami, a user kubeconfig from `berth kubeconfig`, escalation
// prevention, and a store that nobody but berth can read.
func TestRBAC(t *testing.T) {
	s := startNode(t)
	prog := buildTestProgram(t, "incluster")
	reg := testregistry.Start(t, testregistry.Options{})
	// *.sh only because the image builder makes such files executable.
	image, _ := reg.Push(t, "e2e/incluster:v1", testregistry.Image{Files: map[string]string{"/bin/incluster.sh": string(prog)}})

	t.Run("group", func(t *testing.T) {
		t.Run("InClusterClientForbiddenThenAllowed", func(t *testing.T) {
			t.Parallel()
			ns := "rbac-pod"
			s.namespace(t, ns)
			s.waitDefaultSA(t, ns)
			s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: %s}
spec:
  containers:
  - {name: c, image: %s, command: ["sleep", "3600"]}
`, ns, image))
			s.waitPod(t, ns, "client", "{.status.phase}", "Running", 90*time.Second)
			vol := s.podField(t, ns, "client", "{.spec.volumes[0].name}")
			if !strings.HasPrefix(vol, "kube-api-access-") {
				t.Errorf("volume %q, want kube-api-access-*", vol)
			}
			out, _, err := s.kubectl("-n", ns, "exec", "client", "--", "incluster.sh")
			want := `pods is forbidden: User "system:serviceaccount:rbac-pod:default" cannot list resource "pods" in API group "" in the namespace "rbac-pod"`
			if err == nil || !strings.Contains(out, want) {
				t.Fatalf("before any binding: %q (err %v), want %q", out, err, want)
			}
			s.mustKubectl(t, "-n", ns, "create", "rolebinding", "view", "--clusterrole=view", "--serviceaccount="+ns+":default")
			eventually(t, 20*time.Second, func() error {
				out, _, err := s.kubectl("-n", ns, "exec", "client", "--", "incluster.sh")
				if err != nil || !strings.Contains(out, "ok: 1 pods") {
					return fmt.Errorf("after the view binding: %q (%v)", out, err)
				}
				return nil
			})
		})

		t.Run("NoTokenWithAutomountFalse", func(t *testing.T) {
			t.Parallel()
			ns := "rbac-noauto"
			s.namespace(t, ns)
			s.waitDefaultSA(t, ns)
			s.apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: noauto, namespace: %s}
spec:
  automountServiceAccountToken: false
  containers:
  - {name: c, image: %s, command: ["sleep", "3600"]}
`, ns, image))
			s.waitPod(t, ns, "noauto", "{.status.phase}", "Running", 90*time.Second)
			if v := s.podField(t, ns, "noauto", "{.spec.volumes}"); v != "" {
				t.Errorf("volumes %s, want none", v)
			}
			out, _, err := s.kubectl("-n", ns, "exec", "noauto", "--", "ls", "/var/run/secrets/kubernetes.io/serviceaccount")
			if err == nil {
				t.Errorf("token directory exists: %q", out)
			}
		})

		t.Run("CanIAndWhoami", func(t *testing.T) {
			t.Parallel()
			ns := "rbac-cani"
			s.namespace(t, ns)
			as := "--as=system:serviceaccount:" + ns + ":default"
			out, _, err := s.kubectl("auth", "can-i", "list", "pods", "-n", ns, as)
			if err == nil || strings.TrimSpace(out) != "no" {
				t.Errorf("can-i before binding: %q %v, want no", out, err)
			}
			s.mustKubectl(t, "-n", ns, "create", "rolebinding", "view", "--clusterrole=view", "--serviceaccount="+ns+":default")
			eventually(t, 20*time.Second, func() error {
				out, _, err := s.kubectl("auth", "can-i", "list", "pods", "-n", ns, as)
				if err != nil || strings.TrimSpace(out) != "yes" {
					return fmt.Errorf("can-i after binding: %q %v, want yes", out, err)
				}
				return nil
			})
			list := s.mustKubectl(t, "auth", "can-i", "--list", "-n", ns, as)
			if !strings.Contains(list, "pods ") || !strings.Contains(list, "[get list watch]") {
				t.Errorf("can-i --list lacks pods get/list/watch:\n%s", list)
			}
			if who := s.mustKubectl(t, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"); who != "admin" {
				t.Errorf("whoami = %q, want admin", who)
			}
			out, _, err = s.kubectl("get", "pods", "-n", ns, "--as=bob")
			if err == nil {
				t.Errorf("bob lists pods: %q", out)
			}
		})

		t.Run("ServiceAccountIssuerDiscovery", func(t *testing.T) {
			t.Parallel()
			// Every service account may read the issuer's discovery document
			// and key set (system:service-account-issuer-discovery), a user
			// without a binding may not.
			as := []string{"--as=system:serviceaccount:default:default", "--as-group=system:serviceaccounts"}
			doc := s.mustKubectl(t, append([]string{"get", "--raw", "/.well-known/openid-configuration"}, as...)...)
			if !strings.Contains(doc, `"issuer":"https://kubernetes.default.svc.cluster.local"`) || !strings.Contains(doc, `"jwks_uri":"https://kubernetes.default.svc.cluster.local/openid/v1/jwks"`) {
				t.Errorf("discovery document: %s", doc)
			}
			if keys := s.mustKubectl(t, append([]string{"get", "--raw", "/openid/v1/jwks"}, as...)...); !strings.Contains(keys, `"kty":"EC"`) || strings.Contains(keys, `"d":`) {
				t.Errorf("key set: %s", keys)
			}
			if out, _, err := s.kubectl("get", "--raw", "/openid/v1/jwks", "--as=bob"); err == nil {
				t.Errorf("bob reads the key set: %q", out)
			}
		})

		t.Run("UserKubeconfigEditInOneNamespace", func(t *testing.T) {
			t.Parallel()
			ns := "rbac-team"
			s.namespace(t, ns)
			s.waitDefaultSA(t, ns)
			kc, err := exec.Command(berthBin, "kubeconfig", "--data-dir", s.dataDir, "--user", "dev").Output()
			if err != nil {
				t.Fatalf("berth kubeconfig: %v", err)
			}
			path := filepath.Join(t.TempDir(), "dev.kubeconfig")
			if err := os.WriteFile(path, kc, 0o600); err != nil {
				t.Fatal(err)
			}
			dev := func(args ...string) (string, error) {
				out, err := exec.Command("kubectl", append([]string{"--kubeconfig", path}, args...)...).CombinedOutput()
				return string(out), err
			}
			if out, err := dev("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"); err != nil || out != "dev" {
				t.Errorf("whoami as dev: %q %v", out, err)
			}
			s.mustKubectl(t, "-n", ns, "create", "rolebinding", "dev-edit", "--clusterrole=edit", "--user=dev")
			eventually(t, 20*time.Second, func() error {
				out, err := dev("-n", ns, "create", "configmap", "made-by-dev")
				if err != nil {
					return fmt.Errorf("dev creating in %s: %s", ns, out)
				}
				return nil
			})
			out, err := dev("-n", "default", "create", "configmap", "made-by-dev")
			want := `configmaps is forbidden: User "dev" cannot create resource "configmaps" in API group "" in the namespace "default"`
			if err == nil || !strings.Contains(out, want) {
				t.Errorf("dev in default: %q, want %q", out, want)
			}
			// edit may not grant roles: binding admin is an escalation.
			out, err = dev("-n", ns, "create", "rolebinding", "grab", "--clusterrole=admin", "--user=dev")
			if err == nil || !strings.Contains(out, "forbidden") {
				t.Errorf("dev binding admin: %q %v, want Forbidden", out, err)
			}
		})

		t.Run("StoreClosed", func(t *testing.T) {
			t.Parallel()
			sock := filepath.Join(s.dataDir, "etcd-sock", "etcd.sock")
			fi, err := os.Stat(filepath.Dir(sock))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o700 {
				t.Errorf("socket dir mode %v, want 0700", fi.Mode().Perm())
			}
			// Another local user cannot even connect to the socket.
			probe := exec.Command("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--",
				"/usr/bin/python3", "-c", "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])", sock)
			if out, err := probe.CombinedOutput(); err == nil || !strings.Contains(string(out), "Permission denied") {
				t.Errorf("uid 65534 connecting to %s: %v %s, want Permission denied", sock, err, out)
			}
			// No TCP port of the server answers etcd requests.
			for _, port := range listeningPorts(t, s.cmd.Process.Pid) {
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				c, err := clientv3.New(clientv3.Config{Endpoints: []string{"http://127.0.0.1:" + port}, DialTimeout: 2 * time.Second, Context: ctx})
				if err == nil {
					if _, err = c.Get(ctx, "/registry/", clientv3.WithPrefix(), clientv3.WithCountOnly()); err == nil {
						t.Errorf("etcd read without credentials succeeded on port %s", port)
					}
					c.Close()
				}
				cancel()
			}
		})
	})
}

// listeningPorts lists the TCP ports pid listens on (from ss).
func listeningPorts(t *testing.T, pid int) []string {
	t.Helper()
	out, err := exec.Command("ss", "-ltnpH").Output()
	if err != nil {
		t.Fatalf("ss: %v", err)
	}
	var ports []string
	for _, line := range strings.Split(string(out), "\n") {
		if !strings.Contains(line, "pid="+strconv.Itoa(pid)+",") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		ports = append(ports, f[3][strings.LastIndex(f[3], ":")+1:])
	}
	if len(ports) == 0 {
		t.Fatalf("no listening port found for pid %d", pid)
	}
	return ports
}
