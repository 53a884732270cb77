package apiserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// kube-apiserver's defaults (k8s.io/apiserver/pkg/server/config.go and
// secure_serving.go): berth takes them as they are, so a client tuned for
// Kubernetes meets the same limits here.
const (
	defaultMaxRequestsInFlight         = 400
	defaultMaxMutatingRequestsInFlight = 200
	defaultRequestTimeout              = 60 * time.Second
	// minRequestTimeout: a watch without timeoutSeconds lasts a random
	// time between this and twice this, as kube-apiserver's
	// --min-request-timeout spreads re-watches.
	minRequestTimeout = 1800 * time.Second
	idleTimeout       = 90 * time.Second // matches http.DefaultTransport's keep-alive
	readHeaderTimeout = 32 * time.Second
	maxHeaderBytes    = 1 << 20
	// HTTP/2: kube-apiserver's 100 streams per connection (what clients
	// open at most) and 256 KiB frames and stream buffers (99% of objects
	// fit in one).
	http2MaxStreams = 100
	http2MaxFrame   = 256 << 10
	// maxIdleHandlerWorkers bounds the handler goroutines kept between
	// requests (see handlerWorkers): a few per core cover any steady load.
	maxIdleHandlerWorkers = 32
)

// longRunningSubresources never time out and are not counted in flight, as
// kube-apiserver's BasicLongRunningRequestCheck (watch, proxy and these).
var longRunningSubresources = map[string]bool{"attach": true, "exec": true, "proxy": true, "log": true, "portforward": true}

// isLongRunning says whether r is a watch or a streaming subresource.
func isLongRunning(r *http.Request) bool {
	if isTrue(r.URL.Query().Get("watch")) {
		return true
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	for _, p := range parts {
		if p == "watch" || p == "proxy" {
			return true
		}
	}
	// /api/v1/namespaces/NS/pods/NAME/SUB or /api/v1/nodes/NAME/proxy/...
	if n := len(parts); n >= 2 && longRunningSubresources[parts[n-1]] {
		return true
	}
	return false
}

func isMutating(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// limits are the request limits of one server.
type limits struct {
	log      *slog.Logger
	readonly chan struct{} // semaphores: a slot is a request in flight
	mutating chan struct{}
	timeout  time.Duration
	workers  *handlerWorkers
}

func newLimits(log *slog.Logger, maxInFlight, maxMutating int, timeout time.Duration) *limits {
	if maxInFlight <= 0 {
		maxInFlight = defaultMaxRequestsInFlight
	}
	if maxMutating <= 0 {
		maxMutating = defaultMaxMutatingRequestsInFlight
	}
	if timeout <= 0 {
		timeout = defaultRequestTimeout
	}
	return &limits{log: log, readonly: make(chan struct{}, maxInFlight), mutating: make(chan struct{}, maxMutating), timeout: timeout,
		workers: newHandlerWorkers(maxIdleHandlerWorkers)}
}

// wrap puts h behind panic recovery, the in-flight limit and the request
// timeout, in kube-apiserver's order (recovery outermost).
func (l *limits) wrap(h http.Handler) http.Handler {
	return l.recoverPanics(l.maxInFlight(l.withTimeout(h)))
}

// maxInFlight answers 429 once too many requests are being served, as
// kube-apiserver's WithMaxInFlightLimit: watches and streams are not counted.
func (l *limits) maxInFlight(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isLongRunning(r) {
			h.ServeHTTP(w, r)
			return
		}
		sem := l.readonly
		if isMutating(r.Method) {
			sem = l.mutating
		}
		select {
		case sem <- struct{}{}:
			defer func() { <-sem }()
			h.ServeHTTP(w, r)
		default:
			w.Header().Set("Retry-After", "1")
			http.Error(w, "Too many requests, please try again later.", http.StatusTooManyRequests)
		}
	})
}

// withTimeout ends a request that is not long-running after the request
// timeout (or the shorter ?timeout= it asks for) with 504, as
// kube-apiserver's WithRequestDeadline and WithTimeoutForNonLongRunningRequests.
// The handler runs on with a cancelled context; whatever it writes later is
// dropped.
func (l *limits) withTimeout(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isLongRunning(r) {
			h.ServeHTTP(w, r)
			return
		}
		timeout := l.timeout
		if v := r.URL.Query().Get("timeout"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				writeError(w, badRequest("invalid timeout specified in the request URL: %v", err))
				return
			}
			if d > 0 && d < timeout {
				timeout = d
			}
		}
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		r = r.WithContext(ctx)
		tw := &timeoutWriter{w: w}
		done := make(chan struct{})
		var caught *panicValue
		l.workers.Go(func() {
			defer close(done)
			defer func() {
				if v := recover(); v != nil {
					caught = &panicValue{value: v, stack: debug.Stack()}
				}
			}()
			h.ServeHTTP(tw, r)
		})
		select {
		case <-done:
			if caught != nil {
				panic(caught) // re-raised here so recoverPanics logs it with the handler's stack
			}
		case <-ctx.Done():
			if !tw.timeOut() {
				// The handler has begun its answer: it cannot become a
				// Status any more, so the connection is cut.
				panic(http.ErrAbortHandler)
			}
			writeError(w, apierrors.NewTimeoutError(fmt.Sprintf("request did not complete within requested timeout - %v", ctx.Err()), 0))
		}
	})
}

// timeoutWriter passes writes through until the request times out, then
// drops them (the handler's goroutine may still be running).
type timeoutWriter struct {
	w        http.ResponseWriter
	mu       sync.Mutex
	wrote    bool
	timedOut bool
}

func (t *timeoutWriter) Header() http.Header { return t.w.Header() }

func (t *timeoutWriter) WriteHeader(code int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.timedOut {
		return
	}
	t.wrote = true
	t.w.WriteHeader(code)
}

func (t *timeoutWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.timedOut {
		return 0, http.ErrHandlerTimeout
	}
	t.wrote = true
	return t.w.Write(p)
}

func (t *timeoutWriter) Flush() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if f, ok := t.w.(http.Flusher); ok && !t.timedOut {
		f.Flush()
	}
}

// Hijack lets connection upgrades through (they are not timed out, but a
// path the check misses must still work).
func (t *timeoutWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if h, ok := t.w.(http.Hijacker); ok {
		return h.Hijack()
	}
	return nil, nil, errors.New("hijacking is not supported")
}

// timeOut marks the writer timed out; false if the handler already wrote.
func (t *timeoutWriter) timeOut() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.timedOut = true
	return !t.wrote
}

type panicValue struct {
	value any
	stack []byte
}

// recoverPanics logs a handler's panic with its stack and answers 500, so
// one bad request never takes the node down (kube-apiserver's
// WithPanicRecovery).
func (l *limits) recoverPanics(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			var stack []byte
			if pv, ok := v.(*panicValue); ok { // from the timeout's goroutine
				v, stack = pv.value, pv.stack
			}
			if v == http.ErrAbortHandler { //nolint:errorlint // sentinel compared as net/http does
				// A deliberate abort (e.g. httputil.ReverseProxy's once the
				// answer began) is no panic to log: net/http cuts the stream.
				panic(v)
			}
			if stack == nil {
				stack = debug.Stack()
			}
			l.log.Error("recovered from a panic serving a request; the server keeps serving",
				"method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(stack))
			http.Error(w, "This request caused apiserver to panic. Look in the logs for details.", http.StatusInternalServerError)
		}()
		h.ServeHTTP(w, r)
	})
}
