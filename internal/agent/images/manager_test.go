package images

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	corev1 "k8s.io/api/core/v1"

	"github.com/berth-dev/berth/internal/cri"
	"github.com/berth-dev/berth/internal/cri/fakecri"
)

func TestPullPolicyMatrix(t *testing.T) {
	const image = "busybox:1.36"
	tests := []struct {
		policy      corev1.PullPolicy
		present     bool
		wantPulls   int
		wantInspect bool // ImageStatus before any pull
		wantReason  string
		wantMessage string
		wantEvents  []string
	}{
		{
			policy: corev1.PullAlways, present: true, wantPulls: 1,
			wantEvents: []string{
				`Normal Pulling Pulling image "busybox:1.36"`,
				`Normal Pulled Successfully pulled image "busybox:1.36" in 0s (0s including waiting). Image size: 1048576 bytes.`,
			},
		},
		{
			policy: corev1.PullAlways, present: false, wantPulls: 1,
			wantEvents: []string{
				`Normal Pulling Pulling image "busybox:1.36"`,
				`Normal Pulled Successfully pulled image "busybox:1.36" in 0s (0s including waiting). Image size: 1048576 bytes.`,
			},
		},
		{
			policy: corev1.PullIfNotPresent, present: true, wantPulls: 0, wantInspect: true,
			wantEvents: []string{`Normal Pulled Container image "busybox:1.36" already present on machine and can be accessed by the pod`},
		},
		{
			policy: corev1.PullIfNotPresent, present: false, wantPulls: 1, wantInspect: true,
			wantEvents: []string{
				`Normal Pulling Pulling image "busybox:1.36"`,
				`Normal Pulled Successfully pulled image "busybox:1.36" in 0s (0s including waiting). Image size: 1048576 bytes.`,
			},
		},
		{
			policy: corev1.PullNever, present: true, wantPulls: 0, wantInspect: true,
			wantEvents: []string{`Normal Pulled Container image "busybox:1.36" already present on machine and can be accessed by the pod`},
		},
		{
			policy: corev1.PullNever, present: false, wantPulls: 0, wantInspect: true,
			wantReason:  "ErrImageNeverPull",
			wantMessage: `Container image "busybox:1.36" is not present with pull policy of Never`,
			wantEvents:  []string{`Warning ErrImageNeverPull Container image "busybox:1.36" is not present with pull policy of Never`},
		},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s/present=%t", tc.policy, tc.present), func(t *testing.T) {
			e := newEnv(t)
			if tc.present {
				e.rt.AddImage(image) // preloaded: no record, no intent
			}
			m := e.manager()
			r := e.ensure(m, newPod("ns", "p", image, tc.policy))
			if r.reason != tc.wantReason || r.message != tc.wantMessage {
				t.Errorf("EnsureImage() = %q, %q; want %q, %q", r.reason, r.message, tc.wantReason, tc.wantMessage)
			}
			if tc.wantReason == "" && r.ref == "" {
				t.Errorf("EnsureImage() returned no image ref")
			}
			if diff := cmp.Diff(tc.wantEvents, r.events); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if got := e.rt.CallCount("PullImage"); got != tc.wantPulls {
				t.Errorf("PullImage calls = %d, want %d", got, tc.wantPulls)
			}
			calls := e.rt.Calls()
			inspected := len(calls) > 0 && calls[0].Method == "ImageStatus"
			if inspected != tc.wantInspect {
				t.Errorf("first runtime call = %+v; want ImageStatus first: %t", calls, tc.wantInspect)
			}
		})
	}
}

func TestDefaultTagCompletion(t *testing.T) {
	const digest = "sha256:0000000000000000000000000000000000000000000000000000000000000001"
	tests := []struct{ image, sent string }{
		{"busybox", "busybox:latest"},
		{"busybox:latest", "busybox:latest"},
		{"busybox:1.36", "busybox:1.36"},
		{"library/busybox", "library/busybox:latest"},
		{"localhost:5000/team/app", "localhost:5000/team/app:latest"},
		{"busybox@" + digest, "busybox@" + digest},
		{"busybox:1.36@" + digest, "busybox:1.36@" + digest},
	}
	for _, tc := range tests {
		t.Run(tc.image, func(t *testing.T) {
			e := newEnv(t)
			r := e.ensure(e.manager(), newPod("ns", "p", tc.image, corev1.PullAlways))
			if r.err != nil {
				t.Fatalf("EnsureImage() error = %v", r.err)
			}
			if got := pullImages(e.rt); len(got) != 1 || got[0] != tc.sent {
				t.Errorf("CRI got %q, want [%q]", got, tc.sent)
			}
			// Events quote the string as written.
			if want := fmt.Sprintf("Normal Pulling Pulling image %q", tc.image); !hasEvent(r.events, want) {
				t.Errorf("events = %q, want %q", r.events, want)
			}
			if spec := e.rt.PullCalls()[0]; spec.Image != tc.sent {
				t.Errorf("ImageSpec.Image = %q", spec.Image)
			}
		})
	}
}

func TestInvalidImageName(t *testing.T) {
	e := newEnv(t)
	r := e.ensure(e.manager(), newPod("ns", "p", "Nginx", corev1.PullIfNotPresent))
	wantMsg := `Failed to apply default image tag "Nginx": couldn't parse image name "Nginx": invalid reference format: repository name (library/Nginx) must be lowercase`
	if r.reason != "InvalidImageName" || r.message != wantMsg {
		t.Errorf("EnsureImage() = %q, %q; want InvalidImageName, %q", r.reason, r.message, wantMsg)
	}
	if diff := cmp.Diff([]string{"Warning InspectFailed " + wantMsg}, r.events); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if n := len(e.rt.Calls()); n != 0 {
		t.Errorf("runtime calls = %d, want none", n)
	}
}

func TestImageInspectError(t *testing.T) {
	e := newEnv(t)
	e.rt.InjectError("ImageStatus", fmt.Errorf("%w: image service down", errBoom))
	r := e.ensure(e.manager(), newPod("ns", "p", "busybox:1.36", corev1.PullIfNotPresent))
	want := `Failed to inspect image "busybox:1.36": boom: image service down`
	if r.reason != "ImageInspectError" || r.message != want {
		t.Errorf("EnsureImage() = %q, %q; want ImageInspectError, %q", r.reason, r.message, want)
	}
	if diff := cmp.Diff([]string{"Warning InspectFailed " + want}, r.events); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestPulledEventDurationsAndSize(t *testing.T) {
	e := newEnv(t)
	rt := &steppingRuntime{Runtime: e.rt, clk: e.clk, d: 1234567891 * time.Nanosecond}
	m := e.manager(func(c *Config) { c.Runtime = rt })
	r := e.ensure(m, newPod("ns", "p", "busybox", corev1.PullAlways))
	want := `Normal Pulled Successfully pulled image "busybox" in 1.234s (1.234s including waiting). Image size: 1048576 bytes.`
	if !hasEvent(r.events, want) {
		t.Errorf("events = %q, want %q", r.events, want)
	}
}

func TestCRIErrorClassification(t *testing.T) {
	tests := []struct {
		err        error
		wantReason string
		wantMsg    string
	}{
		{fmt.Errorf("RegistryUnavailable: dial tcp 10.0.0.1:443: connection refused"), "RegistryUnavailable",
			"image pull failed for busybox:1.36 because the registry is unavailable: dial tcp 10.0.0.1:443: connection refused"},
		// A runtime answering with codes.Unavailable: berth's typed prefix must not hide the reason.
		{cri.NewError(codes.Unavailable, "RegistryUnavailable: mirror down"), "RegistryUnavailable",
			"image pull failed for busybox:1.36 because the registry is unavailable: mirror down"},
		{fmt.Errorf("SignatureValidationFailed: no valid signature"), "SignatureValidationFailed",
			"image pull failed for busybox:1.36 because the signature validation failed: no valid signature"},
		{fmt.Errorf("rpc error: something else"), "ErrImagePull", "rpc error: something else"},
	}
	for _, tc := range tests {
		t.Run(tc.wantMsg, func(t *testing.T) {
			e := newEnv(t)
			e.rt.ScriptPull("busybox:1.36", fakecri.PullScript{Err: tc.err})
			r := e.ensure(e.manager(), newPod("ns", "p", "busybox:1.36", corev1.PullIfNotPresent))
			note := " (berth: pulled without credentials: the pod has no imagePullSecrets)"
			if r.reason != tc.wantReason || r.message != tc.wantMsg+note {
				t.Errorf("EnsureImage() = %q, %q; want %q, %q", r.reason, r.message, tc.wantReason, tc.wantMsg+note)
			}
			wantFailed := fmt.Sprintf("Warning Failed Failed to pull image %q: %v%s", "busybox:1.36", tc.err, note)
			if !hasEvent(r.events, wantFailed) {
				t.Errorf("events = %q, want %q", r.events, wantFailed)
			}
		})
	}
}

func TestCredentials(t *testing.T) {
	type secretSpec struct{ name, server, user, pass string }
	tests := []struct {
		name       string
		secrets    []secretSpec
		raw        []*corev1.Secret
		podSecrets []string
		image      string
		// registry wants alice/password for privateImage
		wantAuths   []string
		wantReason  string
		wantInMsg   []string
		wantEvents  []string // event reasons, in order
		wantReports []SecretReport
	}{
		{
			name:       "secret in the pod",
			secrets:    []secretSpec{{"regcred", registry, "alice", password}},
			podSecrets: []string{"regcred"},
			image:      privateImage,
			wantAuths:  []string{"alice"},
			wantEvents: []string{"Pulling", "Pulled"},
			wantReports: []SecretReport{{Namespace: "team", Name: "regcred", Source: "pod spec", Used: true,
				Keys: []string{registry}}},
		},
		{
			name:       "secret from kubectl with the Docker Hub default server",
			secrets:    []secretSpec{{"hub", "https://index.docker.io/v1/", "alice", password}},
			podSecrets: []string{"hub"},
			image:      "team/private:1",
			wantAuths:  []string{"alice"},
			wantEvents: []string{"Pulling", "Pulled"},
		},
		{
			name:       "missing secret, private image",
			podSecrets: []string{"regcred"},
			image:      privateImage,
			wantAuths:  []string{"<anonymous>"},
			wantReason: "ErrImagePull",
			wantInMsg: []string{"401 Unauthorized",
				" (berth: pulled without credentials: none of the pod's pull secrets is usable; pull secret regcred could not be read)"},
			wantEvents: []string{"Pulling", "Failed", "FailedToRetrieveImagePullSecret"},
			wantReports: []SecretReport{{Namespace: "team", Name: "regcred", Source: "pod spec",
				Reason: "not found in namespace team"}},
		},
		{
			name:       "missing secret, public image",
			podSecrets: []string{"regcred", "other"},
			image:      publicImage,
			wantAuths:  []string{"<anonymous>"},
			wantEvents: []string{"Pulling", "Pulled"}, // 1.37: no FailedToRetrieveImagePullSecret without a failed pull
		},
		{
			name:       "secret in another namespace is not seen",
			secrets:    nil,
			raw:        []*corev1.Secret{dockerSecret("elsewhere", "regcred", registry, "alice", password)},
			podSecrets: []string{"regcred"},
			image:      privateImage,
			wantAuths:  []string{"<anonymous>"},
			wantReason: "ErrImagePull",
			wantEvents: []string{"Pulling", "Failed", "FailedToRetrieveImagePullSecret"},
		},
		{
			name: "secret of the wrong type is ignored",
			raw: []*corev1.Secret{rawSecret("team", "opaque", corev1.SecretTypeOpaque, corev1.DockerConfigJsonKey,
				`{"auths":{"registry.example.com":{"username":"alice","password":"`+password+`"}}}`)},
			podSecrets: []string{"opaque"},
			image:      privateImage,
			wantAuths:  []string{"<anonymous>"},
			wantReason: "ErrImagePull",
			wantInMsg:  []string{"(berth: pulled without credentials: none of the pod's pull secrets is usable; pull secret opaque was skipped (wrong type or no docker config))"},
			wantEvents: []string{"Pulling", "Failed"},
			wantReports: []SecretReport{{Namespace: "team", Name: "opaque", Source: "pod spec",
				Reason: `type "Opaque" is not kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg`}},
		},
		{
			name:       "no key matches the registry",
			secrets:    []secretSpec{{"ghcr", "ghcr.io", "alice", password}},
			podSecrets: []string{"ghcr"},
			image:      privateImage,
			wantAuths:  []string{"<anonymous>"},
			wantReason: "ErrImagePull",
			wantInMsg:  []string{"(berth: pulled without credentials: no pull secret of the pod has an entry for registry.example.com/private/app (their registry keys: ghcr.io))"},
			wantEvents: []string{"Pulling", "Failed"},
		},
		{
			name:       "two secrets, the first wrong, the second right",
			secrets:    []secretSpec{{"old", registry, "mallory", "wrong-pw"}, {"new", registry, "alice", password}},
			podSecrets: []string{"old", "new"},
			image:      privateImage,
			wantAuths:  []string{"mallory", "alice"},
			wantEvents: []string{"Pulling", "Pulled"},
		},
		{
			name:       "every credential wrong: no anonymous fallback",
			secrets:    []secretSpec{{"a", registry, "mallory", "wrong-pw"}, {"b", registry, "eve", "wrong-too"}},
			podSecrets: []string{"a", "b"},
			image:      privateImage,
			wantAuths:  []string{"mallory", "eve"},
			wantReason: "ErrImagePull",
			wantInMsg: []string{"401 Unauthorized",
				" (berth: tried credentials for registry.example.com from secret team/a, for registry.example.com from secret team/b)"},
			wantEvents: []string{"Pulling", "Failed"},
		},
		{
			name: "malformed secret fails the pod's pulls",
			raw: []*corev1.Secret{rawSecret("team", "bad", corev1.SecretTypeDockerConfigJson, corev1.DockerConfigJsonKey,
				`{"auths":{"registry.example.com":{"auth":"bm9jb2xvbg=="}}}`)},
			podSecrets: []string{"bad"},
			image:      privateImage,
			wantReason: `decoding pull secret team/bad (.dockerconfigjson), entry "registry.example.com": unable to parse auth field, must be formatted as base64(username:password)`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.requireAuth(privateImage, "alice", password)
			e.requireAuth("team/private:1", "alice", password)
			for _, s := range tc.secrets {
				e.addSecret(dockerSecret("team", s.name, s.server, s.user, s.pass))
			}
			for _, s := range tc.raw {
				e.addSecret(s)
			}
			m := e.manager()
			pod := newPod("team", "p", tc.image, corev1.PullIfNotPresent, tc.podSecrets...)
			r := e.ensure(m, pod)
			if r.reason != tc.wantReason {
				t.Errorf("reason = %q, want %q (message %q)", r.reason, tc.wantReason, r.message)
			}
			for _, s := range tc.wantInMsg {
				if !strings.Contains(r.message, s) {
					t.Errorf("message = %q, want it to contain %q", r.message, s)
				}
			}
			if diff := cmp.Diff(tc.wantAuths, pullAuths(e.rt)); diff != "" {
				t.Errorf("credentials sent (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantEvents, reasons(r.events)); diff != "" {
				t.Errorf("event reasons (-want +got):\n%s\n%q", diff, r.events)
			}
			if hasReason(r.events, "FailedToRetrieveImagePullSecret") {
				want := fmt.Sprintf("Warning FailedToRetrieveImagePullSecret Unable to retrieve some image pull secrets (%s); attempting to pull the image may not succeed.", strings.Join(tc.podSecrets, ", "))
				if !hasEvent(r.events, want) {
					t.Errorf("events = %q, want %q", r.events, want)
				}
			}
			if tc.wantReason == "ErrImagePull" {
				wantFailed := fmt.Sprintf("Warning Failed Failed to pull image %q: %s", tc.image, r.message)
				if !hasEvent(r.events, wantFailed) {
					t.Errorf("events = %q, want %q", r.events, wantFailed)
				}
			}
			a, ok := m.Explain(pod.UID, "app")
			if !ok {
				t.Fatal("no explain record")
			}
			if tc.wantReports != nil {
				if diff := cmp.Diff(tc.wantReports, a.Secrets); diff != "" {
					t.Errorf("explain secrets (-want +got):\n%s", diff)
				}
			}
			if len(a.Attempts) != len(tc.wantAuths) {
				t.Errorf("explain attempts = %+v, want %d", a.Attempts, len(tc.wantAuths))
			}
		})
	}
}

func hasReason(events []string, reason string) bool {
	for _, r := range reasons(events) {
		if r == reason {
			return true
		}
	}
	return false
}

func TestAggregatedPullErrors(t *testing.T) {
	e := newEnv(t)
	e.addSecret(dockerSecret("team", "a", registry, "mallory", "wrong-pw"))
	e.addSecret(dockerSecret("team", "b", registry, "eve", "wrong-too"))
	e.rt.InjectErrorOnce("PullImage", fmt.Errorf("first failure"))
	e.rt.InjectErrorOnce("PullImage", fmt.Errorf("second failure"))
	r := e.ensure(e.manager(), newPod("team", "p", privateImage, corev1.PullAlways, "a", "b"))
	want := "[first failure, second failure] (berth: tried credentials for registry.example.com from secret team/a, for registry.example.com from secret team/b)"
	if r.reason != "ErrImagePull" || r.message != want {
		t.Errorf("EnsureImage() = %q, %q; want ErrImagePull, %q", r.reason, r.message, want)
	}
	if got := pullAuths(e.rt); !cmp.Equal(got, []string{"mallory", "eve"}) {
		t.Errorf("credentials sent = %q", got)
	}
}

func TestImagePullBackOff(t *testing.T) {
	e := newEnv(t)
	e.requireAuth(privateImage, "alice", password)
	m := e.manager()
	pod := newPod("team", "p", privateImage, corev1.PullIfNotPresent)

	first := e.ensure(m, pod)
	if first.reason != "ErrImagePull" {
		t.Fatalf("first EnsureImage() reason = %q, want ErrImagePull", first.reason)
	}
	wantBackOff := fmt.Sprintf("Back-off pulling image %q: ErrImagePull: %s", privateImage, first.message)
	pulls := 1
	// The kubelet's sequence: 10 s doubling, capped at 300 s.
	for i, delay := range []time.Duration{10, 20, 40, 80, 160, 300, 300} {
		delay *= time.Second
		e.clk.Step(delay - time.Millisecond)
		r := e.ensure(m, pod)
		if r.reason != "ImagePullBackOff" || r.message != wantBackOff {
			t.Fatalf("step %d: %s after the failure: EnsureImage() = %q, %q; want ImagePullBackOff, %q", i, delay-time.Millisecond, r.reason, r.message, wantBackOff)
		}
		if diff := cmp.Diff([]string{fmt.Sprintf("Normal BackOff Back-off pulling image %q", privateImage)}, r.events); diff != "" {
			t.Fatalf("step %d: back-off events (-want +got):\n%s", i, diff)
		}
		e.clk.Step(time.Millisecond)
		r = e.ensure(m, pod)
		pulls++
		if r.reason != "ErrImagePull" {
			t.Fatalf("step %d: %s after the failure: reason = %q, want ErrImagePull", i, delay, r.reason)
		}
		if got := e.rt.CallCount("PullImage"); got != pulls {
			t.Fatalf("step %d: PullImage calls = %d, want %d", i, got, pulls)
		}
	}

	// Another pod, or another spelling of the image, has its own back-off.
	other := newPod("team", "q", privateImage, corev1.PullIfNotPresent)
	if r := e.ensure(m, other); r.reason != "ErrImagePull" {
		t.Errorf("other pod: reason = %q, want ErrImagePull", r.reason)
	}

	// After 2×300 s without a failure the back-off starts again at 10 s.
	e.clk.Step(601 * time.Second)
	if r := e.ensure(m, pod); r.reason != "ErrImagePull" {
		t.Fatalf("after 601s: reason = %q, want ErrImagePull", r.reason)
	}
	e.clk.Step(9 * time.Second)
	if r := e.ensure(m, pod); r.reason != "ImagePullBackOff" {
		t.Errorf("9s after the reset: reason = %q, want ImagePullBackOff", r.reason)
	}
	e.clk.Step(time.Second)
	if r := e.ensure(m, pod); r.reason != "ErrImagePull" {
		t.Errorf("10s after the reset: reason = %q, want ErrImagePull", r.reason)
	}
}

func TestBackOffKeyIsTheImageAsWritten(t *testing.T) {
	e := newEnv(t)
	e.rt.ScriptPull("busybox", fakecri.PullScript{Err: errBoom})
	m := e.manager()
	pod := newPod("ns", "p", "busybox", corev1.PullAlways)
	pod.Spec.Containers = append(pod.Spec.Containers,
		corev1.Container{Name: "same", Image: "busybox", ImagePullPolicy: corev1.PullAlways},
		corev1.Container{Name: "tagged", Image: "busybox:latest", ImagePullPolicy: corev1.PullAlways})
	if r := e.ensureContainer(m, pod, &pod.Spec.Containers[0]); r.reason != "ErrImagePull" {
		t.Fatalf("reason = %q", r.reason)
	}
	if r := e.ensureContainer(m, pod, &pod.Spec.Containers[1]); r.reason != "ImagePullBackOff" {
		t.Errorf("same image string in the same pod: reason = %q, want ImagePullBackOff", r.reason)
	}
	if r := e.ensureContainer(m, pod, &pod.Spec.Containers[2]); r.reason != "ErrImagePull" {
		t.Errorf("busybox:latest is another key: reason = %q, want ErrImagePull", r.reason)
	}
}

func TestWrongPasswordThenRight(t *testing.T) {
	e := newEnv(t)
	e.requireAuth(privateImage, "alice", password)
	e.addSecret(dockerSecret("team", "regcred", registry, "alice", "typo"))
	m := e.manager()
	pod := newPod("team", "p", privateImage, corev1.PullIfNotPresent, "regcred")
	r := e.ensure(m, pod)
	if r.reason != "ErrImagePull" || !strings.Contains(r.message, "(berth: tried credential for registry.example.com from secret team/regcred)") {
		t.Fatalf("EnsureImage() = %q, %q", r.reason, r.message)
	}
	a, _ := m.Explain(pod.UID, "app")
	if !strings.Contains(a.Verdict, "rejected the login (401 Unauthorized) with credential for registry.example.com from secret team/regcred") {
		t.Errorf("verdict = %q", a.Verdict)
	}
	e.addSecret(dockerSecret("team", "regcred", registry, "alice", password))
	if r := e.ensure(m, pod); r.reason != "ImagePullBackOff" {
		t.Fatalf("fixed secret inside the back-off: reason = %q, want ImagePullBackOff", r.reason)
	}
	e.clk.Step(BackOffInitial)
	r = e.ensure(m, pod)
	if r.err != nil {
		t.Fatalf("fixed secret after the back-off: %v", r.err)
	}
	if !hasReason(r.events, "Pulled") {
		t.Errorf("events = %q, want Pulled", r.events)
	}
}

func TestBackOffGCAfterSuccess(t *testing.T) {
	e := newEnv(t)
	e.rt.ScriptPull("busybox:1", fakecri.PullScript{Err: errBoom})
	m := e.manager()
	pod := newPod("ns", "p", "busybox:1", corev1.PullAlways)
	e.ensure(m, pod)
	key := string(pod.UID) + "_busybox:1"
	if m.backoff.Get(key) != BackOffInitial {
		t.Fatalf("back-off = %s", m.backoff.Get(key))
	}
	e.clk.Step(2*BackOffMax + time.Second)
	if r := e.ensure(m, newPod("ns", "q", "busybox:2", corev1.PullAlways)); r.err != nil {
		t.Fatal(r.err)
	}
	if got := m.backoff.Get(key); got != 0 {
		t.Errorf("back-off entry after GC = %s, want gone", got)
	}
}

func TestForgetPod(t *testing.T) {
	e := newEnv(t)
	e.rt.ScriptPull("busybox:1", fakecri.PullScript{Err: errBoom})
	m := e.manager()
	pod := newPod("ns", "p", "busybox:1", corev1.PullAlways)
	e.ensure(m, pod)
	m.ForgetPod(pod.UID)
	if _, ok := m.Explain(pod.UID, "app"); ok {
		t.Error("explain record kept")
	}
	if _, err := LoadExplain(e.dir, string(pod.UID), "app"); err == nil {
		t.Error("explain file kept")
	}
	if r := e.ensure(m, pod); r.reason != "ErrImagePull" {
		t.Errorf("after ForgetPod: reason = %q, want ErrImagePull (no back-off)", r.reason)
	}
}

func TestNewValidatesConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"no runtime", Config{DataDir: t.TempDir()}, "Runtime is required"},
		{"no data dir", Config{Runtime: fakecri.New()}, "DataDir is required"},
		{"unknown policy", Config{Runtime: fakecri.New(), DataDir: t.TempDir(), VerificationPolicy: "Sometimes"},
			"unknown image pull credential verification policy: Sometimes"},
		{"mid wildcard", Config{Runtime: fakecri.New(), DataDir: t.TempDir(), Allowlist: []string{"registry.io/*/app"}},
			"only a trailing full path segment wildcard '/*' is allowed: registry.io/*/app"},
		{"trailing slash", Config{Runtime: fakecri.New(), DataDir: t.TempDir(), Allowlist: []string{"registry.io/team/"}},
			"image pattern cannot end with '/': registry.io/team/"},
		{"tag", Config{Runtime: fakecri.New(), DataDir: t.TempDir(), Allowlist: []string{"registry.io/team/app:1"}},
			"neither tag nor digest is accepted in an image pattern: registry.io/team/app:1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("New() error = %v, want %q", err, tc.wantErr)
			}
		})
	}
	if _, err := New(Config{Runtime: fakecri.New(), DataDir: t.TempDir(), VerificationPolicy: NeverVerifyAllowlistedImages,
		Allowlist: []string{"registry.io/team/*", "nginx", "registry.io/app"}}); err != nil {
		t.Errorf("New() with a valid allowlist: %v", err)
	}
}

// Several pods pulling at once (run with -race).
func TestConcurrentPulls(t *testing.T) {
	e := newEnv(t)
	e.addSecret(dockerSecret("team", "regcred", registry, "alice", password))
	e.requireAuth(privateImage, "alice", password)
	m := e.manager()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			secrets := []string{"regcred"}
			if i%2 == 1 {
				secrets = nil
			}
			pod := newPod("team", fmt.Sprintf("p%d", i), privateImage, corev1.PullAlways, secrets...)
			e.ensure(m, pod)
			m.Explain(pod.UID, "app")
		}()
	}
	wg.Wait()
	if n := len(e.rt.PullCalls()); n != 8 {
		t.Errorf("PullImage calls = %d, want 8", n)
	}
	recs, err := PulledRecords(e.dir)
	if err != nil || len(recs) != 1 {
		t.Fatalf("PulledRecords() = %+v, %v", recs, err)
	}
	if entries, _ := filepath.Glob(filepath.Join(e.dir, "image_manager", "pulling", "*")); len(entries) != 0 {
		t.Errorf("intents left: %q", entries)
	}
}
