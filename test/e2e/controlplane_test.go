package e2e

import (
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestControlPlane runs the kubectl acceptance scenarios against one server
// (default admission plugins). Every subtest works in its own namespace and
// runs in parallel with the others.
func TestControlPlane(t *testing.T) {
	t.Parallel()
	s := startServer(t, t.TempDir())

	for _, tc := range []struct {
		name string
		fn   func(*testing.T, *server)
	}{
		{"PrivateRegistryTeamWorkflow", testTeamWorkflow},
		{"MissingPullSecretWarning", testMissingPullSecretWarning},
		{"ImagePullPolicyDefaults", testImagePullPolicyDefaults},
		{"ImagePullPolicyKeptOnImageChange", testImagePullPolicyKeptOnImageChange},
		{"Readyz", testReadyz},
		{"DiscoveryAPIv1", testDiscovery},
		{"AnonymousIs403BadTokenIs401", testUnauthenticated},
		{"GetNamespaces", testGetNamespaces},
		{"GetServices", testGetServices},
		{"GetPodsColumns", testGetPods},
		{"GetSecretsColumns", testGetSecrets},
		{"GetWatch", testGetWatch},
		{"Describe", testDescribe},
		{"DeleteAndWait", testDeleteAndWait},
		{"PatchTypes", testPatchTypes},
		{"ApplyTwice", testApplyTwice},
		{"ApplyServerSide", testApplyServerSide},
		{"StrictDecodingUnknownField", testStrictDecoding},
		{"BadInput", testBadInput},
		{"NamespaceDeletion", testNamespaceDeletion},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, s)
		})
	}
}

// podJSON is the part of a Pod the tests read.
type podJSON struct {
	Metadata struct {
		Name              string            `json:"name"`
		Namespace         string            `json:"namespace"`
		UID               string            `json:"uid"`
		ResourceVersion   string            `json:"resourceVersion"`
		Labels            map[string]string `json:"labels"`
		DeletionTimestamp *string           `json:"deletionTimestamp"`
		Finalizers        []string          `json:"finalizers"`
		ManagedFields     []struct {
			Manager   string `json:"manager"`
			Operation string `json:"operation"`
		} `json:"managedFields"`
	} `json:"metadata"`
	Spec struct {
		ServiceAccountName string `json:"serviceAccountName"`
		ImagePullSecrets   []struct {
			Name string `json:"name"`
		} `json:"imagePullSecrets"`
		InitContainers []containerJSON `json:"initContainers"`
		Containers     []containerJSON `json:"containers"`
	} `json:"spec"`
}

type containerJSON struct {
	Name            string `json:"name"`
	Image           string `json:"image"`
	ImagePullPolicy string `json:"imagePullPolicy"`
}

func pullSecretNames(p podJSON) []string {
	names := []string{}
	for _, r := range p.Spec.ImagePullSecrets {
		names = append(names, r.Name)
	}
	return names
}

// ---------------------------------------------------------------------------
// The private-registry team workflow.

func testTeamWorkflow(t *testing.T, s *server) {
	const ns = "awesomeapps"
	const registry = "registry.example.com:5000"
	password := randomString("pw-")
	s.addSecret(password)
	authB64 := base64.StdEncoding.EncodeToString([]byte("team:" + password))
	s.addSecret(authB64)

	if out := s.mustKubectl(t, "create", "ns", ns); strings.TrimSpace(out) != "namespace/awesomeapps created" {
		t.Errorf("kubectl create ns awesomeapps: stdout %q, want %q", out, "namespace/awesomeapps created")
	}
	out := s.mustKubectl(t, "-n", ns, "create", "secret", "docker-registry", "myregistrykey",
		"--docker-server="+registry, "--docker-username=team", "--docker-password="+password, "--docker-email=team@example.com")
	if strings.TrimSpace(out) != "secret/myregistrykey created" {
		t.Errorf("create secret docker-registry: stdout %q, want %q", out, "secret/myregistrykey created")
	}

	// The secret holds what `kubectl create secret docker-registry` produced.
	var secret struct {
		Type string            `json:"type"`
		Data map[string]string `json:"data"`
	}
	s.getJSON(t, &secret, "-n", ns, "secret", "myregistrykey")
	if secret.Type != "kubernetes.io/dockerconfigjson" {
		t.Errorf("secret myregistrykey type %q, want kubernetes.io/dockerconfigjson", secret.Type)
	}
	raw, err := base64.StdEncoding.DecodeString(secret.Data[".dockerconfigjson"])
	if err != nil {
		t.Fatalf("secret myregistrykey data[.dockerconfigjson] is not base64: %v", err)
	}
	var cfg struct {
		Auths map[string]struct {
			Username, Password, Email, Auth string
		} `json:"auths"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("secret myregistrykey .dockerconfigjson is not JSON (%v)", err)
	}
	if e, ok := cfg.Auths[registry]; !ok {
		t.Errorf(".dockerconfigjson has no auths entry for %q", registry)
	} else if e.Username != "team" || e.Password != password || e.Email != "team@example.com" || e.Auth != authB64 {
		t.Errorf(".dockerconfigjson entry for %q does not hold the username/password/email/auth given to kubectl (values not printed)", registry)
	}
	// -o yaml shows only base64 data: the password must not appear in clear.
	s.mustKubectl(t, "-n", ns, "get", "secret", "myregistrykey", "-o", "yaml")

	// The `default` ServiceAccount is created by a controller shortly after the namespace.
	s.waitDefaultSA(t, ns)

	podYAML := func(name, extra string) string {
		return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  namespace: awesomeapps
spec:
  containers:
  - name: app
    image: %s/team/app:v1
%s`, name, registry, extra)
	}

	// A pod created before the service account is patched.
	s.apply(t, podYAML("before-patch", ""))
	var before podJSON
	s.getJSON(t, &before, "-n", ns, "pod", "before-patch")
	if len(before.Spec.ImagePullSecrets) != 0 {
		t.Errorf("pod before-patch (created before the SA patch): imagePullSecrets %v, want none", pullSecretNames(before))
	}

	out = s.mustKubectl(t, "-n", ns, "patch", "serviceaccount", "default", "-p", `{"imagePullSecrets": [{"name": "myregistrykey"}]}`)
	if strings.TrimSpace(out) != "serviceaccount/default patched" {
		t.Errorf("patch serviceaccount default: stdout %q, want %q", out, "serviceaccount/default patched")
	}
	var sa struct {
		ImagePullSecrets []struct{ Name string } `json:"imagePullSecrets"`
	}
	s.getJSON(t, &sa, "-n", ns, "serviceaccount", "default")
	if len(sa.ImagePullSecrets) != 1 || sa.ImagePullSecrets[0].Name != "myregistrykey" {
		t.Errorf("serviceaccount default imagePullSecrets after patch: %+v, want [{myregistrykey}]", sa.ImagePullSecrets)
	}

	// A pod without imagePullSecrets gets the account's.
	if out := s.apply(t, podYAML("uses-sa", "")); strings.TrimSpace(out) != "pod/uses-sa created" {
		t.Errorf("kubectl apply pod uses-sa: stdout %q, want %q", out, "pod/uses-sa created")
	}
	var usesSA podJSON
	s.getJSON(t, &usesSA, "-n", ns, "pod", "uses-sa")
	if got := pullSecretNames(usesSA); !slices.Equal(got, []string{"myregistrykey"}) {
		t.Errorf("pod uses-sa: spec.imagePullSecrets %v, want [myregistrykey] (copied from serviceaccount default)", got)
	}
	if usesSA.Spec.ServiceAccountName != "default" {
		t.Errorf("pod uses-sa: spec.serviceAccountName %q, want default", usesSA.Spec.ServiceAccountName)
	}
	// The jsonpath a user would type shows the same.
	if got := s.mustKubectl(t, "-n", ns, "get", "pod", "uses-sa", "-o", "jsonpath={.spec.imagePullSecrets[*].name}"); got != "myregistrykey" {
		t.Errorf("jsonpath {.spec.imagePullSecrets[*].name}: %q, want myregistrykey", got)
	}

	// A pod with its own imagePullSecrets keeps only its own.
	s.mustKubectl(t, "-n", ns, "create", "secret", "docker-registry", "ownkey",
		"--docker-server="+registry, "--docker-username=other", "--docker-password="+password)
	s.apply(t, podYAML("own-secret", "  imagePullSecrets:\n  - name: ownkey\n"))
	var own podJSON
	s.getJSON(t, &own, "-n", ns, "pod", "own-secret")
	if got := pullSecretNames(own); !slices.Equal(got, []string{"ownkey"}) {
		t.Errorf("pod own-secret (lists ownkey): spec.imagePullSecrets %v, want only [ownkey]", got)
	}
	if own.Spec.ServiceAccountName != "default" {
		t.Errorf("pod own-secret: spec.serviceAccountName %q, want default", own.Spec.ServiceAccountName)
	}

	// The pod created before the patch is unchanged.
	var after podJSON
	s.getJSON(t, &after, "-n", ns, "pod", "before-patch")
	if len(after.Spec.ImagePullSecrets) != 0 {
		t.Errorf("pod before-patch after the SA patch: imagePullSecrets %v, want none (SA changes never reach existing pods)", pullSecretNames(after))
	}
	if after.Metadata.ResourceVersion != before.Metadata.ResourceVersion || after.Metadata.UID != before.Metadata.UID {
		t.Errorf("pod before-patch changed: uid/resourceVersion %s/%s -> %s/%s", before.Metadata.UID, before.Metadata.ResourceVersion, after.Metadata.UID, after.Metadata.ResourceVersion)
	}

	// describe shows the account's pull secret.
	desc := s.mustKubectl(t, "-n", ns, "describe", "sa", "default")
	if !strings.Contains(strings.Join(strings.Fields(desc), " "), "Image pull secrets: myregistrykey") {
		t.Errorf("describe sa default: want %q, got:\n%s", "Image pull secrets:  myregistrykey", desc)
	}
	// describe secret lists keys and sizes, never values.
	desc = s.mustKubectl(t, "-n", ns, "describe", "secret", "myregistrykey")
	for _, want := range []string{"Name:", "myregistrykey", "Type:", "kubernetes.io/dockerconfigjson", ".dockerconfigjson:", "bytes"} {
		if !strings.Contains(desc, want) {
			t.Errorf("describe secret myregistrykey: missing %q in:\n%s", want, desc)
		}
	}

	s.mu.Lock()
	leaks := append([]string(nil), s.leaks...)
	s.mu.Unlock()
	for _, l := range leaks {
		t.Errorf("the registry password appeared in the output of: %s", l)
	}
}

func testMissingPullSecretWarning(t *testing.T, s *server) {
	const ns = "warnings"
	s.namespace(t, ns)

	// Listed in the pod spec, absent from the namespace.
	_, stderr := s.mustKubectlIn(t, `apiVersion: v1
kind: Pod
metadata:
  name: listed-missing
  namespace: warnings
spec:
  imagePullSecrets:
  - name: doesnotexist
  containers:
  - name: app
    image: registry.example.com/team/app:v1
`, "apply", "-f", "-")
	want := `Warning: spec.imagePullSecrets[0].name: secret "doesnotexist"`
	if !strings.Contains(stderr, want) || !strings.Contains(stderr, "not found") {
		t.Errorf("kubectl apply of a pod whose imagePullSecrets names a missing secret: stderr should contain %q ... %q; got:\n%s", want, "not found", stderr)
	}
	var p podJSON
	s.getJSON(t, &p, "-n", ns, "pod", "listed-missing")
	if got := pullSecretNames(p); !slices.Equal(got, []string{"doesnotexist"}) {
		t.Errorf("pod listed-missing admitted with imagePullSecrets %v, want [doesnotexist] (the warning must not reject or change it)", got)
	}

	// Copied from the service account, absent from the namespace.
	s.mustKubectl(t, "-n", ns, "patch", "serviceaccount", "default", "-p", `{"imagePullSecrets":[{"name":"sa-missing"}]}`)
	_, stderr = s.mustKubectlIn(t, `apiVersion: v1
kind: Pod
metadata:
  name: copied-missing
  namespace: warnings
spec:
  containers:
  - name: app
    image: registry.example.com/team/app:v1
`, "apply", "-f", "-")
	want = `Warning: spec.imagePullSecrets[0].name: secret "sa-missing"`
	if !strings.Contains(stderr, want) || !strings.Contains(stderr, "not found") {
		t.Errorf("kubectl apply of a pod that inherits a missing pull secret from its SA: stderr should contain %q ... %q; got:\n%s", want, "not found", stderr)
	}
}

// ---------------------------------------------------------------------------
// Image pull policy defaulting.

const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func testImagePullPolicyDefaults(t *testing.T, s *server) {
	const ns = "pullpolicy"
	s.namespace(t, ns)

	type c struct{ name, image, policy, want string }
	inits := []c{
		{"i0", "busybox", "", "Always"},
		{"i1", "busybox:v1", "", "IfNotPresent"},
	}
	containers := []c{
		{"c0", "busybox", "", "Always"},
		{"c1", "busybox:latest", "", "Always"},
		{"c2", "busybox:v1", "", "IfNotPresent"},
		{"c3", "busybox@" + digest, "", "IfNotPresent"},
		{"c4", "busybox:latest@" + digest, "", "Always"},
		{"c5", "busybox:1.36@" + digest, "", "IfNotPresent"},
		{"c6", "busybox", "Never", "Never"},
		{"c7", "busybox", "IfNotPresent", "IfNotPresent"},
		{"c8", "busybox:v1", "Always", "Always"},
		{"c9", "localhost:5000/app", "", "Always"},
		{"c10", "registry.example.com:5000/team/app", "", "Always"},
		{"c11", "registry.example.com:5000/team/app:v2", "", "IfNotPresent"},
	}
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: Pod\nmetadata:\n  name: policies\n  namespace: pullpolicy\nspec:\n")
	write := func(key string, cs []c) {
		b.WriteString("  " + key + ":\n")
		for _, x := range cs {
			fmt.Fprintf(&b, "  - name: %s\n    image: %q\n", x.name, x.image)
			if x.policy != "" {
				fmt.Fprintf(&b, "    imagePullPolicy: %s\n", x.policy)
			}
		}
	}
	write("initContainers", inits)
	write("containers", containers)
	s.apply(t, b.String())

	got := strings.Fields(s.mustKubectl(t, "-n", ns, "get", "pod", "policies", "-o", "jsonpath={.spec.containers[*].imagePullPolicy}"))
	gotInit := strings.Fields(s.mustKubectl(t, "-n", ns, "get", "pod", "policies", "-o", "jsonpath={.spec.initContainers[*].imagePullPolicy}"))
	check := func(kind string, cs []c, got []string) {
		if len(got) != len(cs) {
			t.Errorf("%s imagePullPolicy: got %d values %v for %d containers", kind, len(got), got, len(cs))
			return
		}
		for i, x := range cs {
			if got[i] != x.want {
				set := "unset"
				if x.policy != "" {
					set = "set to " + x.policy
				}
				t.Errorf("%s %s image %q (imagePullPolicy %s): stored imagePullPolicy %q, want %q", kind, x.name, x.image, set, got[i], x.want)
			}
		}
	}
	check("container", containers, got)
	check("initContainer", inits, gotInit)
}

// The policy is set once at creation and not re-derived when the image
// changes later (k8s-semantics 1.3).
func testImagePullPolicyKeptOnImageChange(t *testing.T, s *server) {
	const ns = "policykept"
	s.namespace(t, ns)
	s.apply(t, `apiVersion: v1
kind: Pod
metadata:
  name: p
  namespace: policykept
spec:
  containers:
  - name: c
    image: busybox:v1
`)
	s.mustKubectl(t, "-n", ns, "patch", "pod", "p", "-p", `{"spec":{"containers":[{"name":"c","image":"busybox:latest"}]}}`)
	var p podJSON
	s.getJSON(t, &p, "-n", ns, "pod", "p")
	if len(p.Spec.Containers) != 1 || p.Spec.Containers[0].Image != "busybox:latest" || p.Spec.Containers[0].ImagePullPolicy != "IfNotPresent" {
		t.Errorf("after patching image busybox:v1 -> busybox:latest: containers %+v, want [{c busybox:latest IfNotPresent}]", p.Spec.Containers)
	}
}

// ---------------------------------------------------------------------------
// Health, discovery, authentication.

func testReadyz(t *testing.T, s *server) {
	if got := strings.TrimSpace(s.mustKubectl(t, "get", "--raw", "/readyz")); got != "ok" {
		t.Errorf("kubectl get --raw /readyz: %q, want ok", got)
	}
}

func testDiscovery(t *testing.T, s *server) {
	out := s.mustKubectl(t, "get", "--raw", "/api/v1")
	var list struct {
		Kind         string `json:"kind"`
		GroupVersion string `json:"groupVersion"`
		Resources    []struct {
			Name       string   `json:"name"`
			Kind       string   `json:"kind"`
			Namespaced bool     `json:"namespaced"`
			Verbs      []string `json:"verbs"`
		} `json:"resources"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("kubectl get --raw /api/v1: not JSON: %v\n%s", err, out)
	}
	if list.Kind != "APIResourceList" || list.GroupVersion != "v1" {
		t.Errorf("get --raw /api/v1: kind %q groupVersion %q, want APIResourceList v1", list.Kind, list.GroupVersion)
	}
	found := map[string]bool{}
	for _, r := range list.Resources {
		found[r.Name] = true
		if r.Name == "pods" {
			if r.Kind != "Pod" || !r.Namespaced {
				t.Errorf("/api/v1 pods: kind %q namespaced %v, want Pod true", r.Kind, r.Namespaced)
			}
			for _, v := range []string{"create", "delete", "get", "list", "patch", "update", "watch"} {
				if !slices.Contains(r.Verbs, v) {
					t.Errorf("/api/v1 pods verbs %v: missing %q", r.Verbs, v)
				}
			}
		}
	}
	for _, want := range []string{"pods", "namespaces", "secrets", "serviceaccounts", "services", "configmaps"} {
		if !found[want] {
			t.Errorf("/api/v1 APIResourceList has no %q", want)
		}
	}
}

// testUnauthenticated: as kube-apiserver with its default
// --anonymous-auth=true, a request without credentials is system:anonymous
// and RBAC forbids it (403 with Kubernetes' message); a credential that is
// presented but invalid is 401 Unauthorized.
func testUnauthenticated(t *testing.T, s *server) {
	client := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // no client certificate
			DialContext:     (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		},
	}
	type status struct {
		Kind    string `json:"kind"`
		Reason  string `json:"reason"`
		Message string `json:"message"`
		Code    int    `json:"code"`
	}
	get := func(token string) (int, status, string) {
		req, _ := http.NewRequest(http.MethodGet, s.url+"/api/v1/pods", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s/api/v1/pods: %v", s.url, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var st status
		_ = json.Unmarshal(body, &st)
		return resp.StatusCode, st, string(body)
	}
	code, st, body := get("")
	wantMsg := `pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group "" at the cluster scope`
	if code != http.StatusForbidden || st.Kind != "Status" || st.Reason != "Forbidden" || st.Message != wantMsg {
		t.Errorf("GET /api/v1/pods without credentials: %d %s, want 403 Forbidden %q", code, body, wantMsg)
	}
	code, st, body = get("not-a-valid-token")
	if code != http.StatusUnauthorized || st.Kind != "Status" || st.Reason != "Unauthorized" || st.Code != 401 {
		t.Errorf("GET /api/v1/pods with a bad token: %d %s, want a 401 Unauthorized Status", code, body)
	}
}

// ---------------------------------------------------------------------------
// kubectl get / describe output.

func testGetNamespaces(t *testing.T, s *server) {
	var out string
	eventually(t, 30*time.Second, func() error {
		var errOut string
		var err error
		out, errOut, err = s.kubectl("get", "ns")
		if err != nil {
			return fmt.Errorf("kubectl get ns: %v: %s", err, errOut)
		}
		for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
			if r := row(out, ns); r == nil || len(r) < 2 || r[1] != "Active" {
				return fmt.Errorf("kubectl get ns: want namespace %s Active, got:\n%s", ns, out)
			}
		}
		return nil
	})
	if h := header(out); h != "NAME STATUS AGE" {
		t.Errorf("kubectl get ns header %q, want %q", h, "NAME STATUS AGE")
	}
}

func testGetServices(t *testing.T, s *server) {
	var out string
	eventually(t, 30*time.Second, func() error {
		var errOut string
		var err error
		out, errOut, err = s.kubectl("-n", "default", "get", "svc")
		if err != nil {
			return fmt.Errorf("kubectl -n default get svc: %v: %s", err, errOut)
		}
		if row(out, "kubernetes") == nil {
			return fmt.Errorf("kubectl get svc: no kubernetes service in default:\n%s", out)
		}
		return nil
	})
	if h := header(out); h != "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE" {
		t.Errorf("kubectl get svc header %q, want %q", h, "NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE")
	}
	r := row(out, "kubernetes")
	if len(r) != 6 || r[1] != "ClusterIP" || r[2] != "10.96.0.1" || r[3] != "<none>" || r[4] != "443/TCP" {
		t.Errorf("kubectl get svc kubernetes row %q, want [kubernetes ClusterIP 10.96.0.1 <none> 443/TCP <age>]", r)
	}

	// A user's ClusterIP service gets an address from the service CIDR.
	const ns = "services"
	s.namespace(t, ns)
	s.mustKubectl(t, "-n", ns, "create", "service", "clusterip", "web", "--tcp=80:8080")
	out = s.mustKubectl(t, "-n", ns, "get", "svc", "web")
	r = row(out, "web")
	if len(r) != 6 || r[1] != "ClusterIP" || r[3] != "<none>" || r[4] != "80/TCP" || !strings.HasPrefix(r[2], "10.") {
		t.Errorf("kubectl get svc web row %q, want [web ClusterIP 10.x.y.z <none> 80/TCP <age>]", r)
	} else if ip := net.ParseIP(r[2]); ip == nil || !(&net.IPNet{IP: net.IPv4(10, 96, 0, 0), Mask: net.CIDRMask(12, 32)}).Contains(ip) || r[2] == "10.96.0.1" {
		t.Errorf("service web clusterIP %q: want a free address in 10.96.0.0/12", r[2])
	}
	desc := s.mustKubectl(t, "-n", ns, "describe", "svc", "web")
	for _, want := range []string{"Name:", "web", "Namespace:", "services", "Type:", "ClusterIP", "IP:", r2(r), "Port:", "80/TCP", "TargetPort:", "8080/TCP", "Events:"} {
		if !strings.Contains(desc, want) {
			t.Errorf("describe svc web: missing %q in:\n%s", want, desc)
		}
	}
}

func r2(r []string) string {
	if len(r) > 2 {
		return r[2]
	}
	return "IP:"
}

const simplePod = `apiVersion: v1
kind: Pod
metadata:
  name: %s
  namespace: %s
spec:
  containers:
  - name: c
    image: busybox:1.36
`

func testGetPods(t *testing.T, s *server) {
	const ns = "getpods"
	s.namespace(t, ns)
	s.apply(t, fmt.Sprintf(simplePod, "p1", ns))

	out := s.mustKubectl(t, "-n", ns, "get", "pods")
	if h := header(out); h != "NAME READY STATUS RESTARTS AGE" {
		t.Errorf("kubectl get pods header %q, want %q", h, "NAME READY STATUS RESTARTS AGE")
	}
	if r := row(out, "p1"); len(r) != 5 || r[1] != "0/1" || r[2] != "Pending" || r[3] != "0" {
		t.Errorf("kubectl get pods row for p1 %q, want [p1 0/1 Pending 0 <age>] (no node agent)", r)
	}

	out = s.mustKubectl(t, "-n", ns, "get", "pods", "-o", "wide")
	if h := header(out); h != "NAME READY STATUS RESTARTS AGE IP NODE NOMINATED NODE READINESS GATES" {
		t.Errorf("kubectl get pods -o wide header %q, want %q", h, "NAME READY STATUS RESTARTS AGE IP NODE NOMINATED NODE READINESS GATES")
	}
	if r := row(out, "p1"); len(r) != 9 || r[5] != "<none>" || r[6] != "<none>" {
		t.Errorf("kubectl get pods -o wide row for p1 %q, want [p1 0/1 Pending 0 <age> <none> <none> <none> <none>]", r)
	}

	out = s.mustKubectl(t, "-n", ns, "get", "pod", "p1", "-o", "yaml")
	for _, want := range []string{"apiVersion: v1\n", "kind: Pod\n", "  name: p1\n", "  namespace: getpods\n", "  uid: ", "  resourceVersion: ", "  creationTimestamp: ", "  - image: busybox:1.36\n", "    imagePullPolicy: IfNotPresent\n", "  restartPolicy: Always\n", "  serviceAccountName: default\n", "status:\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl get pod p1 -o yaml: missing %q in:\n%s", want, out)
		}
	}

	// -o name and a label selector.
	s.mustKubectl(t, "-n", ns, "label", "pod", "p1", "tier=web")
	if got := strings.TrimSpace(s.mustKubectl(t, "-n", ns, "get", "pods", "-l", "tier=web", "-o", "name")); got != "pod/p1" {
		t.Errorf("kubectl get pods -l tier=web -o name: %q, want pod/p1", got)
	}
	if got := strings.TrimSpace(s.mustKubectl(t, "-n", ns, "get", "pods", "-l", "tier=db", "-o", "name")); got != "" {
		t.Errorf("kubectl get pods -l tier=db -o name: %q, want nothing", got)
	}
}

func testGetSecrets(t *testing.T, s *server) {
	const ns = "getsecrets"
	s.namespace(t, ns)
	s.mustKubectl(t, "-n", ns, "create", "secret", "generic", "two", "--from-literal=a=1", "--from-literal=b=2")
	out := s.mustKubectl(t, "-n", ns, "get", "secrets")
	if h := header(out); h != "NAME TYPE DATA AGE" {
		t.Errorf("kubectl get secrets header %q, want %q", h, "NAME TYPE DATA AGE")
	}
	if r := row(out, "two"); len(r) != 4 || r[1] != "Opaque" || r[2] != "2" {
		t.Errorf("kubectl get secrets row for two %q, want [two Opaque 2 <age>]", r)
	}
}

func testGetWatch(t *testing.T, s *server) {
	const ns = "watch"
	s.namespace(t, ns)
	s.apply(t, fmt.Sprintf(simplePod, "w1", ns))

	w := s.kubectlBackground(t, 60*time.Second, "-n", ns, "get", "pod", "w1", "-w")
	linesFor := func() int {
		n := 0
		for _, l := range strings.Split(w.stdout.String(), "\n") {
			if strings.HasPrefix(l, "w1 ") {
				n++
			}
		}
		return n
	}
	eventually(t, 20*time.Second, func() error {
		if linesFor() < 1 {
			return fmt.Errorf("kubectl get pod w1 -w printed no line for w1 yet; stdout %q stderr %q", w.stdout.String(), w.stderr.String())
		}
		return nil
	})
	if h := header(w.stdout.String()); h != "NAME READY STATUS RESTARTS AGE" {
		t.Errorf("kubectl get -w header %q, want %q", h, "NAME READY STATUS RESTARTS AGE")
	}
	first := linesFor()
	s.mustKubectl(t, "-n", ns, "label", "pod", "w1", "changed=yes")
	eventually(t, 20*time.Second, func() error {
		if linesFor() <= first {
			return fmt.Errorf("after kubectl label pod w1, kubectl get -w printed no new line; stdout %q stderr %q", w.stdout.String(), w.stderr.String())
		}
		return nil
	})
	select {
	case <-w.done:
		t.Errorf("kubectl get -w exited early: %v; stderr %q", w.err, w.stderr.String())
	default:
	}
}

func testDescribe(t *testing.T, s *server) {
	const ns = "describe"
	s.namespace(t, ns)
	s.apply(t, fmt.Sprintf(simplePod, "d1", ns))
	out := s.mustKubectl(t, "-n", ns, "describe", "pod", "d1")
	for _, want := range []string{"Name:", "d1", "Namespace:", "describe", "Service Account:", "Status:", "Pending", "Containers:", "  c:", "Image:", "busybox:1.36", "Events:"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl describe pod d1: missing %q in:\n%s", want, out)
		}
	}

	s.mustKubectl(t, "-n", ns, "create", "secret", "generic", "ds", "--from-literal=user=alice")
	out = s.mustKubectl(t, "-n", ns, "describe", "secret", "ds")
	for _, want := range []string{"Name:", "ds", "Namespace:", "Type:", "Opaque", "Data", "user:", "5 bytes"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl describe secret ds: missing %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "alice") {
		t.Errorf("kubectl describe secret ds prints the secret's value:\n%s", out)
	}

	out = s.mustKubectl(t, "-n", ns, "describe", "sa", "default")
	for _, want := range []string{"Name:", "default", "Namespace:", "describe", "Image pull secrets:", "Mountable secrets:", "Tokens:", "Events:"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl describe sa default: missing %q in:\n%s", want, out)
		}
	}
	// describe svc is covered in GetServices.
}

func testDeleteAndWait(t *testing.T, s *server) {
	const ns = "deletes"
	s.namespace(t, ns)

	s.apply(t, fmt.Sprintf(simplePod, "gone", ns))
	out := s.mustKubectl(t, "-n", ns, "delete", "pod", "gone")
	if strings.TrimSpace(out) != `pod "gone" deleted` {
		t.Errorf("kubectl delete pod gone: stdout %q, want %q", out, `pod "gone" deleted`)
	}
	_, errOut, err := s.kubectl("-n", ns, "get", "pod", "gone")
	if err == nil || !strings.Contains(errOut, `pods "gone" not found`) {
		t.Errorf("kubectl get pod gone after delete: err %v stderr %q, want NotFound `pods \"gone\" not found`", err, errOut)
	}

	// A finalizer holds the pod; kubectl wait --for=delete returns when it goes.
	s.apply(t, `apiVersion: v1
kind: Pod
metadata:
  name: held
  namespace: deletes
  finalizers:
  - example.com/hold
spec:
  containers:
  - name: c
    image: busybox:1.36
`)
	s.mustKubectl(t, "-n", ns, "delete", "pod", "held", "--wait=false")
	var p podJSON
	s.getJSON(t, &p, "-n", ns, "pod", "held")
	if p.Metadata.DeletionTimestamp == nil {
		t.Errorf("pod held (finalizer example.com/hold) after delete: no deletionTimestamp")
	}
	if _, _, err := s.kubectl("-n", ns, "wait", "--for=delete", "pod/held", "--timeout=1s"); err == nil {
		t.Errorf("kubectl wait --for=delete pod/held --timeout=1s succeeded while a finalizer holds the pod")
	}
	w := s.kubectlBackground(t, 60*time.Second, "-n", ns, "wait", "--for=delete", "pod/held", "--timeout=30s")
	s.mustKubectl(t, "-n", ns, "patch", "pod", "held", "--type=json", "-p", `[{"op":"remove","path":"/metadata/finalizers"}]`)
	if !w.wait(40 * time.Second) {
		t.Fatalf("kubectl wait --for=delete pod/held --timeout=30s still running 40s after the finalizer was removed")
	}
	if w.err != nil {
		t.Errorf("kubectl wait --for=delete pod/held --timeout=30s: %v\nstdout %q\nstderr %q", w.err, w.stdout.String(), w.stderr.String())
	}
	_, errOut, err = s.kubectl("-n", ns, "get", "pod", "held")
	if err == nil || !strings.Contains(errOut, `pods "held" not found`) {
		t.Errorf("kubectl get pod held after its finalizer was removed: err %v stderr %q, want NotFound", err, errOut)
	}
}

func testPatchTypes(t *testing.T, s *server) {
	const ns = "patches"
	s.namespace(t, ns)
	s.apply(t, `apiVersion: v1
kind: Pod
metadata:
  name: pp
  namespace: patches
spec:
  containers:
  - name: a
    image: busybox:1.36
  - name: b
    image: busybox:1.36
`)
	// Strategic merge: containers merge by name.
	out := s.mustKubectl(t, "-n", ns, "patch", "pod", "pp", "--type=strategic", "-p", `{"metadata":{"labels":{"s":"1"}},"spec":{"containers":[{"name":"b","image":"busybox:1.37"}]}}`)
	if strings.TrimSpace(out) != "pod/pp patched" {
		t.Errorf("kubectl patch --type=strategic: stdout %q, want pod/pp patched", out)
	}
	var p podJSON
	s.getJSON(t, &p, "-n", ns, "pod", "pp")
	if len(p.Spec.Containers) != 2 || p.Spec.Containers[0].Image != "busybox:1.36" || p.Spec.Containers[1].Image != "busybox:1.37" || p.Metadata.Labels["s"] != "1" {
		t.Errorf("after strategic patch: containers %+v labels %v, want a=busybox:1.36 b=busybox:1.37 and label s=1", p.Spec.Containers, p.Metadata.Labels)
	}
	// A repeated patch that changes nothing.
	out = s.mustKubectl(t, "-n", ns, "patch", "pod", "pp", "--type=strategic", "-p", `{"metadata":{"labels":{"s":"1"}}}`)
	if strings.TrimSpace(out) != "pod/pp patched (no change)" {
		t.Errorf("kubectl patch that changes nothing: stdout %q, want %q", out, "pod/pp patched (no change)")
	}

	s.mustKubectl(t, "-n", ns, "create", "configmap", "pc", "--from-literal=keep=1", "--from-literal=drop=2", "--from-literal=old=3")
	// JSON merge patch: null deletes.
	s.mustKubectl(t, "-n", ns, "patch", "configmap", "pc", "--type=merge", "-p", `{"metadata":{"labels":{"m":"2"}},"data":{"drop":null,"added":"4"}}`)
	var cm struct {
		Metadata struct {
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
		Data map[string]string `json:"data"`
	}
	s.getJSON(t, &cm, "-n", ns, "configmap", "pc")
	if fmt.Sprint(cm.Data) != "map[added:4 keep:1 old:3]" || cm.Metadata.Labels["m"] != "2" {
		t.Errorf("after merge patch: data %v labels %v, want map[added:4 keep:1 old:3] and label m=2", cm.Data, cm.Metadata.Labels)
	}
	// JSON patch.
	s.mustKubectl(t, "-n", ns, "patch", "configmap", "pc", "--type=json", "-p", `[{"op":"add","path":"/data/new","value":"5"},{"op":"remove","path":"/data/old"},{"op":"replace","path":"/data/keep","value":"6"}]`)
	cm.Data = nil
	s.getJSON(t, &cm, "-n", ns, "configmap", "pc")
	if fmt.Sprint(cm.Data) != "map[added:4 keep:6 new:5]" {
		t.Errorf("after json patch: data %v, want map[added:4 keep:6 new:5]", cm.Data)
	}
	// A JSON patch whose test fails is rejected and changes nothing.
	_, errOut, err := s.kubectl("-n", ns, "patch", "configmap", "pc", "--type=json", "-p", `[{"op":"test","path":"/data/keep","value":"nope"},{"op":"remove","path":"/data/keep"}]`)
	if err == nil {
		t.Errorf("kubectl patch --type=json with a failing test op succeeded; stderr %q", errOut)
	}
	cm.Data = nil
	s.getJSON(t, &cm, "-n", ns, "configmap", "pc")
	if cm.Data["keep"] != "6" {
		t.Errorf("a rejected json patch changed the configmap: data %v", cm.Data)
	}
}

func testApplyTwice(t *testing.T, s *server) {
	const ns = "applies"
	s.namespace(t, ns)
	cm := `apiVersion: v1
kind: ConfigMap
metadata:
  name: twice
  namespace: applies
data:
  k: v
`
	if out := strings.TrimSpace(s.apply(t, cm)); out != "configmap/twice created" {
		t.Errorf("first kubectl apply: %q, want configmap/twice created", out)
	}
	if out := strings.TrimSpace(s.apply(t, cm)); out != "configmap/twice unchanged" {
		t.Errorf("second kubectl apply of the same file: %q, want configmap/twice unchanged", out)
	}
	if out := strings.TrimSpace(s.apply(t, strings.Replace(cm, "k: v", "k: w", 1))); out != "configmap/twice configured" {
		t.Errorf("kubectl apply of a changed file: %q, want configmap/twice configured", out)
	}
	if got := s.mustKubectl(t, "-n", ns, "get", "configmap", "twice", "-o", "jsonpath={.data.k}"); got != "w" {
		t.Errorf("configmap twice data.k %q, want w", got)
	}
	if got := s.mustKubectl(t, "-n", ns, "get", "configmap", "twice", "-o", `jsonpath={.metadata.annotations.kubectl\.kubernetes\.io/last-applied-configuration}`); !strings.Contains(got, `"k":"w"`) {
		t.Errorf("configmap twice: last-applied-configuration annotation %q, want the applied object", got)
	}

	// The same for a pod (defaulted fields must not make apply see a change).
	pod := fmt.Sprintf(simplePod, "ap", ns)
	if out := strings.TrimSpace(s.apply(t, pod)); out != "pod/ap created" {
		t.Errorf("first kubectl apply of a pod: %q, want pod/ap created", out)
	}
	if out := strings.TrimSpace(s.apply(t, pod)); out != "pod/ap unchanged" {
		t.Errorf("second kubectl apply of the same pod: %q, want pod/ap unchanged", out)
	}
}

func testApplyServerSide(t *testing.T, s *server) {
	const ns = "ssa"
	s.namespace(t, ns)
	cm := `apiVersion: v1
kind: ConfigMap
metadata:
  name: ssa
  namespace: ssa
data:
  k: v
`
	out, _ := s.mustKubectlIn(t, cm, "apply", "--server-side", "-f", "-")
	if strings.TrimSpace(out) != "configmap/ssa serverside-applied" {
		t.Errorf("kubectl apply --server-side: %q, want configmap/ssa serverside-applied", out)
	}
	var obj podJSON // only metadata is read
	s.getJSON(t, &obj, "-n", ns, "configmap", "ssa", "--show-managed-fields")
	ok := false
	for _, m := range obj.Metadata.ManagedFields {
		if m.Manager == "kubectl" && m.Operation == "Apply" {
			ok = true
		}
	}
	if !ok {
		t.Errorf("configmap ssa managedFields %+v: want an entry with manager kubectl and operation Apply", obj.Metadata.ManagedFields)
	}
	// Applying again changes nothing and still reports serverside-applied.
	out, _ = s.mustKubectlIn(t, cm, "apply", "--server-side", "-f", "-")
	if strings.TrimSpace(out) != "configmap/ssa serverside-applied" {
		t.Errorf("second kubectl apply --server-side: %q, want configmap/ssa serverside-applied", out)
	}
	// A change is applied.
	s.mustKubectlIn(t, strings.Replace(cm, "k: v", "k: w", 1), "apply", "--server-side", "-f", "-")
	if got := s.mustKubectl(t, "-n", ns, "get", "configmap", "ssa", "-o", "jsonpath={.data.k}"); got != "w" {
		t.Errorf("after server-side apply of k: w, data.k is %q", got)
	}
}

func testStrictDecoding(t *testing.T, s *server) {
	const ns = "strict"
	s.namespace(t, ns)
	_, errOut, err := s.kubectlIn(`apiVersion: v1
kind: Pod
metadata:
  name: unknownfield
  namespace: strict
spec:
  containers:
  - name: c
    image: busybox:1.36
    foo: bar
`, "create", "-f", "-")
	want := `strict decoding error: unknown field "spec.containers[0].foo"`
	if err == nil || !strings.Contains(errOut, want) {
		t.Errorf("kubectl create -f (pod with unknown field spec.containers[0].foo): err %v, stderr %q; want failure containing %q", err, errOut, want)
	}
	if _, _, err := s.kubectl("-n", ns, "get", "pod", "unknownfield"); err == nil {
		t.Errorf("the pod with an unknown field was created")
	}
}

func testBadInput(t *testing.T, s *server) {
	const ns = "badinput"
	s.namespace(t, ns)

	expectFail := func(what, stdin string, wants []string, args ...string) {
		t.Helper()
		out, errOut, err := s.kubectlIn(stdin, args...)
		if err == nil {
			t.Errorf("%s: %s succeeded (stdout %q); want an error containing %q", what, s.cmdline(args), out, wants)
			return
		}
		for _, w := range wants {
			if !strings.Contains(errOut, w) {
				t.Errorf("%s: %s: stderr %q; want it to contain %q", what, s.cmdline(args), errOut, w)
			}
		}
	}

	expectFail("invalid name", `apiVersion: v1
kind: ConfigMap
metadata:
  name: Bad
  namespace: badinput
`, []string{`The ConfigMap "Bad" is invalid: metadata.name: Invalid value: "Bad"`}, "apply", "-f", "-")

	expectFail("pod without image", `apiVersion: v1
kind: Pod
metadata:
  name: noimage
  namespace: badinput
spec:
  containers:
  - name: c
`, []string{`The Pod "noimage" is invalid`, `spec.containers[0].image: Required value`}, "apply", "-f", "-")

	expectFail("missing namespace", "", []string{`namespaces "nope" not found`}, "-n", "nope", "create", "configmap", "x", "--from-literal=a=b")

	// A dockerconfigjson secret whose .dockerconfigjson is not JSON. The
	// rejection must not echo the value.
	notJSON := randomString("not-json-")
	s.addSecret(notJSON)
	expectFail("dockerconfigjson secret with non-JSON data", fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata:
  name: badcfg
  namespace: badinput
type: kubernetes.io/dockerconfigjson
data:
  .dockerconfigjson: %s
`, base64.StdEncoding.EncodeToString([]byte(notJSON))), []string{`The Secret "badcfg" is invalid`, `data[.dockerconfigjson]`}, "apply", "-f", "-")
	if _, _, err := s.kubectl("-n", ns, "get", "secret", "badcfg"); err == nil {
		t.Errorf("the dockerconfigjson secret with non-JSON data was stored")
	}
	expectFail("dockerconfigjson secret without its key", `apiVersion: v1
kind: Secret
metadata:
  name: nokey
  namespace: badinput
type: kubernetes.io/dockerconfigjson
data:
  other: e30=
`, []string{`The Secret "nokey" is invalid`, `data[.dockerconfigjson]: Required value`}, "apply", "-f", "-")

	// An update with a stale resourceVersion.
	s.mustKubectl(t, "-n", ns, "create", "configmap", "stale", "--from-literal=v=1")
	old := s.mustKubectl(t, "-n", ns, "get", "configmap", "stale", "-o", "yaml")
	s.mustKubectl(t, "-n", ns, "patch", "configmap", "stale", "--type=merge", "-p", `{"data":{"v":"2"}}`)
	expectFail("stale resourceVersion", strings.Replace(old, "v: \"1\"", "v: \"3\"", 1),
		[]string{`Operation cannot be fulfilled on configmaps "stale": the object has been modified; please apply your changes to the latest version and try again`},
		"replace", "-f", "-")
	if got := s.mustKubectl(t, "-n", ns, "get", "configmap", "stale", "-o", "jsonpath={.data.v}"); got != "2" {
		t.Errorf("configmap stale after a rejected stale replace: data.v %q, want 2", got)
	}
	// Creating what exists.
	expectFail("create an existing object", "", []string{`configmaps "stale" already exists`}, "-n", ns, "create", "configmap", "stale")
}

func testNamespaceDeletion(t *testing.T, s *server) {
	const ns = "doomed"
	s.namespace(t, ns)
	s.apply(t, fmt.Sprintf(simplePod, "dp", ns))
	s.mustKubectl(t, "-n", ns, "create", "configmap", "dcm", "--from-literal=a=b")
	s.mustKubectl(t, "-n", ns, "create", "secret", "generic", "dsec", "--from-literal=a=b")
	s.mustKubectl(t, "-n", ns, "create", "service", "clusterip", "dsvc", "--tcp=80:80")

	out := s.mustKubectl(t, "delete", "ns", ns, "--wait=false")
	if strings.TrimSpace(out) != `namespace "doomed" deleted` {
		t.Errorf("kubectl delete ns doomed: stdout %q, want %q", out, `namespace "doomed" deleted`)
	}
	eventually(t, 60*time.Second, func() error {
		out, errOut, err := s.kubectl("get", "ns", ns)
		if err == nil {
			return fmt.Errorf("kubectl get ns doomed still finds it:\n%s", out)
		}
		if !strings.Contains(errOut, `namespaces "doomed" not found`) {
			return fmt.Errorf("kubectl get ns doomed: %v: %s", err, errOut)
		}
		return nil
	})
	for _, res := range []string{"pods", "configmaps", "secrets", "services", "serviceaccounts"} {
		out := s.mustKubectl(t, "get", "--raw", "/api/v1/namespaces/doomed/"+res)
		var list struct {
			Items []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			t.Errorf("get --raw /api/v1/namespaces/doomed/%s: %v\n%s", res, err, out)
		} else if len(list.Items) != 0 {
			t.Errorf("namespace doomed is gone but %d %s are left in it", len(list.Items), res)
		}
	}
	if out := s.mustKubectl(t, "get", "pods", "-A", "-o", "name"); strings.Contains(out, "pod/dp") {
		t.Errorf("kubectl get pods -A still lists pod dp of the deleted namespace:\n%s", out)
	}
	// Recreating the namespace gives an empty one.
	s.namespace(t, ns)
	if _, _, err := s.kubectl("-n", ns, "get", "configmap", "dcm"); err == nil {
		t.Errorf("recreated namespace doomed still holds configmap dcm")
	}
	if _, _, err := s.kubectl("-n", ns, "get", "pod", "dp"); err == nil {
		t.Errorf("recreated namespace doomed still holds pod dp")
	}
}
