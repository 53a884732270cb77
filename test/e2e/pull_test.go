package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testutil/testregistry"
)

// podSpec renders a one-container pod.
func podSpec(ns, name, image, policy string, secrets ...string) string {
	var ps string
	if len(secrets) > 0 {
		ps = "  imagePullSecrets:\n"
		for _, s := range secrets {
			ps += "  - name: " + s + "\n"
		}
	}
	pol := ""
	if policy != "" {
		pol = "    imagePullPolicy: " + policy + "\n"
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: %s}
spec:
  terminationGracePeriodSeconds: 1
%s  containers:
  - name: c
    image: %s
%s    command: ["sleep", "3600"]
`, name, ns, ps, image, pol)
}

// waitReason waits for the container to be Running ("Running") or
// waiting with one of the given reasons.
func (s *server) waitContainer(t testing.TB, ns, pod string, want ...string) string {
	t.Helper()
	var got string
	eventually(t, 60*time.Second, func() error {
		if s.podField(t, ns, pod, "{.status.containerStatuses[0].state.running.startedAt}") != "" {
			got = "Running"
		} else {
			got = s.podField(t, ns, pod, "{.status.containerStatuses[0].state.waiting.reason}")
		}
		for _, w := range want {
			if got == w {
				return nil
			}
		}
		return fmt.Errorf("pod %s/%s container is %q, want one of %v", ns, pod, got, want)
	})
	return got
}

func (s *server) events(t testing.TB, ns, pod string) string {
	t.Helper()
	out, _, _ := s.kubectl("-n", ns, "get", "events", "--field-selector", "involvedObject.name="+pod, "-o", "custom-columns=REASON:.reason,MESSAGE:.message", "--no-headers")
	return out
}

func (s *server) dockerSecret(t testing.TB, ns, name, server, user, password string) {
	t.Helper()
	s.addSecret(password)
	s.mustKubectl(t, "-n", ns, "create", "secret", "docker-registry", name, "--docker-server="+server,
		"--docker-username="+user, "--docker-password="+password, "--docker-email=ci@example.com")
}

// TestImagePulls covers pull policies, pull secrets, registry keys, the
// three ways registries authenticate, and KEP-2535's credential checks,
// against real registries and containerd.
func TestImagePulls(t *testing.T) {
	skipOrFailNode(t)
	pub := testregistry.Start(t, testregistry.Options{})
	// The user names are as secret as the passwords (some registries
	// take a token as the user name): distinctive, and never to be shown.
	basic := testregistry.Start(t, testregistry.Options{Username: "robot$ci-" + randomString(""), Password: "p:a$$w0rd-" + randomString("")})
	token := testregistry.Start(t, testregistry.Options{Username: "alice-" + randomString(""), Password: "tok-" + randomString(""), Token: true})
	tlsReg := testregistry.Start(t, testregistry.Options{Username: "bob-" + randomString(""), Password: "tls-" + randomString(""), TLS: true})
	s := startNode(t, "--registry-ca", tlsReg.Host+"="+tlsReg.CAFile)
	for _, r := range []*testregistry.Registry{basic, token, tlsReg} {
		s.addSecret(r.Password)
		s.addSecret(r.Username)
	}
	pubImg := func(repo string) string { ref, _ := pub.Push(t, repo, testregistry.Image{}); return ref }
	privImg := func(repo string) string { ref, _ := basic.Push(t, repo, testregistry.Image{}); return ref }

	t.Run("PolicyMatrix", func(t *testing.T) {
		t.Parallel()
		ns := "policy"
		s.namespace(t, ns)
		cases := []struct {
			pod, repo, policy string
			prepull           bool
			wantState, event  string
		}{
			{"always-absent", "p/always-absent:v1", "Always", false, "Running", "Successfully pulled image"},
			{"always-present", "p/always-present:v1", "Always", true, "Running", "Successfully pulled image"},
			{"ifnp-absent", "p/ifnp-absent:v1", "IfNotPresent", false, "Running", "Successfully pulled image"},
			{"ifnp-present", "p/ifnp-present:v1", "IfNotPresent", true, "Running", "already present on machine and can be accessed by the pod"},
			{"never-absent", "p/never-absent:v1", "Never", false, "ErrImageNeverPull", "is not present with pull policy of Never"},
			{"never-present", "p/never-present:v1", "Never", true, "Running", "already present on machine"},
		}
		for _, tc := range cases {
			img := pubImg(tc.repo)
			if tc.prepull {
				s.apply(t, podSpec(ns, "pre-"+tc.pod, img, "IfNotPresent"))
				s.waitContainer(t, ns, "pre-"+tc.pod, "Running")
			}
			s.apply(t, podSpec(ns, tc.pod, img, tc.policy))
			s.waitContainer(t, ns, tc.pod, tc.wantState)
			eventually(t, 20*time.Second, func() error {
				if ev := s.events(t, ns, tc.pod); !strings.Contains(ev, tc.event) {
					return fmt.Errorf("%s: events lack %q:\n%s", tc.pod, tc.event, ev)
				}
				return nil
			})
		}
		// The exact Never message.
		if ev := s.events(t, ns, "never-absent"); !strings.Contains(ev, fmt.Sprintf(`Container image "%s" is not present with pull policy of Never`, pub.Host+"/p/never-absent:v1")) {
			t.Errorf("ErrImageNeverPull event: %s", ev)
		}
	})

	t.Run("Secrets", func(t *testing.T) {
		t.Parallel()
		ns, other := "sec", "sec-other"
		s.namespace(t, ns)
		s.namespace(t, other)
		img := privImg("team/private:v1")
		s.dockerSecret(t, ns, "good", basic.Host, basic.Username, basic.Password)
		s.dockerSecret(t, ns, "wrongpw", basic.Host, basic.Username, "not-the-password")
		s.dockerSecret(t, other, "elsewhere", basic.Host, basic.Username, basic.Password)
		s.mustKubectl(t, "-n", ns, "create", "secret", "generic", "opaque", "--from-literal=.dockerconfigjson={\"auths\":{}}")
		cases := []struct {
			pod     string
			secrets []string
			want    []string
		}{
			{"in-pod", []string{"good"}, []string{"Running"}},
			{"missing", []string{"nope"}, []string{"ErrImagePull", "ImagePullBackOff"}},
			{"wrong-type", []string{"opaque"}, []string{"ErrImagePull", "ImagePullBackOff"}},
			{"wrong-password", []string{"wrongpw"}, []string{"ErrImagePull", "ImagePullBackOff"}},
			{"other-namespace", []string{"elsewhere"}, []string{"ErrImagePull", "ImagePullBackOff"}},
			{"wrong-then-right", []string{"wrongpw", "good"}, []string{"Running"}},
		}
		for _, tc := range cases {
			s.apply(t, podSpec(ns, tc.pod, img, "Always", tc.secrets...))
		}
		for _, tc := range cases {
			s.waitContainer(t, ns, tc.pod, tc.want...)
		}
		s.waitContainer(t, ns, "wrong-password", "ImagePullBackOff")
		msg := s.podField(t, ns, "wrong-password", "{.status.containerStatuses[0].state.waiting.message}")
		if !strings.Contains(msg, "Back-off pulling image") || !strings.Contains(strings.ToLower(msg), "unauthorized") {
			t.Errorf("wrong password: waiting message %q", msg)
		}
		if ev := s.events(t, ns, "missing"); !strings.Contains(ev, "FailedToRetrieveImagePullSecret") {
			t.Errorf("missing secret: no FailedToRetrieveImagePullSecret event:\n%s", ev)
		}
		// From the service account: the secret is copied at creation.
		s.mustKubectl(t, "-n", ns, "patch", "serviceaccount", "default", "-p", `{"imagePullSecrets":[{"name":"good"}]}`)
		s.apply(t, podSpec(ns, "from-sa", img, "Always"))
		s.waitContainer(t, ns, "from-sa", "Running")
		if got := s.podField(t, ns, "from-sa", "{.spec.imagePullSecrets[*].name}"); got != "good" {
			t.Errorf("from-sa imagePullSecrets = %q", got)
		}
		// berth explain names the cause and prints no secret.
		out, err := exec.Command(berthBin, "explain", "pull", "wrong-password", "-n", ns, "--kubeconfig", s.kubeconfig, "--data-dir", s.dataDir).CombinedOutput()
		if err != nil {
			t.Fatalf("berth explain pull: %v\n%s", err, s.redactString(string(out)))
		}
		text := string(out)
		if red, leaked := s.redact(text); leaked {
			t.Errorf("explain printed a secret value:\n%s", red)
		}
		for _, want := range []string{"wrongpw", "Verdict:", basic.Host} {
			if !strings.Contains(text, want) {
				t.Errorf("explain output lacks %q:\n%s", want, s.redactString(text))
			}
		}
		if !strings.Contains(strings.ToLower(text), "unauthorized") && !strings.Contains(text, "401") {
			t.Errorf("explain does not say the registry refused the credential:\n%s", s.redactString(text))
		}
	})

	t.Run("RegistryKeys", func(t *testing.T) {
		t.Parallel()
		ns := "keys"
		s.namespace(t, ns)
		img := privImg("team/keyed:v1")
		host, port, _ := strings.Cut(basic.Host, ":")
		cases := []struct {
			name, server string
			match        bool
		}{
			{"hostport", basic.Host, true},
			{"scheme-v2", "http://" + basic.Host + "/v2/", true},
			{"path-prefix", basic.Host + "/team", true},
			{"other-path", basic.Host + "/other", false},
			{"glob-label", "*.0.0.1:" + port, true},
			{"no-port", host, false},
			{"dockerhub", "https://index.docker.io/v1/", false},
		}
		for _, tc := range cases {
			s.dockerSecret(t, ns, "k-"+tc.name, tc.server, basic.Username, basic.Password)
			s.apply(t, podSpec(ns, tc.name, img, "Always", "k-"+tc.name))
		}
		for _, tc := range cases {
			want := []string{"ErrImagePull", "ImagePullBackOff"}
			if tc.match {
				want = []string{"Running"}
			}
			if got := s.waitContainer(t, ns, tc.name, want...); got != want[0] && tc.match {
				t.Errorf("key %q: %s", tc.server, got)
			}
		}
	})

	t.Run("RegistryKinds", func(t *testing.T) {
		t.Parallel()
		ns := "kinds"
		s.namespace(t, ns)
		for _, r := range []struct {
			name string
			reg  *testregistry.Registry
		}{{"basic", basic}, {"token", token}, {"tls", tlsReg}} {
			img, _ := r.reg.Push(t, "kinds/"+r.name+":v1", testregistry.Image{})
			s.dockerSecret(t, ns, "cred-"+r.name, r.reg.Host, r.reg.Username, r.reg.Password)
			s.apply(t, podSpec(ns, r.name, img, "Always", "cred-"+r.name))
			s.apply(t, podSpec(ns, r.name+"-anon", img, "Always"))
		}
		for _, name := range []string{"basic", "token", "tls"} {
			s.waitContainer(t, ns, name, "Running")
			s.waitContainer(t, ns, name+"-anon", "ErrImagePull", "ImagePullBackOff")
		}
	})

	t.Run("RegistryDownThenBack", func(t *testing.T) {
		// Not parallel: it stops a registry the others use.
		ns := "down"
		s.namespace(t, ns)
		img := pubImg("down/app:v1")
		pub.Stop()
		s.apply(t, podSpec(ns, "waiting", img, "Always"))
		s.waitContainer(t, ns, "waiting", "ImagePullBackOff")
		msg := s.podField(t, ns, "waiting", "{.status.containerStatuses[0].state.waiting.message}")
		if !strings.Contains(msg, "connection refused") {
			t.Errorf("back-off message does not say the registry is unreachable: %q", msg)
		}
		pub.Restart(t)
		// The back-off (10 s, then 20 s) ends and the next pull succeeds.
		s.waitContainer(t, ns, "waiting", "Running")
	})

	t.Run("Faults", func(t *testing.T) {
		t.Parallel()
		ns := "faults"
		s.namespace(t, ns)
		// A manifest for another platform only.
		arm, _ := pub.Push(t, "faults/arm-only:v1", testregistry.Image{Arch: "arm64"})
		s.apply(t, podSpec(ns, "platform", arm, "IfNotPresent"))
		// A registry that answers 503 to everything.
		down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, `{"errors":[{"code":"UNAVAILABLE","message":"maintenance"}]}`, http.StatusServiceUnavailable)
		}))
		defer down.Close()
		s.apply(t, podSpec(ns, "fivexx", strings.TrimPrefix(down.URL, "http://")+"/team/app:v1", "IfNotPresent"))
		for _, pod := range []string{"platform", "fivexx"} {
			s.waitContainer(t, ns, pod, "ErrImagePull", "ImagePullBackOff")
		}
		if ev := s.events(t, ns, "platform"); !strings.Contains(ev, "no match for platform") {
			t.Errorf("another platform: the failure does not say so:\n%s", ev)
		}
		if ev := s.events(t, ns, "fivexx"); !strings.Contains(ev, "503") {
			t.Errorf("503 registry: the failure does not carry the status:\n%s", ev)
		}
		out, err := exec.Command(berthBin, "explain", "pull", "fivexx", "-n", ns, "--kubeconfig", s.kubeconfig).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Verdict:") {
			t.Errorf("explain pull on a 503 registry: %v\n%s", err, out)
		}
	})

	t.Run("EnsureSecretPulledImages", func(t *testing.T) {
		ns := "kep"
		s.namespace(t, ns)
		img := privImg("kep/private:v1")
		s.dockerSecret(t, ns, "s1", basic.Host, basic.Username, basic.Password)
		s.dockerSecret(t, ns, "s2", basic.Host, basic.Username, basic.Password) // same credential, other secret
		s.apply(t, podSpec(ns, "owner", img, "IfNotPresent", "s1"))
		s.waitContainer(t, ns, "owner", "Running")
		check := func(phase string) {
			t.Helper()
			s.apply(t, podSpec(ns, "nocreds-"+phase, img, "IfNotPresent"))
			s.apply(t, podSpec(ns, "never-"+phase, img, "Never"))
			s.apply(t, podSpec(ns, "same-"+phase, img, "IfNotPresent", "s1"))
			s.apply(t, podSpec(ns, "samecred-"+phase, img, "IfNotPresent", "s2"))
			s.waitContainer(t, ns, "nocreds-"+phase, "ErrImagePull", "ImagePullBackOff")
			s.waitContainer(t, ns, "never-"+phase, "ErrImageNeverPull")
			s.waitContainer(t, ns, "same-"+phase, "Running")
			s.waitContainer(t, ns, "samecred-"+phase, "Running")
			if ev := s.events(t, ns, "same-"+phase); !strings.Contains(ev, "already present on machine and can be accessed by the pod") {
				t.Errorf("%s: the same secret pulled again instead of reusing the image:\n%s", phase, ev)
			}
		}
		check("before")
		// Records survive a restart of the server.
		if _, err := s.stop(syscall.SIGTERM); err != nil {
			t.Fatalf("stop: %v", err)
		}
		s.start(t)
		check("after")
	})
}
