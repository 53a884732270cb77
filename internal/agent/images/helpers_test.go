package images

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/berth-dev/berth/internal/agent"
	"github.com/berth-dev/berth/internal/cri"
	"github.com/berth-dev/berth/internal/cri/fakecri"
)

const (
	privateImage = "registry.example.com/private/app:1"
	publicImage  = "registry.example.com/public/tool:2"
	registry     = "registry.example.com"
	password     = "Sup3rS3cret-pw"
)

// env is one node: a fake runtime, a fake clock, secrets, a data dir.
type env struct {
	t       *testing.T
	rt      *fakecri.Runtime
	clk     *testingclock.FakeClock
	dir     string
	logs    *syncBuffer
	mu      sync.Mutex
	secrets map[types.NamespacedName]*corev1.Secret
	events  []string // every event of every recorder, for leak checks
	errs    []string // every error returned
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return &env{
		t:       t,
		rt:      fakecri.New(),
		clk:     testingclock.NewFakeClock(time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)),
		dir:     t.TempDir(),
		logs:    &syncBuffer{},
		secrets: map[types.NamespacedName]*corev1.Secret{},
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// manager returns a new Manager over the env's runtime and data dir.
func (e *env) manager(mod ...func(*Config)) *Manager {
	e.t.Helper()
	cfg := Config{
		Runtime: e.rt,
		Secrets: SecretGetterFunc(e.getSecret),
		DataDir: e.dir,
		Log:     slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Clock:   e.clk,
	}
	for _, f := range mod {
		f(&cfg)
	}
	m, err := New(cfg)
	if err != nil {
		e.t.Fatalf("New() error = %v", err)
	}
	return m
}

func (e *env) getSecret(_ context.Context, namespace, name string) (*corev1.Secret, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := e.secrets[types.NamespacedName{Namespace: namespace, Name: name}]
	if !ok {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name)
	}
	return s.DeepCopy(), nil
}

func (e *env) addSecret(s *corev1.Secret) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.secrets[types.NamespacedName{Namespace: s.Namespace, Name: s.Name}] = s
}

// requireAuth makes the registry accept only user/pass for image.
func (e *env) requireAuth(image, user, pass string) {
	e.rt.ScriptPull(image, fakecri.PullScript{Auth: &runtimeapi.AuthConfig{Username: user, Password: pass}})
}

// result is one EnsureImage call.
type result struct {
	ref     string
	err     error
	reason  string
	message string
	events  []string
}

func (e *env) ensure(m *Manager, pod *corev1.Pod) result {
	e.t.Helper()
	return e.ensureContainer(m, pod, &pod.Spec.Containers[0])
}

func (e *env) ensureContainer(m *Manager, pod *corev1.Pod, c *corev1.Container) result {
	e.t.Helper()
	rec := record.NewFakeRecorder(100)
	ref, err := m.EnsureImage(context.Background(), pod, c, &runtimeapi.PodSandboxConfig{}, rec)
	r := result{ref: ref, err: err, events: drain(rec)}
	if err != nil {
		r.reason, r.message = splitReason(e.t, err)
		e.mu.Lock()
		e.errs = append(e.errs, err.Error())
		e.mu.Unlock()
	}
	e.mu.Lock()
	e.events = append(e.events, r.events...)
	e.mu.Unlock()
	return r
}

// splitReason reads reason and message from an agent.NewReasonError, whose
// text is "<reason>: <message>".
func splitReason(t *testing.T, err error) (string, string) {
	t.Helper()
	text := err.Error()
	// Reasons are single words, except a malformed secret's error text.
	for _, r := range []string{ReasonInvalidImageName, ReasonImageInspectError, ReasonErrImageNeverPull, ReasonErrImagePull,
		ReasonImagePullBackOff, ReasonRegistryUnavailable, ReasonSignatureValidationFailed} {
		if msg, ok := strings.CutPrefix(text, r+": "); ok {
			return r, msg
		}
	}
	half := len(text) / 2
	if len(text) > 2 && text[:half-1] == text[half+1:] && text[half-1:half+1] == ": " {
		return text[:half-1], text[half+1:]
	}
	t.Fatalf("error %q is not a reason error", text)
	return "", ""
}

func drain(rec *record.FakeRecorder) []string {
	var out []string
	for {
		select {
		case ev := <-rec.Events:
			out = append(out, ev)
		default:
			return out
		}
	}
}

// reasons returns the reason word of each event ("Normal Pulled msg" → "Pulled").
func reasons(events []string) []string {
	var out []string
	for _, ev := range events {
		f := strings.SplitN(ev, " ", 3)
		out = append(out, f[1])
	}
	return out
}

func hasEvent(events []string, want string) bool {
	for _, ev := range events {
		if ev == want {
			return true
		}
	}
	return false
}

func newPod(ns, name, image string, policy corev1.PullPolicy, secrets ...string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(ns + "-" + name + "-uid")},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: image, ImagePullPolicy: policy,
		}}},
	}
	for _, s := range secrets {
		p.Spec.ImagePullSecrets = append(p.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: s})
	}
	return p
}

// dockerSecret is what `kubectl create secret docker-registry` makes.
func dockerSecret(ns, name, server, user, pass string) *corev1.Secret {
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
	doc, _ := json.Marshal(map[string]any{"auths": map[string]any{server: map[string]string{
		"username": user, "password": pass, "auth": auth,
	}}})
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(ns + "-" + name + "-secret-uid")},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: doc},
	}
}

func rawSecret(ns, name string, typ corev1.SecretType, key, doc string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(ns + "-" + name + "-secret-uid")},
		Type:       typ,
		Data:       map[string][]byte{key: []byte(doc)},
	}
}

// pullAuths lists the user name of each PullImage call; "" is anonymous.
func pullAuths(rt *fakecri.Runtime) []string {
	var out []string
	for _, pc := range rt.PullCalls() {
		if pc.Auth == nil {
			out = append(out, "<anonymous>")
		} else {
			out = append(out, pc.Auth.Username)
		}
	}
	return out
}

// pullImages lists the image of each PullImage call.
func pullImages(rt *fakecri.Runtime) []string {
	var out []string
	for _, pc := range rt.PullCalls() {
		out = append(out, pc.Image)
	}
	return out
}

var _ agent.ImageEnsurer = (*Manager)(nil)

// steppingRuntime makes every pull take d on the fake clock.
type steppingRuntime struct {
	*fakecri.Runtime
	clk *testingclock.FakeClock
	d   time.Duration
}

func (s *steppingRuntime) PullImage(ctx context.Context, spec *runtimeapi.ImageSpec, auth *runtimeapi.AuthConfig, sb *runtimeapi.PodSandboxConfig) (string, error) {
	s.clk.Step(s.d)
	return s.Runtime.PullImage(ctx, spec, auth, sb)
}

var _ cri.Runtime = (*steppingRuntime)(nil)

var errBoom = errors.New("boom")
