package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/agent/server/streamtest"
	"github.com/berth-dev/berth/internal/cri/fakecri"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	apihttpstream "k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/utils/ptr"
)

const (
	running = runtimeapi.ContainerState_CONTAINER_RUNNING
	exited  = runtimeapi.ContainerState_CONTAINER_EXITED
	created = runtimeapi.ContainerState_CONTAINER_CREATED
)

func testPod(policy corev1.RestartPolicy) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: types.UID("uid-1")},
		Spec: corev1.PodSpec{RestartPolicy: policy,
			InitContainers: []corev1.Container{{Name: "init"}, {Name: "sidecar", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)}},
			Containers:     []corev1.Container{{Name: "app"}, {Name: "tty", TTY: true, Stdin: true}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning},
	}
}

type inst struct {
	id      string
	attempt uint32
	state   runtimeapi.ContainerState
	exit    int32
}

// TestLogContainer checks which instance logs and logs --previous read,
// and the kubelet's errors when there is none.
func TestLogContainer(t *testing.T) {
	tests := []struct {
		name      string
		policy    corev1.RestartPolicy
		container string
		status    *corev1.ContainerStatus
		insts     []inst // oldest first
		want      string
		wantPrev  string
		wantErr   string
		prevErr   string
	}{
		{name: "never started", status: &corev1.ContainerStatus{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}},
			wantErr: `container "app" in pod "web" is waiting to start: ContainerCreating`,
			prevErr: `previous terminated container "app" in pod "web" not found`},
		{name: "no status yet", wantErr: `container "app" in pod "web" is waiting to start: ContainerCreating`,
			prevErr: `previous terminated container "app" in pod "web" not found`},
		{name: "image pull failing", status: &corev1.ContainerStatus{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff"}}},
			wantErr: `container "app" in pod "web" is waiting to start: trying and failing to pull image`},
		{name: "image pull failed", status: &corev1.ContainerStatus{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ErrImagePull"}}},
			wantErr: `container "app" in pod "web" is waiting to start: image can't be pulled`},
		{name: "waiting for init containers", status: &corev1.ContainerStatus{Name: "app", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}}},
			wantErr: `container "app" in pod "web" is waiting to start: PodInitializing`},
		{name: "created, not started", insts: []inst{{"c0", 0, created, 0}},
			wantErr: `container "app" in pod "web" is waiting to start: ContainerCreating`,
			prevErr: `previous terminated container "app" in pod "web" not found`},
		{name: "running, first attempt", insts: []inst{{"c0", 0, running, 0}}, want: "c0",
			prevErr: `previous terminated container "app" in pod "web" not found`},
		{name: "running after a restart", insts: []inst{{"c0", 0, exited, 1}, {"c1", 1, running, 0}}, want: "c1", wantPrev: "c0"},
		{name: "crash-looping: the last exit is both", insts: []inst{{"c1", 1, exited, 1}, {"c2", 2, exited, 1}}, want: "c2", wantPrev: "c2"},
		{name: "restarting: created after an exit", insts: []inst{{"c1", 1, exited, 1}, {"c2", 2, created, 0}}, want: "c1", wantPrev: "c1"},
		{name: "never restarted: the exit is the current state", policy: corev1.RestartPolicyNever,
			insts: []inst{{"c0", 0, exited, 1}}, want: "c0", prevErr: `previous terminated container "app" in pod "web" not found`},
		{name: "on failure, succeeded: current", policy: corev1.RestartPolicyOnFailure,
			insts: []inst{{"c0", 0, exited, 1}, {"c1", 1, exited, 0}}, want: "c1", wantPrev: "c0"},
		{name: "on failure, failed: previous", policy: corev1.RestartPolicyOnFailure,
			insts: []inst{{"c0", 0, exited, 1}, {"c1", 1, exited, 2}}, want: "c1", wantPrev: "c1"},
		{name: "init container that succeeded", container: "init", insts: []inst{{"i0", 0, exited, 0}}, want: "i0",
			prevErr: `previous terminated container "init" in pod "web" not found`},
		{name: "init container that failed and will run again", container: "init", insts: []inst{{"i0", 0, exited, 1}}, want: "i0", wantPrev: "i0"},
		{name: "sidecar that exited", container: "sidecar", insts: []inst{{"s0", 0, exited, 0}}, want: "s0", wantPrev: "s0"},
		{name: "terminated pod with no instance", status: &corev1.ContainerStatus{Name: "app", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}},
			wantErr: `container "app" in pod "web" is terminated`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.policy == "" {
				tt.policy = corev1.RestartPolicyAlways
			}
			if tt.container == "" {
				tt.container = "app"
			}
			pod := testPod(tt.policy)
			if tt.status != nil {
				pod.Status.ContainerStatuses = []corev1.ContainerStatus{*tt.status}
			}
			rt := newFakeRuntime()
			for i, in := range tt.insts {
				rt.addContainer(string(pod.UID), tt.container, in.id, in.attempt, int64(i+1), in.state, in.exit, "")
			}
			// A container of another pod with the same name is never picked.
			rt.addContainer("other-uid", tt.container, "other", 9, 99, running, 0, "")
			s := newServer(rt, fakePods{}, nil)
			check := func(previous bool, want, wantErr string) {
				t.Helper()
				got, err := s.logContainer(context.Background(), pod, tt.container, previous)
				switch {
				case wantErr != "":
					if err == nil || err.Error() != wantErr {
						t.Errorf("previous=%v: got %q, %v; want error %q", previous, got, err, wantErr)
					}
				case want != "":
					if err != nil || got != want {
						t.Errorf("previous=%v: got %q, %v; want %q", previous, got, err, want)
					}
				}
			}
			check(false, tt.want, tt.wantErr)
			prevErr := tt.prevErr
			if prevErr == "" && tt.wantPrev == "" && tt.wantErr != "" {
				return
			}
			check(true, tt.wantPrev, prevErr)
		})
	}
}

// TestInstancesOrder puts a new sandbox's first attempt before an old
// sandbox's later attempt: creation time decides, not the attempt.
func TestInstancesOrder(t *testing.T) {
	pod := testPod(corev1.RestartPolicyAlways)
	rt := newFakeRuntime()
	rt.addContainer(string(pod.UID), "app", "old-sandbox-attempt-3", 3, 100, exited, 1, "")
	rt.addContainer(string(pod.UID), "app", "new-sandbox-attempt-0", 0, 200, running, 0, "")
	s := newServer(rt, fakePods{}, nil)
	if id, err := s.logContainer(context.Background(), pod, "app", false); err != nil || id != "new-sandbox-attempt-0" {
		t.Errorf("current = %q, %v", id, err)
	}
	if id, err := s.logContainer(context.Background(), pod, "app", true); err != nil || id != "old-sandbox-attempt-3" {
		t.Errorf("previous = %q, %v", id, err)
	}
}

// TestServeLogs exercises /containerLogs through the handler.
func TestServeLogs(t *testing.T) {
	pod := testPod(corev1.RestartPolicyAlways)
	rt := newFakeRuntime()
	prevLog := writeLog(t, criLog("stdout F previous run"))
	curLog := writeLog(t, criLog("stdout F hello", "stderr F oops", "stdout F bye"))
	rt.addContainer(string(pod.UID), "app", "c0", 0, 1, exited, 1, prevLog)
	rt.addContainer(string(pod.UID), "app", "c1", 1, 2, running, 0, curLog)
	rt.addContainer(string(pod.UID), "tty", "t0", 0, 3, running, 0, t.TempDir()+"/missing.log")
	s := newServer(rt, fakePods{"ns/web": pod}, nil)
	srv := httptest.NewServer(s)
	defer srv.Close()

	tests := []struct {
		path     string
		code     int
		body     string
		bodyPart string
	}{
		{path: "/containerLogs/ns/web/app", code: 200, body: "hello\noops\nbye\n"},
		{path: "/containerLogs/ns/web/app?tailLines=1&timestamps=true", code: 200, body: "2024-05-01T10:00:02Z bye\n"},
		{path: "/containerLogs/ns/web/app?previous=true", code: 200, body: "previous run\n"},
		{path: "/containerLogs/ns/web/app?limitBytes=3", code: 200, body: "hel"},
		{path: "/containerLogs/ns/web/app?sinceTime=2024-05-01T10:00:01Z", code: 200, body: "oops\nbye\n"},
		{path: "/containerLogs/ns/web/app?follow=true", code: 200, body: "hello\noops\nbye\n"}, // c1 stops below
		{path: "/containerLogs/ns/missing/app", code: 404, body: "pod \"missing\" does not exist\n"},
		{path: "/containerLogs/ns/web/nope", code: 404, body: "container \"nope\" not found in pod \"web\"\n"},
		{path: "/containerLogs/ns/web/init", code: 400, body: "container \"init\" in pod \"web\" is waiting to start: ContainerCreating\n"},
		{path: "/containerLogs/ns/web/tty?previous=true", code: 400, body: "previous terminated container \"tty\" in pod \"web\" not found\n"},
		{path: "/containerLogs/ns/web/tty", code: 400, bodyPart: `reading the log of container "tty" in pod "web"`},
		{path: "/containerLogs/ns/web/app?tailLines=-2", code: 422, bodyPart: "must be greater than or equal to 0"},
		{path: "/containerLogs/ns/web/app", code: 200},
		{path: "/exec/ns/web/app", code: 400, body: "you must specify at least 1 of stdin, stdout, stderr\n"},
		{path: "/healthz", code: 200, body: "ok"},
		{path: "/nothing", code: 404},
	}
	for _, tt := range tests {
		if strings.Contains(tt.path, "follow=true") {
			// Let the follow end: the container is seen exited at once.
			s.stateInterval, s.pollInterval = time.Millisecond, time.Millisecond
			rt.setState("c1", exited)
		}
		resp, err := http.Get(srv.URL + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.code {
			t.Errorf("GET %s: %d %q, want %d", tt.path, resp.StatusCode, body, tt.code)
			continue
		}
		if tt.body != "" && string(body) != tt.body {
			t.Errorf("GET %s: body %q, want %q", tt.path, body, tt.body)
		}
		if tt.bodyPart != "" && !strings.Contains(string(body), tt.bodyPart) {
			t.Errorf("GET %s: body %q, want it to contain %q", tt.path, body, tt.bodyPart)
		}
	}
}

// agent is a running endpoint over mutual TLS with a fake runtime and a
// fake streaming server behind it.
type agent struct {
	rt     *fakeRuntime
	pki    *streamtest.PKI
	addr   string
	config *rest.Config
}

func startAgent(t *testing.T) *agent {
	t.Helper()
	pod := testPod(corev1.RestartPolicyAlways)
	rt := newFakeRuntime()
	rt.streamer = streamtest.NewStreamer()
	t.Cleanup(rt.streamer.Close)
	rt.addContainer(string(pod.UID), "app", "c1", 0, 1, running, 0, "")
	rt.addContainer(string(pod.UID), "tty", "t1", 0, 2, running, 0, "")
	rt.sandboxes = []*runtimeapi.PodSandbox{{Id: "sb-1", State: runtimeapi.PodSandboxState_SANDBOX_READY, Labels: map[string]string{labelPodUID: string(pod.UID)}}}
	pki := streamtest.NewPKI()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Runtime: rt, Pods: fakePods{"ns/web": pod}, Listener: ln, TLS: pki.ServerTLS()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	ca, cert, key := pki.ClientPEM()
	return &agent{rt: rt, pki: pki, addr: ln.Addr().String(), config: &rest.Config{Host: "https://" + ln.Addr().String(),
		TLSClientConfig: rest.TLSClientConfig{CAData: ca, CertData: cert, KeyData: key}}}
}

func (a *agent) url(path string, q url.Values) *url.URL {
	return &url.URL{Scheme: "https", Host: a.addr, Path: path, RawQuery: q.Encode()}
}

// fallbackExecutor tries WebSocket first and falls back to SPDY on an
// upgrade failure, as kubectl does.
func fallbackExecutor(t *testing.T, config *rest.Config, u *url.URL) remotecommand.Executor {
	t.Helper()
	ws, err := remotecommand.NewWebSocketExecutor(config, "GET", u.String())
	if err != nil {
		t.Fatal(err)
	}
	sp, err := remotecommand.NewSPDYExecutor(config, "POST", u)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := remotecommand.NewFallbackExecutor(ws, sp, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		t.Fatal(err)
	}
	return ex
}

// TestExecAttach runs commands through the endpoint with client-go, as
// kubectl exec and attach do (WebSocket first, then SPDY).
func TestExecAttach(t *testing.T) {
	a := startAgent(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// Output only.
	var out, errOut bytes.Buffer
	ex := fallbackExecutor(t, a.config, a.url("/exec/ns/web/app", url.Values{"command": {"echo", "hi there"}, "output": {"1"}, "error": {"1"}}))
	if err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &out, Stderr: &errOut}); err != nil {
		t.Fatalf("exec: %v", err)
	}
	if out.String() != "echo hi there\n" {
		t.Errorf("exec output %q", out.String())
	}
	if got := a.rt.streamer.Served("exec"); got != 1 {
		t.Errorf("streaming server served %d exec sessions, want 1 (after a refused WebSocket attempt)", got)
	}
	if len(a.rt.execs) != 2 || a.rt.execs[1].ContainerId != "c1" || !a.rt.execs[1].Stdout || a.rt.execs[1].Stdin {
		t.Errorf("CRI exec requests: %v", a.rt.execs)
	}

	// Stdin copied back (kubectl exec -i … cat).
	out.Reset()
	ex = fallbackExecutor(t, a.config, a.url("/exec/ns/web/app", url.Values{"command": {"cat"}, "input": {"1"}, "output": {"1"}, "error": {"1"}}))
	if err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: strings.NewReader("typed input\n"), Stdout: &out, Stderr: &errOut}); err != nil {
		t.Fatalf("exec -i: %v", err)
	}
	if out.String() != "typed input\n" {
		t.Errorf("exec -i output %q", out.String())
	}

	// A failing command's exit code reaches the client.
	ex = fallbackExecutor(t, a.config, a.url("/exec/ns/web/app", url.Values{"command": {"exit", "3"}, "output": {"1"}}))
	err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: io.Discard})
	var exitErr interface{ ExitStatus() int }
	if !errors.As(err, &exitErr) || exitErr.ExitStatus() != 3 {
		t.Errorf("exec exit 3: got %v", err)
	}

	// Attach uses the container's own TTY setting.
	out.Reset()
	ex = fallbackExecutor(t, a.config, a.url("/attach/ns/web/app", url.Values{"input": {"1"}, "output": {"1"}, "error": {"1"}}))
	if err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: strings.NewReader("to main\n"), Stdout: &out, Stderr: &errOut}); err != nil {
		t.Fatalf("attach: %v", err)
	}
	if out.String() != "to main\n" {
		t.Errorf("attach output %q", out.String())
	}
	last := a.rt.attaches[len(a.rt.attaches)-1]
	if last.ContainerId != "c1" || last.Tty || !last.Stderr {
		t.Errorf("CRI attach request %v", last)
	}
	sp, err := remotecommand.NewSPDYExecutor(a.config, "POST", a.url("/attach/ns/web/tty", url.Values{"input": {"1"}, "output": {"1"}, "error": {"1"}}))
	if err != nil {
		t.Fatal(err)
	}
	_ = sp.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: strings.NewReader(""), Stdout: io.Discard, Tty: true})
	if last := a.rt.attaches[len(a.rt.attaches)-1]; !last.Tty || last.Stderr {
		t.Errorf("CRI attach request for a TTY container %v", last)
	}
}

// TestStreamErrors checks what a client is told when there is nothing
// to exec in.
func TestStreamErrors(t *testing.T) {
	a := startAgent(t)
	a.rt.setState("c1", exited)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tests := []struct {
		path string
		q    url.Values
		want string
	}{
		{"/exec/ns/web/app", url.Values{"command": {"ls"}, "output": {"1"}}, `container not found ("app")`},
		{"/exec/ns/gone/app", url.Values{"command": {"ls"}, "output": {"1"}}, `pod "gone" does not exist`},
		{"/exec/ns/web/wrong-uid/tty", url.Values{"command": {"ls"}, "output": {"1"}}, `pod "web" not found`},
		{"/attach/ns/web/app", url.Values{"output": {"1"}}, `container app not found in pod web`},
		{"/attach/ns/web/nope", url.Values{"output": {"1"}}, `container nope not found in pod web`},
	}
	for _, tt := range tests {
		ex := fallbackExecutor(t, a.config, a.url(tt.path, tt.q))
		err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: io.Discard})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want an error containing %q", tt.path, err, tt.want)
		}
	}
	// A non-upgrade request is refused.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: a.pki.ClientTLS()}}
	resp, err := client.Post(a.url("/exec/ns/web/tty", url.Values{"command": {"ls"}, "output": {"1"}}).String(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "Upgrade request required") {
		t.Errorf("plain POST to exec: %d %q", resp.StatusCode, body)
	}
}

// TestClientCertificateRequired refuses clients without a certificate
// from the cluster CA.
func TestClientCertificateRequired(t *testing.T) {
	a := startAgent(t)
	noCert := &tls.Config{RootCAs: a.pki.ClientTLS().RootCAs}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: noCert}}
	if resp, err := client.Get("https://" + a.addr + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatalf("a client without a certificate got %s", resp.Status)
	}
	other := streamtest.NewPKI() // a certificate from another CA
	wrongCA := &tls.Config{RootCAs: a.pki.ClientTLS().RootCAs, Certificates: other.ClientTLS().Certificates}
	client = &http.Client{Transport: &http.Transport{TLSClientConfig: wrongCA}}
	if resp, err := client.Get("https://" + a.addr + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatalf("a client with another CA's certificate got %s", resp.Status)
	}
	client = &http.Client{Transport: &http.Transport{TLSClientConfig: a.pki.ClientTLS()}}
	resp, err := client.Get("https://" + a.addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("healthz: %s", resp.Status)
	}
}

// TestPortForward forwards a local port through the endpoint with
// client-go, trying the WebSocket tunnel first as kubectl does.
func TestPortForward(t *testing.T) {
	a := startAgent(t)
	u := a.url("/portForward/ns/web", nil)
	tunnel, err := portforward.NewSPDYOverWebsocketDialer(u, a.config)
	if err != nil {
		t.Fatal(err)
	}
	transport, upgrader, err := spdy.RoundTripperFor(a.config)
	if err != nil {
		t.Fatal(err)
	}
	dialer := portforward.NewFallbackDialer(tunnel, spdy.NewDialer(upgrader, &http.Client{Transport: transport}, "POST", u),
		func(err error) bool {
			return apihttpstream.IsUpgradeFailure(err) || httpstream.IsUpgradeFailure(err) ||
				apihttpstream.IsHTTPSProxyError(err) || httpstream.IsHTTPSProxyError(err)
		})
	stop, ready := make(chan struct{}), make(chan struct{})
	pf, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:8080"}, stop, ready, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- pf.ForwardPorts() }()
	defer func() {
		close(stop)
		_ = <-errc
	}()
	select {
	case <-ready:
	case err := <-errc:
		t.Fatalf("port-forward: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("port-forward not ready")
	}
	ports, err := pf.GetPorts()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(ports[0].Local))))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo through the forward: %q, %v", buf, err)
	}
	if len(a.rt.forwards) == 0 || a.rt.forwards[len(a.rt.forwards)-1].PodSandboxId != "sb-1" {
		t.Errorf("CRI port-forward requests %v", a.rt.forwards)
	}
}

// TestLogsWithFakeCRI runs a crash-and-restart through the shared CRI
// fake, with the labels and log paths the agent gives containers, and
// reads both instances' logs over HTTP.
func TestLogsWithFakeCRI(t *testing.T) {
	pod := testPod(corev1.RestartPolicyAlways)
	rt := fakecri.New()
	image := "registry.test/app:1"
	rt.AddImage(image)
	logDir := t.TempDir()
	ctx := context.Background()
	sbCfg := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: pod.Name, Namespace: pod.Namespace, Uid: string(pod.UID)},
		Labels:       map[string]string{labelPodUID: string(pod.UID)},
		LogDirectory: logDir,
	}
	sb, err := rt.RunPodSandbox(ctx, sbCfg, "")
	if err != nil {
		t.Fatal(err)
	}
	start := func(attempt uint32) string {
		t.Helper()
		id, err := rt.CreateContainer(ctx, sb, &runtimeapi.ContainerConfig{
			Metadata: &runtimeapi.ContainerMetadata{Name: "app", Attempt: attempt},
			Image:    &runtimeapi.ImageSpec{Image: image},
			Labels:   map[string]string{labelPodUID: string(pod.UID), labelContainerName: "app"},
			LogPath:  "app/" + strconv.Itoa(int(attempt)) + ".log",
		}, sbCfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := rt.StartContainer(ctx, id); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(logDir+"/app", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(logDir+"/app/"+strconv.Itoa(int(attempt))+".log", []byte(criLog("stdout F attempt "+strconv.Itoa(int(attempt)))), 0o644); err != nil {
			t.Fatal(err)
		}
		return id
	}
	rt.ScriptContainer("app", fakecri.Behaviour{})
	first := start(0)
	if err := rt.ExitContainer(first, 1, fakecri.ReasonError, ""); err != nil {
		t.Fatal(err)
	}
	s := newServer(rt, fakePods{"ns/web": pod}, nil)
	get := func(query string) (int, string) {
		t.Helper()
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest("GET", "/containerLogs/ns/web/app"+query, nil))
		return rec.Code, rec.Body.String()
	}
	// Crash-looping: the exit is both the current log and the previous.
	if code, body := get(""); code != 200 || body != "attempt 0\n" {
		t.Errorf("logs while crash-looping: %d %q", code, body)
	}
	if code, body := get("?previous=true"); code != 200 || body != "attempt 0\n" {
		t.Errorf("logs --previous while crash-looping: %d %q", code, body)
	}
	start(1)
	if code, body := get(""); code != 200 || body != "attempt 1\n" {
		t.Errorf("logs after the restart: %d %q", code, body)
	}
	if code, body := get("?previous=true"); code != 200 || body != "attempt 0\n" {
		t.Errorf("logs --previous after the restart: %d %q", code, body)
	}
}
