package hooks

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/berth-dev/berth/internal/agent/httpget"
	"github.com/berth-dev/berth/internal/cri"
	corev1 "k8s.io/api/core/v1"
)

// Kind says which hook a handler is.
type Kind string

// The two hooks of a container.
const (
	PostStart Kind = "PostStart"
	PreStop   Kind = "PreStop"
)

// DefaultUserAgent is the kubelet's User-Agent for httpGet hooks
// (kube-lifecycle/<major>.<minor>) for the Kubernetes version berth
// emulates on the node.
const DefaultUserAgent = "kube-lifecycle/1.35"

const (
	// maxBody is how much of an httpGet hook's answer is read, as the
	// kubelet (maxRespBodyLength).
	maxBody = 10 << 10
	// maxOutput bounds the output tail a record keeps.
	maxOutput = 4 << 10
	// maxSummary bounds Result.Summary.
	maxSummary = 256
	// keepRuns is how many runs are recorded per container.
	keepRuns = 10
)

// Execer is the CRI call exec hooks need (cri.Runtime has it).
type Execer interface {
	ExecSync(ctx context.Context, containerID string, cmd []string, timeout time.Duration) (cri.ExecResult, error)
}

var _ Execer = cri.Runtime(nil)

// Config is what a Runner needs; only Runtime is required, and only for
// exec hooks.
type Config struct {
	Runtime Execer
	// UserAgent of httpGet hooks; default DefaultUserAgent.
	UserAgent string
	// Dir is where run records are kept (DirIn(agent data dir)); "" keeps
	// none.
	Dir string
	// Log gets one line per failed hook; nil: discard.
	Log *slog.Logger
}

// DirIn is the records directory inside the agent's data dir: the agent
// passes it as Config.Dir, and the agent's server and `berth explain
// hooks --data-dir` read it.
func DirIn(agentDataDir string) string { return filepath.Join(agentDataDir, "hooks") }

// Request is one handler to run for one container.
type Request struct {
	Kind        Kind
	Pod         *corev1.Pod
	Container   *corev1.Container
	ContainerID string // the runtime's ID, without "containerd://"
	PodIP       string // default host of httpGet
	Handler     *corev1.LifecycleHandler
	// Redact lists values that must not appear in Result.Err, Summary or
	// the record (e.g. secret values the agent resolved into the
	// container's environment, which an exec hook may print); each is
	// shown as "***". Optional.
	Redact []string
}

// Result is the outcome of one run.
type Result struct {
	// Err is nil when the hook succeeded; otherwise Error() is the
	// kubelet's failure message, and errors.Unwrap gives the cause.
	Err error
	// Summary is a short form of what happened (at most 256 bytes), for
	// the failure event, e.g. `exec [sh -c exit 3] exited with code 3:
	// <last output line>`.
	Summary string
	// FallbackHost is host:port when an HTTPS hook got an HTTP answer and
	// the retry over HTTP succeeded: the agent reports the kubelet's
	// LifecycleHTTPFallback warning event.
	FallbackHost string
}

// Error is a failed hook: Msg is the kubelet's message, Err the cause.
type Error struct {
	Msg string
	Err error
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.Err }

// Record is one run of a hook, as kept on the node.
type Record struct {
	Kind        Kind   `json:"kind"`
	Container   string `json:"container"`
	ContainerID string `json:"containerID,omitempty"`
	// Handler is the handler in human form: `exec [sh -c …]`,
	// `httpGet https://10.88.0.5:8443/stop`, `sleep 5s`.
	Handler  string        `json:"handler"`
	Start    time.Time     `json:"start"`
	Duration time.Duration `json:"duration"`
	// ExitCode is set when an exec hook's command ended.
	ExitCode *int32 `json:"exitCode,omitempty"`
	// HTTPStatus is set when an httpGet hook got an answer.
	HTTPStatus int `json:"httpStatus,omitempty"`
	// Fallback tells how the HTTP retry of an HTTPS hook answered in
	// plain HTTP went.
	Fallback string `json:"fallback,omitempty"`
	// Error is the kubelet's failure message; empty on success.
	Error string `json:"error,omitempty"`
	// Output is the tail of the exec output (stdout then stderr) or of the
	// HTTP body, at most 4 KiB; OutputTruncated says more came before.
	Output          string `json:"output,omitempty"`
	OutputTruncated bool   `json:"outputTruncated,omitempty"`
	// Cancelled: the run's context ended (grace period over, pod
	// deleted, agent stopping) before the hook finished.
	Cancelled bool `json:"cancelled,omitempty"`
}

// Succeeded says whether the hook succeeded.
func (r *Record) Succeeded() bool { return r.Error == "" }

// Runner runs hooks and keeps their records. Safe for concurrent use.
type Runner struct {
	rt     Execer
	ua     string
	dir    string
	log    *slog.Logger
	client *http.Client
	now    func() time.Time

	mu sync.Mutex // serialises record files
}

// New builds a Runner.
func New(cfg Config) *Runner {
	r := &Runner{rt: cfg.Runtime, ua: cfg.UserAgent, dir: cfg.Dir, log: cfg.Log, now: time.Now}
	if r.ua == "" {
		r.ua = DefaultUserAgent
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	// The kubelet's insecureContainerLifecycleHTTPClient: no certificate
	// checks (hooks reach pods, whose certificates nobody can verify), no
	// proxy, same-host redirects only, and never any credentials of ours.
	r.client = &http.Client{
		Transport: &http.Transport{
			TLSClientConfig:     &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // as the kubelet
			Proxy:               nil,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
		},
		CheckRedirect: httpget.SameHostRedirects,
	}
	return r
}

// Run runs req's handler, records the run and returns when the handler is
// done or ctx ends (see the package doc).
func (r *Runner) Run(ctx context.Context, req Request) Result {
	if req.Pod == nil || req.Container == nil {
		err := errors.New("lifecycle hook request without a pod or container")
		return Result{Err: &Error{Msg: err.Error(), Err: err}, Summary: err.Error()}
	}
	start := r.now()
	rec := Record{Kind: req.Kind, Container: req.Container.Name, ContainerID: req.ContainerID,
		Handler: Describe(req.Handler, req.Container, req.PodIP), Start: start}
	var res Result
	h := req.Handler
	switch {
	case h != nil && h.Exec != nil:
		res = r.runExec(ctx, &req, &rec)
	case h != nil && h.HTTPGet != nil:
		res = r.runHTTP(ctx, &req, &rec)
	case h != nil && h.Sleep != nil:
		res = r.runSleep(ctx, &req, &rec)
	default:
		err := fmt.Errorf("invalid handler: %v", h)
		res = Result{Err: &Error{Msg: "Cannot run handler: " + err.Error(), Err: err}, Summary: invalidSummary(h)}
	}
	rec.Duration = r.now().Sub(start)
	if res.Err != nil {
		rec.Cancelled = ctx.Err() != nil
	}
	res, rec = redact(res, rec, req.Redact)
	if res.Err != nil {
		rec.Error = res.Err.Error()
		r.log.Info("lifecycle hook failed", "hook", req.Kind, "pod", podDesc(req.Pod), "container", req.Container.Name, "err", rec.Error)
	}
	r.keep(req.Pod.UID, rec)
	return res
}

func (r *Runner) runExec(ctx context.Context, req *Request, rec *Record) Result {
	cmd := req.Handler.Exec.Command
	var out []byte
	var err error
	if r.rt == nil {
		err = errors.New("no container runtime to run exec hooks")
	} else {
		var er cri.ExecResult
		// No timeout of its own, as the kubelet (RunInContainer(..., 0)):
		// ctx bounds it.
		er, err = r.rt.ExecSync(ctx, req.ContainerID, cmd, 0)
		if err == nil {
			out = append(append(out, er.Stdout...), er.Stderr...)
			code := er.ExitCode
			rec.ExitCode = &code
			if code != 0 {
				// The CRI client's error for a non-zero exit.
				err = fmt.Errorf("command '%s' exited with %d: %s", strings.Join(cmd, " "), code, er.Stderr)
			}
		}
	}
	rec.Output, rec.OutputTruncated = tail(out, maxOutput)
	summary := fmt.Sprintf("exec %v", cmd)
	switch {
	case err == nil:
		return Result{Summary: clip(summary + " exited with code 0")}
	case rec.ExitCode != nil:
		summary += fmt.Sprintf(" exited with code %d", *rec.ExitCode)
		if l := lastLine(out); l != "" {
			summary += ": " + l
		}
	case ctx.Err() != nil:
		summary += fmt.Sprintf(" did not finish in time (%v)", ctx.Err())
	default:
		summary += " failed: " + err.Error()
	}
	// The kubelet quotes the whole output; its last 10 KiB are enough
	// and keep the message (logged, recorded) bounded.
	quoted, _ := tail(out, maxBody)
	msg := fmt.Sprintf("Exec lifecycle hook (%v) for Container %q in Pod %q failed - error: %v, message: %q",
		cmd, req.Container.Name, podDesc(req.Pod), err, quoted)
	return Result{Err: &Error{Msg: msg, Err: err}, Summary: clip(summary)}
}

func (r *Runner) runHTTP(ctx context.Context, req *Request, rec *Record) Result {
	g := req.Handler.HTTPGet
	fail := func(err error, summary string) Result {
		msg := fmt.Sprintf("HTTP lifecycle hook (%s) for Container %q in Pod %q failed - error: %v",
			g.Path, req.Container.Name, podDesc(req.Pod), err)
		return Result{Err: &Error{Msg: msg, Err: err}, Summary: clip(summary)}
	}
	if g.Host == "" && req.PodIP == "" {
		err := fmt.Errorf("failed to find networking container: pod %s has no IP address", podDesc(req.Pod))
		return fail(err, "httpGet: "+err.Error())
	}
	hreq, err := httpget.NewRequest(ctx, g, req.Container, req.PodIP, r.ua)
	if err != nil {
		return fail(err, "httpGet: "+err.Error())
	}
	target := hreq.URL.String()
	resp, err := r.client.Do(hreq)
	var res Result
	if isHTTPResponseError(err) {
		// The kubelet's fallback: the server speaks plain HTTP on that
		// port; ask again over HTTP, without credentials.
		retry := hreq.Clone(ctx)
		retry.URL.Scheme = "http"
		retry.Header.Del("Authorization")
		resp2, err2 := r.client.Do(retry)
		if err2 == nil {
			rec.Fallback = "the server answered HTTPS in plain HTTP; the retry over HTTP succeeded"
			res.FallbackHost = retry.URL.Host
			resp, err = resp2, nil
		} else {
			rec.Fallback = "the server answered HTTPS in plain HTTP; the retry over HTTP failed: " + err2.Error()
		}
	}
	if err != nil {
		return fail(err, fmt.Sprintf("httpGet %s failed: %v", target, err))
	}
	defer func() { _ = resp.Body.Close() }()
	rec.HTTPStatus = resp.StatusCode
	// The status code is not checked: a completed round trip succeeds.
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	rec.Output, rec.OutputTruncated = tail(body, maxOutput)
	res.Summary = clip(fmt.Sprintf("httpGet %s answered %s", target, resp.Status))
	return res
}

func (r *Runner) runSleep(ctx context.Context, req *Request, rec *Record) Result {
	secs := req.Handler.Sleep.Seconds
	want := time.Duration(secs) * time.Second
	if secs <= 0 {
		return Result{Summary: "sleep 0s: returned at once"}
	}
	t := time.NewTimer(want)
	defer t.Stop()
	start := r.now()
	select {
	case <-t.C:
		return Result{Summary: clip(fmt.Sprintf("sleep %v done", want))}
	case <-ctx.Done():
	}
	err := errors.New("container terminated before sleep hook finished")
	msg := fmt.Sprintf("Sleep lifecycle hook (%d) for Container %q in Pod %q failed - error: %v",
		secs, req.Container.Name, podDesc(req.Pod), err)
	summary := fmt.Sprintf("sleep %v cut short after %v: %v", want, r.now().Sub(start).Round(100*time.Millisecond), err)
	return Result{Err: &Error{Msg: msg, Err: err}, Summary: clip(summary)}
}

func invalidSummary(h *corev1.LifecycleHandler) string {
	if h != nil && h.TCPSocket != nil {
		return "invalid handler: tcpSocket is not supported in lifecycle hooks (use exec, httpGet or sleep)"
	}
	return "invalid handler: no exec, httpGet or sleep"
}

// isHTTPResponseError is the kubelet's test for an HTTPS request that a
// plain HTTP server answered.
func isHTTPResponseError(err error) bool {
	var ue *url.Error
	if err == nil || !errors.As(err, &ue) {
		return false
	}
	return strings.Contains(ue.Err.Error(), "server gave HTTP response to HTTPS client")
}

// Describe is a handler in human form, as records and explain show it.
// Header values are left out (they may hold credentials).
func Describe(h *corev1.LifecycleHandler, c *corev1.Container, podIP string) string {
	switch {
	case h == nil:
		return "no handler"
	case h.Exec != nil:
		return fmt.Sprintf("exec %v", h.Exec.Command)
	case h.HTTPGet != nil:
		g := h.HTTPGet
		ip := podIP
		if ip == "" {
			ip = "<pod IP>"
		}
		s := ""
		if u, err := httpget.URL(g, c, ip); err == nil {
			s = "httpGet " + u.String()
		} else {
			s = fmt.Sprintf("httpGet %s port %s path %s", strings.ToLower(string(g.Scheme)), g.Port.String(), g.Path)
		}
		if len(g.HTTPHeaders) > 0 {
			names := make([]string, len(g.HTTPHeaders))
			for i, hd := range g.HTTPHeaders {
				names[i] = hd.Name
			}
			s += " (headers " + strings.Join(names, ", ") + ")"
		}
		return s
	case h.Sleep != nil:
		return fmt.Sprintf("sleep %ds", h.Sleep.Seconds)
	case h.TCPSocket != nil:
		return fmt.Sprintf("tcpSocket port %s (not supported in hooks)", h.TCPSocket.Port.String())
	}
	return "empty handler"
}

// podDesc is the kubelet's format.Pod: name_namespace(uid).
func podDesc(p *corev1.Pod) string {
	return fmt.Sprintf("%s_%s(%s)", p.Name, p.Namespace, p.UID)
}

// tail is the last max bytes of b, starting on a UTF-8 boundary, and
// whether anything was cut.
func tail(b []byte, max int) (string, bool) {
	if len(b) <= max {
		return string(b), false
	}
	b = b[len(b)-max:]
	for i := 0; i < utf8.UTFMax && i < len(b); i++ {
		if utf8.RuneStart(b[i]) {
			b = b[i:]
			break
		}
	}
	return string(b), true
}

// lastLine is the last non-blank line of out, trimmed.
func lastLine(out []byte) string {
	lines := bytes.Split(bytes.TrimRight(out, " \t\r\n"), []byte("\n"))
	return strings.TrimSpace(string(lines[len(lines)-1]))
}

// clip bounds a summary to maxSummary bytes.
func clip(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) <= maxSummary {
		return s
	}
	cut := maxSummary - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// redact masks the values in every text a run produces.
func redact(res Result, rec Record, values []string) (Result, Record) {
	var vs []string
	for _, v := range values {
		if v != "" {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		return res, rec
	}
	// Longest first, so that a value containing another is masked whole.
	sort.Slice(vs, func(i, j int) bool { return len(vs[i]) > len(vs[j]) })
	mask := func(s string) string {
		for _, v := range vs {
			s = strings.ReplaceAll(s, v, "***")
		}
		return s
	}
	if res.Err != nil {
		var he *Error
		if errors.As(res.Err, &he) {
			res.Err = &Error{Msg: mask(he.Msg), Err: redactedError{msg: mask(he.Err.Error()), err: he.Err}}
		}
	}
	res.Summary = clip(mask(res.Summary))
	rec.Output = mask(rec.Output)
	rec.Handler = mask(rec.Handler)
	rec.Fallback = mask(rec.Fallback)
	return res, rec
}

// redactedError keeps the cause for errors.Is/As but prints it masked.
type redactedError struct {
	msg string
	err error
}

func (e redactedError) Error() string { return e.msg }
func (e redactedError) Unwrap() error { return e.err }
