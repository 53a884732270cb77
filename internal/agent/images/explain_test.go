package images

import (
	"encoding/base64"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/berth-dev/berth/internal/keyring"
)

func keyringCred(user, pass string) keyring.Credential {
	return keyring.Credential{Username: user, Password: pass}
}

func TestExplainRecord(t *testing.T) {
	e := newEnv(t)
	e.requireAuth(privateImage, "alice", password)
	e.addSecret(dockerSecret("team", "old", registry, "mallory", "wrong-pw"))
	e.addSecret(dockerSecret("team", "ghcr", "ghcr.io", "carol", "carols-pw"))
	m := e.manager()
	pod := newPod("team", "web", privateImage, corev1.PullIfNotPresent, "old", "ghcr", "gone")
	e.ensure(m, pod)

	got, err := LoadExplain(e.dir, string(pod.UID), "app")
	if err != nil {
		t.Fatal(err)
	}
	mem, ok := m.Explain(pod.UID, "app")
	if !ok || !cmp.Equal(mem, got) {
		t.Errorf("in-memory record differs from the file:\n%s", cmp.Diff(mem, got))
	}
	want := &PullAttempt{
		Pod: "team/web", PodUID: string(pod.UID), Container: "app",
		Image: privateImage, Normalized: privateImage,
		Policy: "IfNotPresent", PolicySource: got.PolicySource, VerificationPolicy: NeverVerifyPreloadedImages,
		Decision: "pull: the image is not present",
		Secrets: []SecretReport{
			{Namespace: "team", Name: "old", Source: "pod spec", Used: true, Keys: []string{registry}},
			{Namespace: "team", Name: "ghcr", Source: "pod spec", Used: true, Keys: []string{"ghcr.io"}},
			{Namespace: "team", Name: "gone", Source: "pod spec", Reason: "not found in namespace team"},
		},
		Matched: []string{registry},
		Attempts: []AttemptReport{{
			CredentialKey: registry, Secret: "team/old", Result: "failed",
			Error: got.Attempts[0].Error, Class: "unauthorized",
		}},
		Reason:  "ErrImagePull",
		Message: got.Message,
		Verdict: "The registry registry.example.com rejected the login (401 Unauthorized) with credential for registry.example.com from secret team/old: check the username and password in the secret.",
		Time:    e.clk.Now(),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("explain (-want +got):\n%s", diff)
	}
	if !strings.Contains(got.Attempts[0].Error, "401 Unauthorized") {
		t.Errorf("attempt error = %q", got.Attempts[0].Error)
	}

	// In back-off the record keeps the last attempts and says so.
	e.ensure(m, pod)
	got, _ = LoadExplain(e.dir, string(pod.UID), "app")
	if got.Reason != "ImagePullBackOff" || len(got.Attempts) != 1 || !strings.HasPrefix(got.Verdict, "Waiting before the next pull attempt; the last one failed: The registry") {
		t.Errorf("back-off explain = %+v", got)
	}
	if !strings.Contains(got.Decision, "back-off (10s)") {
		t.Errorf("back-off decision = %q", got.Decision)
	}
	e.ensure(m, pod) // still in back-off: the verdict does not nest
	again, _ := LoadExplain(e.dir, string(pod.UID), "app")
	if again.Verdict != got.Verdict || strings.Count(again.Verdict, "Waiting") != 1 {
		t.Errorf("second back-off verdict = %q, want %q", again.Verdict, got.Verdict)
	}
}

func TestExplainVerdicts(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(e *env)
		pod     *corev1.Pod
		verdict string
	}{
		{
			name:    "anonymous pull of a private image",
			setup:   func(e *env) { e.requireAuth(privateImage, "alice", password) },
			pod:     newPod("team", "p", privateImage, corev1.PullAlways),
			verdict: "The registry registry.example.com requires a login (401 Unauthorized) and berth pulled without credentials because the pod has no imagePullSecrets.",
		},
		{
			name: "success with the second credential",
			setup: func(e *env) {
				e.requireAuth(privateImage, "alice", password)
				e.addSecret(dockerSecret("team", "a", registry, "mallory", "nope"))
				e.addSecret(dockerSecret("team", "b", registry, "alice", password))
			},
			pod:     newPod("team", "p", privateImage, corev1.PullAlways, "a", "b"),
			verdict: "Pulled registry.example.com/private/app:1 with credential for registry.example.com from secret team/b after 1 other credential(s) failed.",
		},
		{
			name:    "anonymous success",
			pod:     newPod("team", "p", "busybox", corev1.PullAlways),
			verdict: "Pulled docker.io/library/busybox:latest without credentials (the pod has no imagePullSecrets).",
		},
		{
			name: "not found",
			setup: func(e *env) {
				e.rt.InjectError("PullImage", fmt.Errorf(`failed to resolve reference "docker.io/library/nope:1": docker.io/library/nope:1: not found`))
			},
			pod:     newPod("team", "p", "nope:1", corev1.PullAlways),
			verdict: "The registry docker.io has no image docker.io/library/nope:1 (not found): check the repository name and the tag or digest.",
		},
		{
			name:    "never, not present",
			pod:     newPod("team", "p", "busybox:1", corev1.PullNever),
			verdict: "busybox:1 is not on this node and imagePullPolicy Never forbids pulling it; load the image into the runtime or change the policy.",
		},
		{
			name:    "preloaded",
			setup:   func(e *env) { e.rt.AddImage("busybox:1") },
			pod:     newPod("team", "p", "busybox:1", corev1.PullIfNotPresent),
			verdict: "busybox:1 is present and this pod may use it: it was on the node before berth ever pulled it (preloaded images are exempt under NeverVerifyPreloadedImages).",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if tc.setup != nil {
				tc.setup(e)
			}
			m := e.manager()
			e.ensure(m, tc.pod)
			a, _ := m.Explain(tc.pod.UID, "app")
			if a.Verdict != tc.verdict {
				t.Errorf("verdict = %q\nwant      %q", a.Verdict, tc.verdict)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	tests := []struct{ text, want string }{
		{`failed to pull and unpack image "r.io/a:1": failed to resolve reference "r.io/a:1": pulling from host r.io failed with status code [manifests 1]: 401 Unauthorized`, "unauthorized"},
		{`failed to resolve reference "r.io/a:1": failed to authorize: failed to fetch anonymous token: unexpected status from GET request to https://r.io/token: 403 Forbidden`, "forbidden"},
		{`failed to resolve reference "r.io/a:1": failed to authorize: failed to fetch oauth token: unexpected status: 401 Unauthorized`, "unauthorized"},
		{`failed to resolve reference "docker.io/team/x:1": pull access denied, repository does not exist or may require authorization: server message: insufficient_scope: authorization failed`, "denied"},
		{`failed to resolve reference "r.io/a:1": authorization failed: no basic auth credentials`, "unauthorized"},
		{`failed to resolve reference "docker.io/library/nope:1": docker.io/library/nope:1: not found`, "not-found"},
		{`unexpected status from HEAD request to https://registry-1.docker.io/v2/library/x/manifests/1: 429 Too Many Requests`, "rate-limited"},
		{`failed to do request: Head "https://r.io/v2/a/manifests/1": tls: failed to verify certificate: x509: certificate signed by unknown authority`, "tls"},
		{`failed to do request: Head "https://r.io:5000/v2/": http: server gave HTTP response to HTTPS client`, "http-on-https"},
		{`failed to do request: Head "https://nosuch.example/v2/": dial tcp: lookup nosuch.example on 127.0.0.53:53: no such host`, "dns"},
		{`failed to do request: Head "https://r.io/v2/": dial tcp 10.0.0.1:443: connect: connection refused`, "unreachable"},
		{`failed to do request: Head "https://r.io/v2/": dial tcp 10.0.0.1:443: i/o timeout`, "timeout"},
		{`RegistryUnavailable: down`, "registry-unavailable"},
		{`SignatureValidationFailed: bad`, "signature"},
		{`something odd`, "other"},
	}
	for _, tc := range tests {
		if got := classify(tc.text); got != tc.want {
			t.Errorf("classify(%q) = %q, want %q", tc.text, got, tc.want)
		}
	}
}

// No event, error, log line, explain record or pull record may carry a
// password, an auth value or a token — even when the registry echoes one.
func TestNoSecretValueLeaks(t *testing.T) {
	e := newEnv(t)
	const user = "robot$ci"
	e.requireAuth(privateImage, user, password)
	e.addSecret(dockerSecret("team", "good", registry, user, password))
	e.addSecret(dockerSecret("team", "bad", registry, "mallory", "Wr0ngPassw0rd"))
	authOnly := `{"auths":{"registry.example.com":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("tok:T0kenValue99")) + `"}}}`
	e.addSecret(rawSecret("team", "authonly", corev1.SecretTypeDockerConfigJson, corev1.DockerConfigJsonKey, authOnly))
	e.addSecret(rawSecret("team", "broken", corev1.SecretTypeDockerConfigJson, corev1.DockerConfigJsonKey,
		`{"auths":{"registry.example.com":{"password":Sup3rS3cret-pw}}}`))
	e.addSecret(rawSecret("team", "opaque", corev1.SecretTypeOpaque, corev1.DockerConfigJsonKey,
		`{"auths":{"registry.example.com":{"username":"u","password":"`+password+`"}}}`))
	m := e.manager()

	pods := []*corev1.Pod{
		newPod("team", "bad-then-good", privateImage, corev1.PullAlways, "bad", "authonly", "good"),
		newPod("team", "bad-only", privateImage, corev1.PullAlways, "bad", "authonly"),
		newPod("team", "broken", privateImage, corev1.PullAlways, "broken"),
		newPod("team", "opaque", privateImage, corev1.PullAlways, "opaque", "missing"),
		newPod("team", "same", privateImage, corev1.PullIfNotPresent, "good"),
		newPod("team", "nosecret", privateImage, corev1.PullNever),
	}
	for _, p := range pods {
		e.ensure(m, p)
	}
	// A registry that echoes what it was sent.
	e.rt.InjectErrorOnce("PullImage", fmt.Errorf("bad login %s:%s (auth %s)", "mallory", "Wr0ngPassw0rd",
		base64.StdEncoding.EncodeToString([]byte("mallory:Wr0ngPassw0rd"))))
	echo := newPod("team", "echo", privateImage, corev1.PullAlways, "bad")
	e.ensure(m, echo)
	e.clk.Step(BackOffMax)
	e.ensure(m, pods[1]) // back-off message quoting the previous failure

	secrets := []string{password, "Wr0ngPassw0rd", "T0kenValue99",
		base64.StdEncoding.EncodeToString([]byte(user + ":" + password)),
		base64.StdEncoding.EncodeToString([]byte("mallory:Wr0ngPassw0rd")),
		base64.StdEncoding.EncodeToString([]byte("tok:T0kenValue99")),
	}
	var texts []string
	texts = append(texts, e.events...)
	texts = append(texts, e.errs...)
	texts = append(texts, e.logs.String())
	_ = filepath.WalkDir(filepath.Join(e.dir, "image_manager"), func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(path)
			texts = append(texts, path+": "+string(b))
		}
		return nil
	})
	if len(e.events) < 10 || len(e.errs) < 5 {
		t.Fatalf("scenarios did not run: %d events, %d errors", len(e.events), len(e.errs))
	}
	for _, text := range texts {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				t.Errorf("%q leaks %q", text, s)
			}
		}
	}
	// The echo was scrubbed, not dropped.
	a, _ := m.Explain(echo.UID, "app")
	if a == nil || len(a.Attempts) != 1 || !strings.Contains(a.Attempts[0].Error, "bad login mallory:<redacted>") {
		t.Errorf("echo attempt = %+v", a)
	}
}
