package hooks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/cri"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// fakeExec answers ExecSync from a script; block makes it wait for ctx.
type fakeExec struct {
	mu      sync.Mutex
	res     cri.ExecResult
	err     error
	block   bool
	calls   int
	id      string
	cmd     []string
	timeout time.Duration
}

func (f *fakeExec) ExecSync(ctx context.Context, id string, cmd []string, timeout time.Duration) (cri.ExecResult, error) {
	f.mu.Lock()
	f.calls++
	f.id, f.cmd, f.timeout = id, cmd, timeout
	f.mu.Unlock()
	if f.block {
		<-ctx.Done()
		return cri.ExecResult{}, ctx.Err()
	}
	return f.res, f.err
}

func testPod() (*corev1.Pod, *corev1.Container) {
	c := corev1.Container{Name: "app", Ports: []corev1.ContainerPort{{Name: "web", ContainerPort: 1}}}
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns1", UID: "uid1"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{c}}}
	return p, &p.Spec.Containers[0]
}

func execHandler(cmd ...string) *corev1.LifecycleHandler {
	return &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: cmd}}
}

func TestExec(t *testing.T) {
	tests := []struct {
		name        string
		fake        *fakeExec
		ctxTimeout  time.Duration
		redact      []string
		wantErr     string
		wantSummary string
		wantCode    *int32
		wantOutput  string
		wantCancel  bool
	}{
		{name: "exit 0 succeeds", fake: &fakeExec{res: cri.ExecResult{Stdout: []byte("hello\n")}},
			wantSummary: "exec [sh -c exit 3] exited with code 0", wantCode: ptr(int32(0)), wantOutput: "hello\n"},
		{name: "non-zero exit fails with the kubelet's message",
			fake: &fakeExec{res: cri.ExecResult{Stdout: []byte("out\n"), Stderr: []byte("oops\n"), ExitCode: 3}},
			wantErr: `Exec lifecycle hook ([sh -c exit 3]) for Container "app" in Pod "web_ns1(uid1)" failed - error: command 'sh -c exit 3' exited with 3: oops
, message: "out\noops\n"`,
			wantSummary: "exec [sh -c exit 3] exited with code 3: oops", wantCode: ptr(int32(3)), wantOutput: "out\noops\n"},
		{name: "runtime error (command missing)", fake: &fakeExec{err: errors.New(`OCI runtime exec failed: exec: "nope": executable file not found in $PATH`)},
			wantErr:     `Exec lifecycle hook ([sh -c exit 3]) for Container "app" in Pod "web_ns1(uid1)" failed - error: OCI runtime exec failed: exec: "nope": executable file not found in $PATH, message: ""`,
			wantSummary: `exec [sh -c exit 3] failed: OCI runtime exec failed: exec: "nope": executable file not found in $PATH`},
		{name: "a hook that never returns ends with ctx", fake: &fakeExec{block: true}, ctxTimeout: 100 * time.Millisecond,
			wantErr:     `Exec lifecycle hook ([sh -c exit 3]) for Container "app" in Pod "web_ns1(uid1)" failed - error: context deadline exceeded, message: ""`,
			wantSummary: "exec [sh -c exit 3] did not finish in time (context deadline exceeded)", wantCancel: true},
		{name: "secret values are masked", fake: &fakeExec{res: cri.ExecResult{Stderr: []byte("token hunter2 rejected"), ExitCode: 1}},
			redact:      []string{"hunter2", ""},
			wantErr:     `Exec lifecycle hook ([sh -c exit 3]) for Container "app" in Pod "web_ns1(uid1)" failed - error: command 'sh -c exit 3' exited with 1: token *** rejected, message: "token *** rejected"`,
			wantSummary: "exec [sh -c exit 3] exited with code 1: token *** rejected", wantCode: ptr(int32(1)), wantOutput: "token *** rejected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			r := New(Config{Runtime: tt.fake, Dir: dir})
			pod, c := testPod()
			ctx := context.Background()
			if tt.ctxTimeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctxTimeout)
				defer cancel()
			}
			start := time.Now()
			res := r.Run(ctx, Request{Kind: PostStart, Pod: pod, Container: c, ContainerID: "c1",
				Handler: execHandler("sh", "-c", "exit 3"), Redact: tt.redact})
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Run took %v", d)
			}
			checkErr(t, res.Err, tt.wantErr)
			if res.Summary != tt.wantSummary {
				t.Errorf("Summary = %q, want %q", res.Summary, tt.wantSummary)
			}
			if tt.fake.id != "c1" || tt.fake.timeout != 0 {
				t.Errorf("ExecSync(%q, timeout %v), want c1 and no timeout", tt.fake.id, tt.fake.timeout)
			}
			runs, err := Load(dir, pod.UID, "app")
			if err != nil || len(runs) != 1 {
				t.Fatalf("Load = %v, %v; want one run", runs, err)
			}
			got := runs[0]
			if got.Kind != PostStart || got.Handler != "exec [sh -c exit 3]" || got.ContainerID != "c1" || got.Start.IsZero() {
				t.Errorf("record = %+v", got)
			}
			if (got.ExitCode == nil) != (tt.wantCode == nil) || (got.ExitCode != nil && *got.ExitCode != *tt.wantCode) {
				t.Errorf("ExitCode = %v, want %v", got.ExitCode, tt.wantCode)
			}
			if got.Output != tt.wantOutput || got.Error != tt.wantErr || got.Cancelled != tt.wantCancel {
				t.Errorf("record output %q error %q cancelled %v; want %q %q %v", got.Output, got.Error, got.Cancelled, tt.wantOutput, tt.wantErr, tt.wantCancel)
			}
			for _, v := range tt.redact {
				if v != "" && (strings.Contains(res.Err.Error(), v) || strings.Contains(errors.Unwrap(res.Err).Error(), v)) {
					t.Errorf("a secret value shows in %q", res.Err)
				}
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("Err = %v, want success", err)
	case want != "" && err == nil:
		t.Errorf("Err = nil, want %q", want)
	case want != "" && err.Error() != want:
		t.Errorf("Err =\n  %q\nwant\n  %q", err.Error(), want)
	}
}

// seen is what a test server received.
type seen struct {
	mu     sync.Mutex
	reqs   int
	path   string
	host   string
	header http.Header
}

func (s *seen) handler(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.reqs++
	s.path, s.host, s.header = r.URL.RequestURI(), r.Host, r.Header.Clone()
	s.mu.Unlock()
	switch r.URL.Path {
	case "/fail":
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("broken\n"))
	case "/big":
		_, _ = w.Write([]byte(strings.Repeat("a", 20<<10)))
	case "/hang":
		<-r.Context().Done()
	default:
		_, _ = w.Write([]byte("ok"))
	}
}

func portOf(t *testing.T, rawURL string) int {
	t.Helper()
	_, p, _ := net.SplitHostPort(strings.TrimPrefix(strings.TrimPrefix(rawURL, "https://"), "http://"))
	var n int
	_, _ = fmt.Sscan(p, &n)
	return n
}

func closedPort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return p
}

func TestHTTPGet(t *testing.T) {
	var plain, secure seen
	hs := httptest.NewServer(http.HandlerFunc(plain.handler))
	defer hs.Close()
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(secure.handler))
	defer tlsSrv.Close()
	hp, tp, closed := portOf(t, hs.URL), portOf(t, tlsSrv.URL), closedPort(t)
	// A host that accepts connections and never answers.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	sp := silent.Addr().(*net.TCPAddr).Port

	tests := []struct {
		name         string
		get          corev1.HTTPGetAction
		namedPort    int
		podIP        string
		ctxTimeout   time.Duration
		srv          *seen
		wantErr      string // prefix
		wantPath     string
		wantHeader   http.Header
		wantHost     string
		wantStatus   int
		wantOutput   string
		wantFallback bool
		wantHandler  string
	}{
		{name: "pod IP, path with query, default headers", get: corev1.HTTPGetAction{Path: "/echo?msg=poststart", Port: intstr.FromInt(hp)},
			podIP: "127.0.0.1", srv: &plain, wantPath: "/echo?msg=poststart",
			wantHeader: http.Header{"User-Agent": {"kube-lifecycle/1.35"}, "Accept": {"*/*"}}, wantStatus: 200, wantOutput: "ok",
			wantHandler: fmt.Sprintf("httpGet http://127.0.0.1:%d/echo?msg=poststart", hp)},
		{name: "named port of this container", get: corev1.HTTPGetAction{Path: "/", Port: intstr.FromString("web")}, namedPort: hp,
			podIP: "127.0.0.1", srv: &plain, wantPath: "/", wantStatus: 200},
		{name: "headers in order, UA and Host given", get: corev1.HTTPGetAction{Host: "127.0.0.1", Path: "/h", Port: intstr.FromInt(hp),
			HTTPHeaders: []corev1.HTTPHeader{{Name: "X-A", Value: "1"}, {Name: "X-A", Value: "2"}, {Name: "User-Agent", Value: "mine"}, {Name: "Host", Value: "example.com"}}},
			srv: &plain, wantPath: "/h", wantHeader: http.Header{"X-A": {"1", "2"}, "User-Agent": {"mine"}}, wantHost: "example.com", wantStatus: 200,
			wantHandler: fmt.Sprintf("httpGet http://127.0.0.1:%d/h (headers X-A, X-A, User-Agent, Host)", hp)},
		{name: "a 500 still succeeds", get: corev1.HTTPGetAction{Path: "/fail", Port: intstr.FromInt(hp)}, podIP: "127.0.0.1", srv: &plain,
			wantStatus: 500, wantOutput: "broken\n"},
		{name: "body tail bounded", get: corev1.HTTPGetAction{Path: "/big", Port: intstr.FromInt(hp)}, podIP: "127.0.0.1", srv: &plain,
			wantStatus: 200, wantOutput: strings.Repeat("a", 4<<10)},
		{name: "https self-signed", get: corev1.HTTPGetAction{Path: "/s", Port: intstr.FromInt(tp), Scheme: corev1.URISchemeHTTPS},
			podIP: "127.0.0.1", srv: &secure, wantPath: "/s", wantStatus: 200},
		{name: "https answered in http falls back without Authorization", get: corev1.HTTPGetAction{Path: "/fb", Port: intstr.FromInt(hp), Scheme: corev1.URISchemeHTTPS,
			HTTPHeaders: []corev1.HTTPHeader{{Name: "Authorization", Value: "Bearer x"}}},
			podIP: "127.0.0.1", srv: &plain, wantPath: "/fb", wantHeader: http.Header{"Authorization": nil}, wantStatus: 200, wantFallback: true},
		{name: "closed port fails", get: corev1.HTTPGetAction{Path: "/x", Port: intstr.FromInt(closed)}, podIP: "127.0.0.1", ctxTimeout: 10 * time.Second,
			wantErr: fmt.Sprintf(`HTTP lifecycle hook (/x) for Container "app" in Pod "web_ns1(uid1)" failed - error: Get "http://127.0.0.1:%d/x": dial tcp`, closed)},
		{name: "a host that never answers ends with ctx", get: corev1.HTTPGetAction{Path: "/x", Port: intstr.FromInt(sp)}, podIP: "127.0.0.1",
			ctxTimeout: 200 * time.Millisecond,
			wantErr:    fmt.Sprintf(`HTTP lifecycle hook (/x) for Container "app" in Pod "web_ns1(uid1)" failed - error: Get "http://127.0.0.1:%d/x": context deadline exceeded`, sp)},
		{name: "a server that hangs ends with ctx", get: corev1.HTTPGetAction{Path: "/hang", Port: intstr.FromInt(hp)}, podIP: "127.0.0.1",
			ctxTimeout: 200 * time.Millisecond, wantErr: `HTTP lifecycle hook (/hang) for Container "app" in Pod "web_ns1(uid1)" failed - error: Get "http://127.0.0.1:`},
		{name: "no pod IP", get: corev1.HTTPGetAction{Path: "/x", Port: intstr.FromInt(hp)},
			wantErr: `HTTP lifecycle hook (/x) for Container "app" in Pod "web_ns1(uid1)" failed - error: failed to find networking container`},
		{name: "unknown port name", get: corev1.HTTPGetAction{Path: "/x", Port: intstr.FromString("nope")}, podIP: "127.0.0.1",
			wantErr: `HTTP lifecycle hook (/x) for Container "app" in Pod "web_ns1(uid1)" failed - error: strconv.Atoi: parsing "nope": invalid syntax`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			r := New(Config{Dir: dir})
			pod, c := testPod()
			if tt.namedPort != 0 {
				c.Ports[0].ContainerPort = int32(tt.namedPort)
			}
			ctx := context.Background()
			if tt.ctxTimeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctxTimeout)
				defer cancel()
			}
			start := time.Now()
			res := r.Run(ctx, Request{Kind: PreStop, Pod: pod, Container: c, PodIP: tt.podIP,
				Handler: &corev1.LifecycleHandler{HTTPGet: &tt.get}})
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("Run took %v", d)
			}
			if tt.wantErr == "" && res.Err != nil || tt.wantErr != "" && (res.Err == nil || !strings.HasPrefix(res.Err.Error(), tt.wantErr)) {
				t.Fatalf("Err = %v, want prefix %q", res.Err, tt.wantErr)
			}
			runs, err := Load(dir, pod.UID, "app")
			if err != nil || len(runs) != 1 {
				t.Fatalf("Load = %v, %v", runs, err)
			}
			rec := runs[0]
			if rec.HTTPStatus != tt.wantStatus || (tt.wantOutput != "" && rec.Output != tt.wantOutput) {
				t.Errorf("record status %d output %.40q…; want %d %.40q…", rec.HTTPStatus, rec.Output, tt.wantStatus, tt.wantOutput)
			}
			if tt.wantHandler != "" && rec.Handler != tt.wantHandler {
				t.Errorf("Handler = %q, want %q", rec.Handler, tt.wantHandler)
			}
			if (res.FallbackHost != "") != tt.wantFallback {
				t.Errorf("FallbackHost = %q, want fallback %v", res.FallbackHost, tt.wantFallback)
			}
			if tt.wantFallback && res.FallbackHost != fmt.Sprintf("127.0.0.1:%d", hp) {
				t.Errorf("FallbackHost = %q", res.FallbackHost)
			}
			if tt.srv == nil {
				return
			}
			tt.srv.mu.Lock()
			defer tt.srv.mu.Unlock()
			if tt.wantPath != "" && tt.srv.path != tt.wantPath {
				t.Errorf("path = %q, want %q", tt.srv.path, tt.wantPath)
			}
			for k, v := range tt.wantHeader {
				if got := tt.srv.header.Values(k); strings.Join(got, ",") != strings.Join(v, ",") {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if tt.wantHost != "" && tt.srv.host != tt.wantHost {
				t.Errorf("Host = %q, want %q", tt.srv.host, tt.wantHost)
			}
		})
	}
}

func TestSleepAndInvalid(t *testing.T) {
	pod, c := testPod()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	short, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	tests := []struct {
		name    string
		ctx     context.Context
		h       *corev1.LifecycleHandler
		wantErr string
		maxTime time.Duration
		minTime time.Duration
	}{
		{name: "sleep 0 returns at once, even with ctx ended", ctx: cancelled, h: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 0}},
			maxTime: 50 * time.Millisecond},
		{name: "sleep 1", ctx: context.Background(), h: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 1}},
			minTime: time.Second, maxTime: 3 * time.Second},
		{name: "sleep cut short", ctx: short, h: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 30}},
			wantErr: `Sleep lifecycle hook (30) for Container "app" in Pod "web_ns1(uid1)" failed - error: container terminated before sleep hook finished`,
			maxTime: 2 * time.Second},
		{name: "tcpSocket is not supported", ctx: context.Background(),
			h:       &corev1.LifecycleHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt(8080)}},
			wantErr: "Cannot run handler: invalid handler: " + (&corev1.LifecycleHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt(8080)}}).String()},
		{name: "no handler", ctx: context.Background(), h: &corev1.LifecycleHandler{},
			wantErr: "Cannot run handler: invalid handler: &LifecycleHandler{Exec:nil,HTTPGet:nil,TCPSocket:nil,Sleep:nil,}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := New(Config{})
			start := time.Now()
			res := r.Run(tt.ctx, Request{Kind: PreStop, Pod: pod, Container: c, Handler: tt.h})
			d := time.Since(start)
			checkErr(t, res.Err, tt.wantErr)
			if tt.maxTime > 0 && d > tt.maxTime || d < tt.minTime {
				t.Errorf("Run took %v, want between %v and %v", d, tt.minTime, tt.maxTime)
			}
			if res.Err != nil && res.Summary == "" {
				t.Error("no summary for a failure")
			}
		})
	}
}

func TestRecords(t *testing.T) {
	dir := t.TempDir()
	f := &fakeExec{res: cri.ExecResult{Stdout: []byte(strings.Repeat("x", 10<<10) + "end")}}
	r := New(Config{Runtime: f, Dir: dir})
	pod, c := testPod()
	var wg sync.WaitGroup
	for i := 0; i < 12; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.Run(context.Background(), Request{Kind: PostStart, Pod: pod, Container: c, ContainerID: "c1", Handler: execHandler("true")})
		}()
	}
	wg.Wait()
	r.Run(context.Background(), Request{Kind: PreStop, Pod: pod, Container: c, ContainerID: "c1", Handler: execHandler("last")})
	runs, err := Load(dir, pod.UID, "app")
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 10 {
		t.Fatalf("%d runs kept, want 10", len(runs))
	}
	if last := runs[len(runs)-1]; last.Kind != PreStop || last.Handler != "exec [last]" {
		t.Errorf("newest run is not last: %+v", last)
	}
	for _, run := range runs {
		if len(run.Output) > 4<<10 || !strings.HasSuffix(run.Output, "end") || !run.OutputTruncated {
			t.Fatalf("output not a bounded tail: %d bytes, truncated %v", len(run.Output), run.OutputTruncated)
		}
	}
	if runs, err := Load(dir, pod.UID, "other"); err != nil || len(runs) != 0 {
		t.Errorf("Load(no runs) = %v, %v; want none, no error", runs, err)
	}
	for _, bad := range []string{"..", "../app", ""} {
		if _, err := Load(dir, "uid1", bad); err == nil {
			t.Errorf("Load(%q) succeeded", bad)
		}
	}
	if _, err := Load(dir, "..", "app"); err == nil {
		t.Error(`Load(pod "..") succeeded`)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "uid1"))
	if len(entries) != 1 {
		t.Errorf("records dir holds %d files, want 1 (no temporary files left)", len(entries))
	}
	r.Forget(pod.UID)
	if _, err := os.Stat(filepath.Join(dir, "uid1")); !os.IsNotExist(err) {
		t.Errorf("Forget left the pod's records: %v", err)
	}
	// No Dir: nothing is kept, and nothing fails.
	New(Config{Runtime: f}).Run(context.Background(), Request{Kind: PostStart, Pod: pod, Container: c, Handler: execHandler("true")})
}

func TestSummaryBounded(t *testing.T) {
	f := &fakeExec{res: cri.ExecResult{Stderr: []byte(strings.Repeat("é", 400)), ExitCode: 2}}
	pod, c := testPod()
	res := New(Config{Runtime: f}).Run(context.Background(), Request{Kind: PostStart, Pod: pod, Container: c, Handler: execHandler("x")})
	if len(res.Summary) > 256 || !strings.HasPrefix(res.Summary, "exec [x] exited with code 2: éé") {
		t.Errorf("Summary = %d bytes: %q", len(res.Summary), res.Summary)
	}
	if !strings.HasSuffix(res.Summary, "…") {
		t.Errorf("a clipped summary should say so: %q", res.Summary)
	}
}
