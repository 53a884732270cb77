package prober

import (
	"context"
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

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/berth-dev/berth/internal/cri"
)

// fakeRuntime is ExecSync only: each container ID answers with the exit
// code, output and error set for it (default exit 0), and calls are
// recorded.
type fakeRuntime struct {
	mu    sync.Mutex
	resp  map[string]execResp
	calls []execCall
}

type execResp struct {
	res cri.ExecResult
	err error
}

type execCall struct {
	id      string
	cmd     []string
	timeout time.Duration
}

func newFakeRuntime() *fakeRuntime { return &fakeRuntime{resp: map[string]execResp{}} }

func (f *fakeRuntime) ExecSync(ctx context.Context, id string, cmd []string, timeout time.Duration) (cri.ExecResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, execCall{id, cmd, timeout})
	r := f.resp[id]
	return r.res, r.err
}

func (f *fakeRuntime) set(id string, exitCode int32, output string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resp[id] = execResp{res: cri.ExecResult{Stdout: []byte(output), ExitCode: exitCode}}
}

func (f *fakeRuntime) setErr(id string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resp[id] = execResp{err: err}
}

// commands returns the first word of each command run, in order.
func (f *fakeRuntime) commands() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		out = append(out, c.cmd[0])
	}
	return out
}

func TestResolvePort(t *testing.T) {
	c := &corev1.Container{Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {Name: "zero"}}}
	tests := []struct {
		name    string
		port    intstr.IntOrString
		want    int
		wantErr string
	}{
		{"number", intstr.FromInt32(80), 80, ""},
		{"named", intstr.FromString("http"), 8080, ""},
		{"number as string", intstr.FromString("9090"), 9090, ""},
		{"unknown name", intstr.FromString("metrics"), 0, `strconv.Atoi: parsing "metrics": invalid syntax`},
		{"zero", intstr.FromInt32(0), 0, "invalid port number: 0"},
		{"too big", intstr.FromInt32(70000), 0, "invalid port number: 70000"},
		{"named port without number", intstr.FromString("zero"), 0, "invalid port number: 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolvePort(tt.port, c)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("resolvePort() error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("resolvePort() = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

func TestExpandCommand(t *testing.T) {
	env := []corev1.EnvVar{
		{Name: "PORT", Value: "8080"},
		{Name: "FROM_SECRET", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Key: "k"}}},
		{Name: "DUP", Value: "first"},
		{Name: "DUP", Value: "second"},
	}
	tests := []struct{ in, want string }{
		{"curl localhost:$(PORT)/healthz", "curl localhost:8080/healthz"},
		{"$(MISSING)", "$(MISSING)"},
		{"$$(PORT)", "$(PORT)"},
		{"cost $5", "cost $5"},
		{"trailing $", "trailing $"},
		{"open $(PORT", "open $(PORT"},
		{"$(FROM_SECRET)", ""},
		{"$(DUP)", "second"},
		{"$(PORT)$(PORT)", "80808080"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := expandCommand([]string{"sh", tt.in}, env)
			if diff := cmp.Diff([]string{"sh", tt.want}, got); diff != "" {
				t.Errorf("expandCommand(%q) (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestProbeExec(t *testing.T) {
	long := strings.Repeat("x", 12<<10)
	tests := []struct {
		name       string
		resp       execResp
		want       outcome
		wantOutput string
		wantErr    bool
	}{
		{"exit 0", execResp{res: cri.ExecResult{Stdout: []byte("ok\n")}}, outcomeSuccess, "ok\n", false},
		{"exit 1 with stdout then stderr", execResp{res: cri.ExecResult{Stdout: []byte("out\n"), Stderr: []byte("err\n"), ExitCode: 1}},
			outcomeFailure, "out\nerr\n", false},
		{"silent failure", execResp{res: cri.ExecResult{ExitCode: 2}}, outcomeFailure, "", false},
		{"output capped at 10 KiB", execResp{res: cri.ExecResult{Stdout: []byte(long), ExitCode: 1}}, outcomeFailure, long[:10<<10], false},
		{"runtime timeout", execResp{err: cri.NewError(codes.DeadlineExceeded, "timeout 1s exceeded: context deadline exceeded")},
			outcomeFailure, `command "sh -c sleep 10" timed out`, false},
		{"container gone", execResp{err: cri.NewError(codes.NotFound, "container not found")}, outcomeUnknown, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt := newFakeRuntime()
			rt.resp["c1"] = tt.resp
			m := newTestManager(t, rt)
			got, output, err := m.probeExec(context.Background(), "c1", []string{"sh", "-c", "sleep 10"}, 3*time.Second)
			if (err != nil) != tt.wantErr {
				t.Fatalf("probeExec() error = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want || output != tt.wantOutput {
				t.Errorf("probeExec() = %v, %q; want %v, %q", got, output, tt.want, tt.wantOutput)
			}
			if c := rt.calls[0]; c.timeout != 3*time.Second || c.id != "c1" {
				t.Errorf("ExecSync(%q, timeout %v); want c1 with 3s", c.id, c.timeout)
			}
		})
	}
}

func newTestManager(t *testing.T, rt Runtime) *Manager {
	t.Helper()
	m, err := New(Config{Runtime: rt, KubeletVersion: "v1.35.0-berth"})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// seen is what an HTTP test server saw of the last request.
type seen struct {
	mu     sync.Mutex
	header http.Header
	host   string
	path   string
}

func (s *seen) record(r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.header, s.host, s.path = r.Header.Clone(), r.Host, r.URL.RequestURI()
}

func TestProbeHTTP(t *testing.T) {
	var got seen
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { got.record(r); _, _ = io.WriteString(w, "fine") })
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) {
		got.record(r)
		http.Error(w, "secret details", http.StatusInternalServerError)
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, strings.Repeat("b", 64<<10)) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	// A redirect to another host ("localhost" is not "127.0.0.1") is not followed.
	mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)+"/ok")
		w.WriteHeader(http.StatusMovedPermanently)
		_, _ = io.WriteString(w, "gone")
	})
	tlsSrv := httptest.NewTLSServer(mux)
	defer tlsSrv.Close()
	port := portOf(t, srv.URL)
	tlsPort := portOf(t, tlsSrv.URL)
	c := &corev1.Container{Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: int32(port)}}}

	tests := []struct {
		name       string
		get        corev1.HTTPGetAction
		timeout    time.Duration
		want       outcome
		wantOutput string // prefix
		wantHeader http.Header
		wantHost   string
		wantPath   string
	}{
		{name: "200", get: corev1.HTTPGetAction{Path: "/ok", Port: intstr.FromInt(port)}, want: outcomeSuccess, wantOutput: "fine",
			wantHeader: http.Header{"User-Agent": {"kube-probe/1.35"}, "Accept": {"*/*"}}, wantPath: "/ok"},
		{name: "named port and query", get: corev1.HTTPGetAction{Path: "/ok?x=1", Port: intstr.FromString("web")}, want: outcomeSuccess,
			wantPath: "/ok?x=1"},
		{name: "500", get: corev1.HTTPGetAction{Path: "/fail", Port: intstr.FromInt(port)}, want: outcomeFailure,
			wantOutput: "HTTP probe failed with statuscode: 500"},
		{name: "404", get: corev1.HTTPGetAction{Path: "/nothing", Port: intstr.FromInt(port)}, want: outcomeFailure,
			wantOutput: "HTTP probe failed with statuscode: 404"},
		{name: "redirect to the same host is followed", get: corev1.HTTPGetAction{Path: "/moved", Port: intstr.FromInt(port)},
			want: outcomeSuccess, wantOutput: "fine", wantPath: "/ok"},
		{name: "redirect to another host is a warning", get: corev1.HTTPGetAction{Path: "/elsewhere", Port: intstr.FromInt(port)},
			want: outcomeWarning, wantOutput: "Probe terminated redirects, Response body: gone"},
		{name: "headers", get: corev1.HTTPGetAction{Path: "/ok", Port: intstr.FromInt(port), HTTPHeaders: []corev1.HTTPHeader{
			{Name: "X-Custom", Value: "a"}, {Name: "x-custom", Value: "b"}, {Name: "User-Agent", Value: "mine"},
			{Name: "Accept", Value: ""}, {Name: "Host", Value: "example.com"}}},
			want: outcomeSuccess, wantHeader: http.Header{"X-Custom": {"a", "b"}, "User-Agent": {"mine"}}, wantHost: "example.com"},
		{name: "https without verification", get: corev1.HTTPGetAction{Path: "/ok", Port: intstr.FromInt(tlsPort), Scheme: corev1.URISchemeHTTPS},
			want: outcomeSuccess, wantOutput: "fine"},
		{name: "body read capped", get: corev1.HTTPGetAction{Path: "/big", Port: intstr.FromInt(port)}, want: outcomeSuccess,
			wantOutput: strings.Repeat("b", 10<<10)},
		{name: "timeout", get: corev1.HTTPGetAction{Path: "/slow", Port: intstr.FromInt(port)}, timeout: 100 * time.Millisecond,
			want: outcomeFailure, wantOutput: fmt.Sprintf(`Get "http://127.0.0.1:%d/slow": context deadline exceeded (Client.Timeout exceeded`, port)},
		{name: "refused", get: corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt(closedPort(t))}, want: outcomeFailure,
			wantOutput: `Get "http://127.0.0.1:`},
	}
	p := newHTTPProber("kube-probe/1.35")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got.record(&http.Request{URL: &url.URL{}})
			req, err := p.request(context.Background(), &tt.get, c, "127.0.0.1")
			if err != nil {
				t.Fatal(err)
			}
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			out, output, err := p.probe(req, timeout)
			if err != nil {
				t.Fatal(err)
			}
			if out != tt.want || !strings.HasPrefix(output, tt.wantOutput) {
				t.Errorf("probe() = %v, %q; want %v, %q…", out, output, tt.want, tt.wantOutput)
			}
			if tt.wantOutput != "" && strings.Contains(output, "secret") {
				t.Errorf("output %q shows the response body", output)
			}
			if len(output) > len(tt.wantOutput)+200 && tt.want == outcomeSuccess {
				t.Errorf("output is %d bytes", len(output))
			}
			got.mu.Lock()
			defer got.mu.Unlock()
			for k, v := range tt.wantHeader {
				if diff := cmp.Diff(v, got.header.Values(k)); diff != "" {
					t.Errorf("header %s (-want +got):\n%s", k, diff)
				}
			}
			if tt.wantHeader != nil && tt.wantHeader.Get("Accept") == "" && got.header.Get("Accept") != "" {
				t.Errorf("Accept = %q, want none", got.header.Get("Accept"))
			}
			if tt.wantHost != "" && got.host != tt.wantHost {
				t.Errorf("Host = %q, want %q", got.host, tt.wantHost)
			}
			if tt.wantPath != "" && got.path != tt.wantPath {
				t.Errorf("path = %q, want %q", got.path, tt.wantPath)
			}
		})
	}
}

func TestHTTPRequest(t *testing.T) {
	p := newHTTPProber("kube-probe/1.35")
	c := &corev1.Container{}
	tests := []struct {
		name    string
		get     corev1.HTTPGetAction
		podIP   string
		wantURL string
		wantErr string
	}{
		{"pod IP by default", corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(80)}, "10.88.0.5", "http://10.88.0.5:80/healthz", ""},
		{"host given", corev1.HTTPGetAction{Path: "/", Host: "example.com", Port: intstr.FromInt32(8443), Scheme: "HTTPS"}, "10.88.0.5",
			"https://example.com:8443/", ""},
		{"IPv6 pod IP", corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(80)}, "fd00::5", "http://[fd00::5]:80/", ""},
		{"no pod IP", corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(80)}, "", "", errNoPodIP.Error()},
		{"unknown port name", corev1.HTTPGetAction{Path: "/", Port: intstr.FromString("web")}, "10.88.0.5", "",
			`strconv.Atoi: parsing "web": invalid syntax`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := p.request(context.Background(), &tt.get, c, tt.podIP)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("request() error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if req.URL.String() != tt.wantURL {
				t.Errorf("URL = %s, want %s", req.URL, tt.wantURL)
			}
		})
	}
}

func portOf(t *testing.T, rawURL string) int {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	p, err := strconv.Atoi(u.Port())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// closedPort returns a local port nothing listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return port
}

func TestProbeTCP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	open := l.Addr().(*net.TCPAddr).Port
	closed := closedPort(t)
	tests := []struct {
		name       string
		port       int
		want       outcome
		wantOutput string
	}{
		{"listening", open, outcomeSuccess, ""},
		{"refused", closed, outcomeFailure, fmt.Sprintf("dial tcp 127.0.0.1:%d: connect: connection refused", closed)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, output, err := probeTCP(context.Background(), "127.0.0.1", tt.port, time.Second)
			if err != nil || got != tt.want || output != tt.wantOutput {
				t.Errorf("probeTCP() = %v, %q, %v; want %v, %q", got, output, err, tt.want, tt.wantOutput)
			}
		})
	}
}

func TestProbeGRPC(t *testing.T) {
	// A server with the health service: "" and "db" serve, "cache" does not.
	var mu sync.Mutex
	var userAgent string
	srv := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		md, _ := metadata.FromIncomingContext(ctx)
		mu.Lock()
		userAgent = strings.Join(md.Get("user-agent"), ",")
		mu.Unlock()
		return h(ctx, req)
	}))
	hs := health.NewServer()
	hs.SetServingStatus("db", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("cache", healthpb.HealthCheckResponse_NOT_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	healthy := serve(t, srv)
	// A gRPC server without the health service.
	bare := serve(t, grpc.NewServer())
	closed := closedPort(t)

	tests := []struct {
		name       string
		port       int
		service    string
		timeout    time.Duration
		want       outcome
		wantOutput string
	}{
		{"serving", healthy, "", time.Second, outcomeSuccess, "service healthy"},
		{"named service serving", healthy, "db", time.Second, outcomeSuccess, "service healthy"},
		{"not serving", healthy, "cache", time.Second, outcomeFailure, `service unhealthy (responded with "NOT_SERVING")`},
		{"unknown service", healthy, "nope", time.Second, outcomeFailure,
			"error: health rpc probe failed: rpc error: code = NotFound desc = unknown service"},
		{"no health service", bare, "", time.Second, outcomeFailure,
			"error: this server does not implement the grpc health protocol (grpc.health.v1.Health): unknown service grpc.health.v1.Health"},
		{"nothing listening", closed, "", 300 * time.Millisecond, outcomeFailure,
			fmt.Sprintf(`timeout: failed to connect service "127.0.0.1:%d" within 300ms: context deadline exceeded`, closed)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, output, err := probeGRPC(context.Background(), "127.0.0.1", tt.service, tt.port, tt.timeout, "kube-probe/1.35")
			if err != nil || got != tt.want || output != tt.wantOutput {
				t.Errorf("probeGRPC() = %v, %q, %v; want %v, %q", got, output, err, tt.want, tt.wantOutput)
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.HasPrefix(userAgent, "kube-probe/1.35") {
		t.Errorf("user-agent = %q, want kube-probe/1.35 …", userAgent)
	}
}

func serve(t *testing.T, srv *grpc.Server) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	return l.Addr().(*net.TCPAddr).Port
}

func TestRunProbeRetriesErrors(t *testing.T) {
	rt := newFakeRuntime()
	rt.setErr("c1", cri.NewError(codes.NotFound, "container c1 not found"))
	m := newTestManager(t, rt)
	p := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}
	out, _, err := m.runProbe(context.Background(), p, &corev1.Container{Name: "app"}, "", "c1", "web_default(u1)")
	if !errors.Is(err, cri.ErrNotFound) || out != outcomeUnknown {
		t.Fatalf("runProbe() = %v, %v; want unknown, not found", out, err)
	}
	if n := len(rt.calls); n != maxProbeRetries {
		t.Errorf("ExecSync called %d times, want %d", n, maxProbeRetries)
	}
	// A probe with no handler errors without retrying anything.
	_, _, err = m.runProbe(context.Background(), &corev1.Probe{}, &corev1.Container{Name: "app"}, "", "c1", "web_default(u1)")
	if err == nil || err.Error() != "missing probe handler for web_default(u1):app" {
		t.Errorf("runProbe(no handler) error = %v", err)
	}
}
