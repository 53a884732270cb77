package apiserver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/storage"
	"github.com/berth-dev/berth/internal/storage/memory"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const cmJSON = `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":%q,"namespace":"default"},"data":{"a":%q}}`

// TestJSONPatchBomb: a patch of a few kilobytes whose copies double one
// value is refused with 422 once the copies add 3 MiB (CVE-2019-1002100).
func TestJSONPatchBomb(t *testing.T) {
	_, do := newTestServer(t)
	if rec := do("POST", "/api/v1/namespaces/default/configmaps", "application/json", fmt.Sprintf(cmJSON, "bomb", "x")); rec.Code != http.StatusCreated {
		t.Fatalf("create: %d %s", rec.Code, rec.Body)
	}
	ops := []string{fmt.Sprintf(`{"op":"add","path":"/x","value":{"v":%q}}`, strings.Repeat("a", 1024))}
	// 13 doublings: 8 MiB of copies. Without the copy limit this still
	// stays small enough for a test machine (the result is refused for its
	// size instead, with 413), so the test can fail without harm.
	for i := range 13 {
		ops = append(ops, fmt.Sprintf(`{"op":"copy","from":"/x","path":"/x/c%d"}`, i))
	}
	patch := "[" + strings.Join(ops, ",") + "]"
	start := time.Now()
	rec := do("PATCH", "/api/v1/namespaces/default/configmaps/bomb", "application/json-patch+json", patch)
	// kube-apiserver's answer is a bare 422 (the library's message is not
	// passed on); without the copy limit the 8 MiB result would be a 413.
	if rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("patch bomb: %d %.300s, want 422", rec.Code, rec.Body)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("patch bomb took %v to refuse", d)
	}
}

func TestJSONPatchOperationLimit(t *testing.T) {
	_, do := newTestServer(t)
	do("POST", "/api/v1/namespaces/default/configmaps", "application/json", fmt.Sprintf(cmJSON, "ops", "x"))
	ops := make([]string, maxJSONPatchOperations+1)
	for i := range ops {
		ops[i] = `{"op":"test","path":"/data/a","value":"x"}`
	}
	rec := do("PATCH", "/api/v1/namespaces/default/configmaps/ops", "application/json-patch+json", "["+strings.Join(ops, ",")+"]")
	if rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(statusOf(t, rec).Message, "The allowed maximum operations in a JSON patch is 10000, got 10001") {
		t.Fatalf("%d operations: %d %s, want 413", len(ops), rec.Code, rec.Body)
	}
}

// TestPatchedObjectSize: each patch type is refused when its result would
// be larger than any request could have sent.
func TestPatchedObjectSize(t *testing.T) {
	// A ConfigMap holds at most 1 MiB: 900 KiB stored plus a 2.5 MiB patch
	// is refused for its size before validation would refuse it (422).
	stored, big := strings.Repeat("s", 900*1024), strings.Repeat("b", 5*512*1024)
	tests := []struct{ name, contentType, patch string }{
		{"json", "application/json-patch+json", fmt.Sprintf(`[{"op":"add","path":"/data/b","value":%q}]`, big)},
		{"merge", "application/merge-patch+json", fmt.Sprintf(`{"data":{"b":%q}}`, big)},
		{"strategic", "application/strategic-merge-patch+json", fmt.Sprintf(`{"data":{"b":%q}}`, big)},
		{"apply", "application/apply-patch+yaml", fmt.Sprintf(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"size-apply","namespace":"default"},"data":{"b":%q}}`, big)},
	}
	_, do := newTestServer(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := "size-" + tc.name
			if rec := do("POST", "/api/v1/namespaces/default/configmaps", "application/json", fmt.Sprintf(cmJSON, name, stored)); rec.Code != http.StatusCreated {
				t.Fatalf("create: %d", rec.Code)
			}
			path := "/api/v1/namespaces/default/configmaps/" + name
			if tc.name == "apply" {
				path += "?fieldManager=test&force=true"
			}
			rec := do("PATCH", path, tc.contentType, tc.patch)
			if rec.Code != http.StatusRequestEntityTooLarge {
				t.Fatalf("%s patch to 3.4 MiB: %d %.300s, want 413", tc.name, rec.Code, rec.Body)
			}
		})
	}
}

// syncBuffer is a log sink tests read while handlers write.
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

func TestMaxInFlight(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 10)
	l := newLimits(slog.New(slog.DiscardHandler), 1, 1, time.Minute)
	srv := httptest.NewServer(l.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	})))
	defer srv.Close()
	defer close(release)
	go func() { _, _ = http.Get(srv.URL + "/api/v1/pods") }()
	<-entered
	resp, err := http.Get(srv.URL + "/api/v1/pods")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
		t.Errorf("second read in flight: %d Retry-After %q, want 429 and 1", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// Mutating requests have their own budget; watches are not counted.
	go func() {
		req, _ := http.NewRequest("POST", srv.URL+"/api/v1/namespaces/default/pods", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	}()
	go func() {
		if resp, err := http.Get(srv.URL + "/api/v1/pods?watch=true"); err == nil {
			resp.Body.Close()
		}
	}()
	for range 2 {
		select {
		case <-entered:
		case <-time.After(10 * time.Second):
			t.Fatal("a mutating request or a watch was refused while one read was in flight")
		}
	}
}

func TestRequestTimeout(t *testing.T) {
	l := newLimits(slog.New(slog.DiscardHandler), 0, 0, 200*time.Millisecond)
	srv := httptest.NewServer(l.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
		time.Sleep(50 * time.Millisecond) // a handler that is slow to notice
		_, _ = w.Write([]byte("late"))
	})))
	defer srv.Close()
	for _, q := range []string{"", "?timeout=50ms"} {
		start := time.Now()
		resp, err := http.Get(srv.URL + "/api/v1/pods" + q)
		if err != nil {
			t.Fatal(err)
		}
		var st metav1.Status
		_ = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if resp.StatusCode != http.StatusGatewayTimeout || st.Reason != metav1.StatusReasonTimeout {
			t.Errorf("GET%s: %d %+v, want 504 Timeout", q, resp.StatusCode, st)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("GET%s answered after %v", q, d)
		}
	}
}

// TestPanicRecovery: a handler's panic, also one on the timeout's
// goroutine, is logged with its stack, answered 500, and the server serves on.
func TestPanicRecovery(t *testing.T) {
	var logs syncBuffer
	l := newLimits(slog.New(slog.NewTextHandler(&logs, nil)), 0, 0, time.Minute)
	srv := httptest.NewServer(l.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("boom") != "" {
			panicInHandler()
		}
		_, _ = w.Write([]byte("ok"))
	})))
	defer srv.Close()
	for _, path := range []string{"/api/v1/pods?boom=1", "/api/v1/pods?watch=1&boom=1"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusInternalServerError {
			t.Errorf("GET %s: %d, want 500", path, resp.StatusCode)
		}
	}
	if s := logs.String(); !strings.Contains(s, "panicInHandler") || !strings.Contains(s, "boom in a handler") {
		t.Errorf("log does not carry the panic and its stack:\n%s", s)
	}
	resp, err := http.Get(srv.URL + "/api/v1/pods")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("after the panics: %v %v", resp, err)
	}
	resp.Body.Close()
}

func panicInHandler() { panic("boom in a handler") }

// TestAbortHandler: http.ErrAbortHandler from a handler, on the timeout's
// goroutine or not, cuts the answer without a 500 or a logged panic, as
// net/http and kube-apiserver's timeout filter treat it.
func TestAbortHandler(t *testing.T) {
	var logs syncBuffer
	l := newLimits(slog.New(slog.NewTextHandler(&logs, nil)), 0, 0, time.Minute)
	srv := httptest.NewServer(l.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write([]byte("partial"))
		panic(http.ErrAbortHandler)
	})))
	defer srv.Close()
	for _, path := range []string{"/api/v1/pods", "/api/v1/pods?watch=1"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			continue // cut before the headers arrived: also an abort
		}
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil {
			t.Errorf("GET %s: %d, the body read to its end; want the answer cut", path, resp.StatusCode)
		}
	}
	if s := logs.String(); strings.Contains(s, "panic") {
		t.Errorf("an abort was logged as a panic:\n%s", s)
	}
}

// TestWatchClosesStalledClient: a watch whose client stops reading is
// closed once it stalls, instead of buffering every later event.
func TestWatchClosesStalledClient(t *testing.T) {
	for _, tc := range []struct {
		name  string
		store func(t *testing.T) storage.Store
	}{
		{"store watch", func(*testing.T) storage.Store { return memory.New() }},
		{"watch cache", func(t *testing.T) storage.Store { return cachedMemory(t) }},
	} {
		t.Run(tc.name, func(t *testing.T) { testWatchClosesStalledClient(t, tc.store(t)) })
	}
}

func testWatchClosesStalledClient(t *testing.T, store storage.Store) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s, err := New(Config{Store: store, Registry: registry.Resources(), Listener: ln, TLS: &tls.Config{},
		Tokens: map[string]string{"test-token": "admin"}, WatchStallTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ended := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.Handler().ServeHTTP(w, r)
		if isTrue(r.URL.Query().Get("watch")) {
			ended <- struct{}{}
		}
	}))
	defer srv.Close()
	post := func(path, body string) {
		req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer test-token")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST %s: %s", req.URL.Path, resp.Status)
		}
	}
	post("/api/v1/namespaces", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"default"}}`)

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(conn, "GET /api/v1/namespaces/default/configmaps?watch=1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer test-token\r\n\r\n")
	br := bufio.NewReader(conn)
	if line, _ := br.ReadString('\n'); !strings.Contains(line, "200") {
		t.Fatalf("watch: %q", line)
	}
	// The client reads no more. Write far more than the socket buffers hold.
	value := strings.Repeat("v", 8192)
	deadline := time.Now().Add(30 * time.Second)
	for i := 0; ; i++ {
		post("/api/v1/namespaces/default/configmaps", fmt.Sprintf(cmJSON, fmt.Sprintf("cm-%d", i), value))
		select {
		case <-ended:
			return
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the watch of a client that stopped reading is still open after %d events", i+1)
		}
	}
}

// TestHTTPServerLimits: connections are limited as kube-apiserver's.
func TestHTTPServerLimits(t *testing.T) {
	s, _ := newTestServer(t)
	hs := s.httpServer(context.Background())
	if hs.IdleTimeout != 90*time.Second || hs.ReadHeaderTimeout != 32*time.Second || hs.MaxHeaderBytes != 1<<20 {
		t.Errorf("idle %v, read header %v, max header %d; want 90s, 32s, 1 MiB", hs.IdleTimeout, hs.ReadHeaderTimeout, hs.MaxHeaderBytes)
	}
	if hs.HTTP2 == nil || hs.HTTP2.MaxConcurrentStreams != 100 {
		t.Errorf("HTTP/2 config %+v, want 100 streams per connection", hs.HTTP2)
	}
}

// TestQuietWatchStaysOpen: a watch with no events for longer than the
// stall timeout still delivers the next one.
func TestQuietWatchStaysOpen(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s, err := New(Config{Store: memory.New(), Registry: registry.Resources(), Listener: ln, TLS: &tls.Config{},
		Tokens: map[string]string{"test-token": "admin"}, WatchStallTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(s.Handler())
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	client := srv.Client()
	do := func(method, path, body string) *http.Response {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer test-token")
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	do("POST", "/api/v1/namespaces", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"default"}}`).Body.Close()
	do("POST", "/api/v1/namespaces/default/configmaps", fmt.Sprintf(cmJSON, "first", "x")).Body.Close()
	resp := do("GET", "/api/v1/namespaces/default/configmaps?watch=1", "")
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Logf("watch over %s", resp.Proto)
	}
	lines := make(chan string, 10)
	go func() {
		br := bufio.NewReader(resp.Body)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				close(lines)
				return
			}
			lines <- line
		}
	}()
	if l := <-lines; !strings.Contains(l, "first") {
		t.Fatalf("first event: %q", l)
	}
	time.Sleep(600 * time.Millisecond) // idle for three stall timeouts
	do("POST", "/api/v1/namespaces/default/configmaps", fmt.Sprintf(cmJSON, "second", "x")).Body.Close()
	select {
	case l, ok := <-lines:
		if !ok || !strings.Contains(l, "second") {
			t.Fatalf("after an idle spell the watch gave %q (open %v), want the second configmap", l, ok)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event after an idle spell")
	}
}
