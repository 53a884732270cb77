package apiserver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/agent/server/streamtest"
	"github.com/berth-dev/berth/internal/storage/memory"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	apihttpstream "k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/utils/ptr"
)

// fakeKubelet is a node's kubelet endpoint: it records what it was asked
// and answers logs from a script and streams with a fake runtime.
type fakeKubelet struct {
	srv      *httptest.Server
	streamer *streamtest.Streamer

	mu       sync.Mutex
	requests []*http.Request
	// release lets a followed log send its second line.
	release chan struct{}
}

func newFakeKubelet(t *testing.T, pki *streamtest.PKI) *fakeKubelet {
	k := &fakeKubelet{streamer: streamtest.NewStreamer(), release: make(chan struct{})}
	k.srv = httptest.NewUnstartedServer(http.HandlerFunc(k.serve))
	k.srv.TLS = pki.ServerTLS()
	k.srv.StartTLS()
	t.Cleanup(func() {
		k.srv.CloseClientConnections()
		k.srv.Close()
		k.streamer.Close()
	})
	return k
}

func (k *fakeKubelet) port() int32 {
	_, p, _ := net.SplitHostPort(k.srv.Listener.Addr().String())
	n, _ := strconv.Atoi(p)
	return int32(n)
}

// last returns the last request with path prefix.
func (k *fakeKubelet) last(prefix string) *http.Request {
	k.mu.Lock()
	defer k.mu.Unlock()
	for i := len(k.requests) - 1; i >= 0; i-- {
		if strings.HasPrefix(k.requests[i].URL.Path, prefix) {
			return k.requests[i]
		}
	}
	return nil
}

func (k *fakeKubelet) serve(w http.ResponseWriter, r *http.Request) {
	k.mu.Lock()
	k.requests = append(k.requests, r.Clone(context.Background()))
	k.mu.Unlock()
	q := r.URL.Query()
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.URL.Path == "/containerLogs/ns/web/app" && q.Get("follow") == "true":
		fmt.Fprintln(w, "first")
		w.(http.Flusher).Flush()
		select {
		case <-k.release:
		case <-r.Context().Done():
			return
		}
		fmt.Fprintln(w, "second")
	case r.URL.Path == "/containerLogs/ns/web/app", r.URL.Path == "/containerLogs/ns/single/only":
		fmt.Fprintf(w, "log of app, query %s\n", r.URL.RawQuery)
	case r.URL.Path == "/pods":
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[{"metadata":{"name":"web","namespace":"ns"}}]}`)
	case r.URL.Path == "/containerLogs/ns/web/sidecar":
		http.Error(w, `container "sidecar" in pod "web" is waiting to start: ContainerCreating`, http.StatusBadRequest)
	case r.URL.Path == "/containerLogs/ns/web/gone":
		http.Error(w, `pod "web" does not exist`, http.StatusNotFound)
	case r.URL.Path == "/containerLogs/ns/web/status":
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"kubelet says no","reason":"Forbidden","code":403}`)
	case parts[0] == "exec" || parts[0] == "attach":
		if len(parts) != 4 {
			http.Error(w, "bad path", http.StatusNotFound)
			return
		}
		k.streamer.ServeSession(w, r, streamtest.Request{Kind: parts[0], Cmd: q["command"],
			Stdin: q.Get("input") == "1", Stdout: q.Get("output") == "1", Stderr: q.Get("error") == "1", TTY: q.Get("tty") == "1"})
	case parts[0] == "portForward":
		if isWS := strings.EqualFold(r.Header.Get("Upgrade"), "websocket"); isWS && q.Get("port") == "" {
			http.Error(w, `query parameter "port" is required`, http.StatusBadRequest)
			return
		}
		k.streamer.ServeSession(w, r, streamtest.Request{Kind: "portforward"})
	default:
		http.NotFound(w, r)
	}
}

type proxyEnv struct {
	server  *Server
	kubelet *fakeKubelet
	config  *rest.Config
	client  kubernetes.Interface
}

// startProxyEnv runs an API server (plain HTTP, bearer token) whose node
// "node-1" points at a fake kubelet over mutual TLS.
func startProxyEnv(t *testing.T, withKubeletTLS bool) *proxyEnv {
	t.Helper()
	pki := streamtest.NewPKI()
	kubelet := newFakeKubelet(t, pki)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	cfg := Config{Store: memory.New(), Listener: ln, TLS: &tls.Config{}, Tokens: map[string]string{"secret-token": "admin"}}
	if withKubeletTLS {
		cfg.KubeletClientTLS = pki.ClientTLS()
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(func() {
		ts.CloseClientConnections()
		ts.Close()
	})
	ctx := context.Background()
	create := func(resource string, obj runtime.Object) {
		res, _ := s.reg.Lookup(corev1.SchemeGroupVersion.WithResource(resource))
		if _, err := s.objs.create(ctx, res, obj); err != nil {
			t.Fatal(err)
		}
	}
	node := func(name string, port int32, addrs ...corev1.NodeAddress) *corev1.Node {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
		n.Status.Addresses = addrs
		n.Status.DaemonEndpoints.KubeletEndpoint.Port = port
		return n
	}
	create("nodes", node("node-1", kubelet.port(),
		corev1.NodeAddress{Type: corev1.NodeHostName, Address: "node-1.invalid"}, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}))
	create("nodes", node("no-endpoint", 0, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}))
	// A node whose kubelet does not answer: a closed port.
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	_, cp, _ := net.SplitHostPort(closed.Addr().String())
	closed.Close()
	cport, _ := strconv.Atoi(cp)
	create("nodes", node("down", int32(cport), corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}))
	pod := func(name, nodeName string, containers ...string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name}, Spec: corev1.PodSpec{NodeName: nodeName}}
		for _, c := range containers {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c, Image: "busybox"})
		}
		return p
	}
	web := pod("web", "node-1", "app", "status", "gone")
	web.Spec.InitContainers = []corev1.Container{{Name: "sidecar", Image: "busybox", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways)}}
	create("pods", web)
	create("pods", pod("single", "node-1", "only"))
	create("pods", pod("pending", "", "app"))
	create("pods", pod("stranded", "no-endpoint", "app"))
	create("pods", pod("unreachable", "down", "app"))
	create("pods", pod("orphan", "no-such-node", "app"))
	config := &rest.Config{Host: ts.URL, BearerToken: "secret-token"}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		t.Fatal(err)
	}
	return &proxyEnv{server: s, kubelet: kubelet, config: config, client: client}
}

func TestPodLogsProxy(t *testing.T) {
	env := startProxyEnv(t, true)
	ctx := context.Background()
	pods := env.client.CoreV1().Pods("ns")

	body, err := pods.GetLogs("web", &corev1.PodLogOptions{Container: "app", TailLines: ptr.To[int64](5), Timestamps: true,
		LimitBytes: ptr.To[int64](100), SinceSeconds: ptr.To[int64](60), Previous: true}).DoRaw(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := env.kubelet.last("/containerLogs/").URL.Query()
	want := url.Values{"tailLines": {"5"}, "timestamps": {"true"}, "limitBytes": {"100"}, "sinceSeconds": {"60"}, "previous": {"true"}}
	if got.Encode() != want.Encode() {
		t.Errorf("kubelet query %q, want %q", got.Encode(), want.Encode())
	}
	if !strings.HasPrefix(string(body), "log of app") {
		t.Errorf("log body %q", body)
	}
	if h := env.kubelet.last("/containerLogs/").Header.Get("Authorization"); h != "" {
		t.Errorf("the caller's credentials reached the kubelet: %q", h)
	}

	// The only container is the default one; sinceTime passes as RFC 3339.
	since := metav1.NewTime(time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC))
	if _, err := pods.GetLogs("single", &corev1.PodLogOptions{SinceTime: &since}).DoRaw(ctx); err != nil {
		t.Fatal(err)
	}
	if r := env.kubelet.last("/containerLogs/"); r.URL.Path != "/containerLogs/ns/single/only" || r.URL.Query().Get("sinceTime") != "2024-05-01T10:00:00Z" {
		t.Errorf("kubelet request %s?%s", r.URL.Path, r.URL.RawQuery)
	}

	// A pod not on a node yet has an empty log, as in Kubernetes.
	if body, err := pods.GetLogs("pending", &corev1.PodLogOptions{}).DoRaw(ctx); err != nil || len(body) != 0 {
		t.Errorf("log of an unscheduled pod: %q, %v", body, err)
	}

	errTests := []struct {
		name   string
		pod    string
		opts   *corev1.PodLogOptions
		code   int32
		reason metav1.StatusReason
		msg    string
	}{
		{"kubelet error", "web", &corev1.PodLogOptions{Container: "sidecar"}, 400, metav1.StatusReasonBadRequest,
			`container "sidecar" in pod "web" is waiting to start: ContainerCreating`},
		{"kubelet not found", "web", &corev1.PodLogOptions{Container: "gone"}, 404, metav1.StatusReasonNotFound, `pod "web" does not exist`},
		{"kubelet status passes through", "web", &corev1.PodLogOptions{Container: "status"}, 403, metav1.StatusReasonForbidden, "kubelet says no"},
		{"unknown container", "web", &corev1.PodLogOptions{Container: "nope"}, 400, metav1.StatusReasonBadRequest, "container nope is not valid for pod web"},
		{"no container chosen", "web", &corev1.PodLogOptions{}, 400, metav1.StatusReasonBadRequest,
			"a container name must be specified for pod web, choose one of: [sidecar app status gone]"},
		{"negative tail", "web", &corev1.PodLogOptions{Container: "app", TailLines: ptr.To[int64](-1)}, 422, metav1.StatusReasonInvalid,
			`PodLogOptions "web" is invalid: tailLines: Invalid value: -1: must be greater than or equal to 0`},
		{"both since", "web", &corev1.PodLogOptions{Container: "app", SinceSeconds: ptr.To[int64](1), SinceTime: &since}, 422, metav1.StatusReasonInvalid,
			"at most one of `sinceTime` or `sinceSeconds` may be specified"},
		{"no such pod", "ghost", &corev1.PodLogOptions{}, 404, metav1.StatusReasonNotFound, `pods "ghost" not found`},
		{"node without an endpoint", "stranded", &corev1.PodLogOptions{}, 503, metav1.StatusReasonServiceUnavailable,
			`node "no-endpoint" publishes no kubelet endpoint`},
		{"node gone", "orphan", &corev1.PodLogOptions{}, 404, metav1.StatusReasonNotFound, `nodes "no-such-node" not found`},
		{"kubelet down", "unreachable", &corev1.PodLogOptions{}, 500, metav1.StatusReasonUnknown, "connection refused"},
	}
	for _, tt := range errTests {
		// Stream is what kubectl logs uses; it decodes a metav1.Status.
		rc, err := pods.GetLogs(tt.pod, tt.opts).Stream(ctx)
		if err == nil {
			rc.Close()
		}
		var se *apierrors.StatusError
		if !errors.As(err, &se) {
			t.Errorf("%s: got %v, want a status error", tt.name, err)
			continue
		}
		st := se.ErrStatus
		if st.Code != tt.code || st.Reason != tt.reason || !strings.Contains(st.Message, tt.msg) {
			t.Errorf("%s: got %d %s %q, want %d %s containing %q", tt.name, st.Code, st.Reason, st.Message, tt.code, tt.reason, tt.msg)
		}
	}
}

// TestPodLogsFollow shows a followed log's lines as the kubelet sends
// them, not when the stream ends.
func TestPodLogsFollow(t *testing.T) {
	env := startProxyEnv(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rc, err := env.client.CoreV1().Pods("ns").GetLogs("web", &corev1.PodLogOptions{Container: "app", Follow: true}).Stream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	br := bufio.NewReader(rc)
	line, err := br.ReadString('\n')
	if err != nil || line != "first\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	close(env.kubelet.release)
	rest, err := io.ReadAll(br)
	if err != nil || string(rest) != "second\n" {
		t.Fatalf("rest %q, %v", rest, err)
	}
}

func TestNodeProxyWithoutKubeletCredentials(t *testing.T) {
	env := startProxyEnv(t, false)
	_, err := env.client.CoreV1().Pods("ns").GetLogs("web", &corev1.PodLogOptions{Container: "app"}).Stream(context.Background())
	if !apierrors.IsServiceUnavailable(err) || !strings.Contains(err.Error(), "no node agent endpoint is connected") {
		t.Errorf("got %v, want 503", err)
	}
}

func TestNodeProxyRouting(t *testing.T) {
	env := startProxyEnv(t, true)
	rc := env.client.CoreV1().RESTClient()
	ctx := context.Background()
	tests := []struct {
		name   string
		req    *rest.Request
		code   int
		substr string
	}{
		{"pods/proxy is not served", rc.Get().Namespace("ns").Resource("pods").Name("web").SubResource("proxy"), 503, "pods/proxy is not served"},
		{"logs take GET only", rc.Put().Namespace("ns").Resource("pods").Name("web").SubResource("log"), 405, `put is not supported on resources of kind "pods/log"`},
		{"exec needs an upgrade", rc.Post().Namespace("ns").Resource("pods").Name("web").SubResource("exec").
			Param("container", "app").Param("command", "ls").Param("stdout", "true"), 400, "Upgrade request required"},
		{"exec in an unscheduled pod", rc.Post().Namespace("ns").Resource("pods").Name("pending").SubResource("exec").
			Param("command", "ls"), 400, "pod pending does not have a host assigned"},
		{"port-forward to an unscheduled pod", rc.Post().Namespace("ns").Resource("pods").Name("pending").SubResource("portforward"),
			400, "pod pending does not have a host assigned"},
		{"exec in an unknown container", rc.Post().Namespace("ns").Resource("pods").Name("web").SubResource("exec").
			Param("container", "nope").Param("command", "ls"), 400, "container nope is not valid for pod web"},
		{"exec without a container", rc.Post().Namespace("ns").Resource("pods").Name("web").SubResource("exec").Param("command", "ls"),
			400, "a container name must be specified for pod web, choose one of: [app status gone] or one of the init containers: [sidecar]"},
		{"attach in an unknown pod", rc.Post().Namespace("ns").Resource("pods").Name("ghost").SubResource("attach"), 404, `pods "ghost" not found`},
	}
	for _, tt := range tests {
		res := tt.req.Do(ctx)
		var code int
		res.StatusCode(&code)
		err := res.Error()
		if code != tt.code || err == nil || !strings.Contains(err.Error(), tt.substr) {
			t.Errorf("%s: got %d %v, want %d containing %q", tt.name, code, err, tt.code, tt.substr)
		}
	}
}

func execURL(env *proxyEnv, pod, sub string, params url.Values) *url.URL {
	u, _ := url.Parse(env.config.Host)
	u.Path = "/api/v1/namespaces/ns/pods/" + pod + "/" + sub
	u.RawQuery = params.Encode()
	return u
}

// fallbackExecutor tries WebSocket first and falls back to SPDY on an
// upgrade failure, as kubectl 1.32 does.
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

// TestExecProxy runs kubectl-style exec and attach through the API server
// to the fake kubelet: the WebSocket attempt is refused by the runtime
// and the SPDY fallback works.
func TestExecProxy(t *testing.T) {
	env := startProxyEnv(t, true)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	var out bytes.Buffer
	u := execURL(env, "web", "exec", url.Values{"container": {"app"}, "command": {"cat"}, "stdin": {"true"}, "stdout": {"true"}, "stderr": {"true"}})
	if err := fallbackExecutor(t, env.config, u).StreamWithContext(ctx,
		remotecommand.StreamOptions{Stdin: strings.NewReader("hello through two proxies\n"), Stdout: &out, Stderr: io.Discard}); err != nil {
		t.Fatalf("exec: %v", err)
	}
	if out.String() != "hello through two proxies\n" {
		t.Errorf("exec output %q", out.String())
	}
	r := env.kubelet.last("/exec/")
	if r.URL.Path != "/exec/ns/web/app" {
		t.Errorf("kubelet path %s", r.URL.Path)
	}
	if want := (url.Values{"command": {"cat"}, "input": {"1"}, "output": {"1"}, "error": {"1"}}).Encode(); r.URL.Query().Encode() != want {
		t.Errorf("kubelet query %s, want %s", r.URL.Query().Encode(), want)
	}
	if h := r.Header.Get("Authorization"); h != "" {
		t.Errorf("the caller's credentials reached the kubelet: %q", h)
	}
	if n := env.kubelet.streamer.Served("exec"); n != 1 {
		t.Errorf("exec sessions served: %d", n)
	}

	// Exit codes come back.
	u = execURL(env, "web", "exec", url.Values{"container": {"app"}, "command": {"exit", "42"}, "stdout": {"true"}})
	err := fallbackExecutor(t, env.config, u).StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: io.Discard, Stderr: io.Discard})
	var exitErr interface{ ExitStatus() int }
	if !errors.As(err, &exitErr) || exitErr.ExitStatus() != 42 {
		t.Errorf("exec exit 42: %v", err)
	}

	// Attach, with a terminal: stderr is not asked for.
	out.Reset()
	u = execURL(env, "web", "attach", url.Values{"container": {"app"}, "stdin": {"true"}, "stdout": {"true"}, "tty": {"true"}})
	sp, err := remotecommand.NewSPDYExecutor(env.config, "POST", u)
	if err != nil {
		t.Fatal(err)
	}
	if err := sp.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: strings.NewReader("hi\n"), Stdout: &out, Tty: true}); err != nil {
		t.Fatalf("attach: %v", err)
	}
	if out.String() != "hi\n" {
		t.Errorf("attach output %q", out.String())
	}
	if q := env.kubelet.last("/attach/").URL.Query(); q.Get("tty") != "1" || q.Get("input") != "1" || q.Get("output") != "1" || q.Get("error") != "1" {
		t.Errorf("kubelet attach query %s (stderr defaults on; the kubelet drops it for a terminal)", q.Encode())
	}

	// The kubelet being down is an error, not a hang.
	u = execURL(env, "unreachable", "exec", url.Values{"command": {"ls"}, "stdout": {"true"}})
	err = fallbackExecutor(t, env.config, u).StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: io.Discard, Stderr: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("exec on a node that is down: %v", err)
	}
}

// TestPortForwardProxy forwards a port through the API server to the
// fake kubelet, trying the WebSocket tunnel first as kubectl does.
func TestPortForwardProxy(t *testing.T) {
	env := startProxyEnv(t, true)
	u := execURL(env, "web", "portforward", nil)
	tunnel, err := portforward.NewSPDYOverWebsocketDialer(u, env.config)
	if err != nil {
		t.Fatal(err)
	}
	transport, upgrader, err := spdy.RoundTripperFor(env.config)
	if err != nil {
		t.Fatal(err)
	}
	dialer := portforward.NewFallbackDialer(tunnel, spdy.NewDialer(upgrader, &http.Client{Transport: transport}, "POST", u),
		func(err error) bool {
			return apihttpstream.IsUpgradeFailure(err) || httpstream.IsUpgradeFailure(err) ||
				apihttpstream.IsHTTPSProxyError(err) || httpstream.IsHTTPSProxyError(err)
		})
	stop, ready := make(chan struct{}), make(chan struct{})
	pf, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:80"}, stop, ready, io.Discard, io.Discard)
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
	for i := 0; i < 2; i++ { // two connections over one forward
		conn, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(ports[0].Local))))
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		msg := fmt.Sprintf("ping %d", i)
		if _, err := conn.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(conn, buf); err != nil || string(buf) != msg {
			t.Fatalf("echo through the forward: %q, %v", buf, err)
		}
		conn.Close()
	}
	if r := env.kubelet.last("/portForward/"); r == nil || r.URL.Path != "/portForward/ns/web" {
		t.Errorf("kubelet port-forward request %v", r)
	}
}

// TestNodesProxyPods: nodes/NAME/proxy/pods reaches the kubelet's /pods,
// also as NAME:PORT with the kubelet's port, and passes its JSON on;
// another port, or another path, is not proxied.
func TestNodesProxyPods(t *testing.T) {
	env := startProxyEnv(t, true)
	ctx := context.Background()
	rc := env.client.CoreV1().RESTClient()
	port := strconv.Itoa(int(env.kubelet.port()))
	for _, name := range []string{"node-1", "node-1:" + port, "https:node-1:" + port} {
		var list corev1.PodList
		if err := rc.Get().Resource("nodes").Name(name).SubResource("proxy").Suffix("pods").Do(ctx).Into(&list); err != nil {
			t.Fatalf("nodes/%s/proxy/pods: %v", name, err)
		}
		if len(list.Items) != 1 || list.Items[0].Name != "web" {
			t.Errorf("nodes/%s/proxy/pods = %+v", name, list)
		}
	}
	for _, tt := range []struct {
		name, suffix string
		code         int
	}{{"node-1:1", "pods", 503}, {"node-1", "configz", 403}} {
		var code int
		rc.Get().Resource("nodes").Name(tt.name).SubResource("proxy").Suffix(tt.suffix).Do(ctx).StatusCode(&code)
		if code != tt.code {
			t.Errorf("nodes/%s/proxy/%s: %d, want %d", tt.name, tt.suffix, code, tt.code)
		}
	}
}
