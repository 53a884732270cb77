package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/cri"
	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/proxy"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"
)

// streamOptions are the kubelet's remotecommand query parameters.
type streamOptions struct {
	stdin, stdout, stderr, tty bool
}

// parseStreamOptions reads input, output, error and tty ("1" is true),
// as the kubelet's remotecommand server does.
func parseStreamOptions(q url.Values) (streamOptions, error) {
	o := streamOptions{stdin: q.Get("input") == "1", stdout: q.Get("output") == "1",
		stderr: q.Get("error") == "1", tty: q.Get("tty") == "1"}
	if o.tty && o.stderr {
		// A terminal merges stderr into stdout.
		o.stderr = false
	}
	if !o.stdin && !o.stdout && !o.stderr {
		return o, errors.New("you must specify at least 1 of stdin, stdout, stderr")
	}
	return o, nil
}

// serveExec starts a command in a running container.
func (s *Server) serveExec(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	podName, container := r.PathValue("pod"), r.PathValue("container")
	opts, err := parseStreamOptions(r.URL.Query())
	if err != nil {
		httpError(w, http.StatusBadRequest, err)
		return
	}
	cmd := r.URL.Query()["command"]
	if len(cmd) == 0 {
		httpError(w, http.StatusBadRequest, fmt.Errorf("exec in container %q of pod %q: no command given", container, podName))
		return
	}
	pod, code, err := s.getPod(r.PathValue("namespace"), podName, r.PathValue("uid"))
	if err != nil {
		httpError(w, code, err)
		return
	}
	id, err := s.runningContainer(ctx, pod, container)
	if err != nil {
		runtimeError(w, err)
		return
	}
	if id == "" {
		httpError(w, http.StatusInternalServerError, fmt.Errorf("container not found (%q)", container))
		return
	}
	loc, err := s.rt.Exec(ctx, &runtimeapi.ExecRequest{ContainerId: id, Cmd: cmd,
		Tty: opts.tty, Stdin: opts.stdin, Stdout: opts.stdout, Stderr: opts.stderr})
	if err != nil {
		runtimeError(w, fmt.Errorf("exec in container %q of pod %q: %w", container, podName, err))
		return
	}
	s.proxyStream(w, r, loc)
}

// serveAttach attaches to a running container's main process. Whether
// it has a terminal is the container's own setting, not the request's.
func (s *Server) serveAttach(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	podName, container := r.PathValue("pod"), r.PathValue("container")
	opts, err := parseStreamOptions(r.URL.Query())
	if err != nil {
		httpError(w, http.StatusBadRequest, err)
		return
	}
	pod, code, err := s.getPod(r.PathValue("namespace"), podName, r.PathValue("uid"))
	if err != nil {
		httpError(w, code, err)
		return
	}
	spec := containerSpec(pod, container)
	if spec == nil {
		httpError(w, http.StatusInternalServerError, fmt.Errorf("container %s not found in pod %s", container, podName))
		return
	}
	id, err := s.runningContainer(ctx, pod, container)
	if err != nil {
		runtimeError(w, err)
		return
	}
	if id == "" {
		httpError(w, http.StatusInternalServerError, fmt.Errorf("container %s not found in pod %s", container, podName))
		return
	}
	loc, err := s.rt.Attach(ctx, &runtimeapi.AttachRequest{ContainerId: id,
		Stdin: opts.stdin, Stdout: opts.stdout, Stderr: opts.stderr && !spec.TTY, Tty: spec.TTY})
	if err != nil {
		runtimeError(w, fmt.Errorf("attach to container %q of pod %q: %w", container, podName, err))
		return
	}
	s.proxyStream(w, r, loc)
}

// servePortForward forwards ports of the pod's network namespace. Over
// SPDY each stream names its port; a WebSocket request names them in the
// "port" parameter.
func (s *Server) servePortForward(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	podName := r.PathValue("pod")
	ports, err := portOptions(r)
	if err != nil {
		httpError(w, http.StatusBadRequest, err)
		return
	}
	pod, code, err := s.getPod(r.PathValue("namespace"), podName, r.PathValue("uid"))
	if err != nil {
		httpError(w, code, err)
		return
	}
	sandbox, err := s.readySandbox(ctx, pod)
	if err != nil {
		runtimeError(w, err)
		return
	}
	if sandbox == "" {
		httpError(w, http.StatusInternalServerError, fmt.Errorf("pod not found (%q)", pod.Name+"_"+pod.Namespace))
		return
	}
	loc, err := s.rt.PortForward(ctx, &runtimeapi.PortForwardRequest{PodSandboxId: sandbox, Port: ports})
	if err != nil {
		runtimeError(w, fmt.Errorf("port-forward to pod %q: %w", podName, err))
		return
	}
	s.proxyStream(w, r, loc)
}

// portOptions reads the "port" parameter, which only WebSocket requests
// need (the kubelet's V4Options).
func portOptions(r *http.Request) ([]int32, error) {
	if !isWebSocket(r) {
		return nil, nil
	}
	values := r.URL.Query()["port"]
	if len(values) == 0 {
		return nil, errors.New(`query parameter "port" is required`)
	}
	var ports []int32
	for _, v := range values {
		if v == "" {
			return nil, errors.New(`query parameter "port" cannot be empty`)
		}
		for _, p := range strings.Split(v, ",") {
			n, err := strconv.ParseUint(p, 10, 16)
			if err != nil {
				return nil, fmt.Errorf("unable to parse %q as a port: %v", v, err)
			}
			if n < 1 {
				return nil, fmt.Errorf("port %q must be > 0", v)
			}
			ports = append(ports, int32(n))
		}
	}
	return ports, nil
}

func isWebSocket(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket") &&
		strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade")
}

// runtimeError answers a failed CRI call the way the kubelet's streaming
// errors do: 404 for what the runtime does not know, 500 otherwise.
func runtimeError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	if errors.Is(err, cri.ErrNotFound) {
		code = http.StatusNotFound
	}
	httpError(w, code, err)
}

// proxyStream hands the (upgraded) connection to the runtime's streaming
// server at loc. The runtime speaks the stream protocols (SPDY and the
// WebSocket channel protocols): whatever it answers, an upgrade or a
// refusal, goes back to the client unchanged.
func (s *Server) proxyStream(w http.ResponseWriter, r *http.Request, loc string) {
	u, err := url.Parse(loc)
	if err != nil || u.Host == "" {
		httpError(w, http.StatusInternalServerError, fmt.Errorf("the runtime returned an unusable streaming URL %q", loc))
		return
	}
	h := proxy.NewUpgradeAwareHandler(u, nil, false, true, responder{s})
	// The proxy logs through klog: send that to the agent's log.
	r = r.WithContext(klog.NewContext(r.Context(), proxyLogger(s.log)))
	h.ServeHTTP(w, r)
}

// responder answers errors that happen before the connection is upgraded.
type responder struct{ s *Server }

func (rp responder) Error(w http.ResponseWriter, r *http.Request, err error) {
	rp.s.log.Debug("proxying a stream to the runtime", "path", r.URL.Path, "err", err)
	code := http.StatusInternalServerError
	var status apierrors.APIStatus
	if errors.As(err, &status) && status.Status().Code != 0 {
		code = int(status.Status().Code) // "Upgrade request required" is a 400
	}
	httpError(w, code, err)
}

// proxyLogger is the klog logger the upgrade proxy reports through: the
// server's log, at debug level, because what the proxy calls errors are
// clients and runtimes hanging up, which is how streams end.
func proxyLogger(log *slog.Logger) logr.Logger {
	return logr.FromSlogHandler(debugHandler{log.Handler()})
}

// debugHandler logs every record at debug level or below.
type debugHandler struct{ slog.Handler }

func (h debugHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.Handler.Enabled(ctx, min(l, slog.LevelDebug))
}

func (h debugHandler) Handle(ctx context.Context, r slog.Record) error {
	r.Level = min(r.Level, slog.LevelDebug)
	return h.Handler.Handle(ctx, r)
}

func (h debugHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return debugHandler{h.Handler.WithAttrs(as)}
}
func (h debugHandler) WithGroup(name string) slog.Handler {
	return debugHandler{h.Handler.WithGroup(name)}
}
