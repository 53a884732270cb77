// Package server is the node agent's kubelet-style HTTPS endpoint: the API
// server proxies pods/log, pods/exec, pods/attach and pods/portforward to
// it, on the kubelet's paths, the way kube-apiserver talks to a kubelet.
//
//	GET      /containerLogs/{namespace}/{pod}/{container}?follow&previous&tailLines&timestamps&sinceSeconds&sinceTime&limitBytes
//	GET|POST /exec/{namespace}/{pod}[/{uid}]/{container}?command=…&input&output&error&tty
//	GET|POST /attach/{namespace}/{pod}[/{uid}]/{container}?input&output&error&tty
//	GET|POST /portForward/{namespace}/{pod}[/{uid}][?port=…]
//	GET      /pods                                     (the pods bound to this node, a v1 PodList)
//	GET      /healthz
//	GET      /berth/pullrecords/{podUID}/{container}   (berth explain pull)
//	GET      /berth/hookrecords/{podUID}/{container}   (berth explain hooks)
//
// Logs are read from the CRI log files the runtime writes. Exec, attach and
// port-forward ask the runtime (CRI Exec, Attach, PortForward) for a
// streaming URL and proxy the upgraded connection (SPDY or WebSocket) to
// it unchanged, as the kubelet does: the runtime's streaming server speaks
// the protocols, and a protocol it refuses is an upgrade failure the
// client sees (kubectl then falls back from WebSocket to SPDY).
//
// Every client must present a certificate signed by the cluster CA: the
// endpoint runs commands in containers.
package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/agent/envvars"
	"github.com/berth-dev/berth/internal/agent/hooks"
	"github.com/berth-dev/berth/internal/agent/images"
	"github.com/berth-dev/berth/internal/cri"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// PodGetter returns a pod bound to this node, from the agent's informer
// cache. A missing pod is an error apierrors.IsNotFound recognises.
type PodGetter interface {
	Get(namespace, name string) (*corev1.Pod, error)
}

// PodGetterFunc adapts a function to PodGetter.
type PodGetterFunc func(namespace, name string) (*corev1.Pod, error)

// Get calls f.
func (f PodGetterFunc) Get(namespace, name string) (*corev1.Pod, error) { return f(namespace, name) }

// Config is what the endpoint needs; every field but Log is required.
type Config struct {
	Runtime cri.Runtime
	Pods    PodGetter
	// Listener is where HTTPS is served (the port published in the Node's
	// status.daemonEndpoints.kubeletEndpoint).
	Listener net.Listener
	// TLS holds the serving certificate and, in ClientCAs, the cluster CA
	// that client certificates must chain to.
	TLS *tls.Config
	// DataDir is the agent's data dir; its pull records are served to
	// `berth explain pull` under /berth/pullrecords/{podUID}/{container},
	// the lifecycle hook runs kept in hooks.DirIn(DataDir) to `berth
	// explain hooks` under /berth/hookrecords/{podUID}/{container}, and
	// its env records to `berth explain env` under
	// /berth/envrecords/{podUID}/{container}.
	DataDir string
	// Authorizer, when set, authorizes every request (but /healthz) on
	// nodes/proxy of NodeName as the kubelet's webhook mode does, with a
	// SubjectAccessReview; nil allows every client certificate the
	// cluster CA signed.
	Authorizer authorizer.UnconditionalAuthorizer
	NodeName   string
	// ListPods, when set, serves GET /pods: the pods bound to this node,
	// as a v1 PodList (the kubelet's /pods).
	ListPods func() ([]*corev1.Pod, error)
	Log      *slog.Logger
}

// Server is the endpoint. Create it with New and start it with Run.
type Server struct {
	dataDir string
	rt      cri.Runtime
	pods    PodGetter
	ln      net.Listener
	tls     *tls.Config
	log     *slog.Logger
	handler http.Handler

	// pollInterval is how often a followed log is checked for new data;
	// stateInterval how often the followed container is checked for
	// having exited. Tests shorten them.
	pollInterval  time.Duration
	stateInterval time.Duration
	// now is the clock sinceSeconds counts back from.
	now func() time.Time
}

// New validates cfg and builds the server.
func New(cfg Config) (*Server, error) {
	if cfg.Runtime == nil || cfg.Pods == nil || cfg.Listener == nil || cfg.TLS == nil {
		return nil, errors.New("agent server: Runtime, Pods, Listener and TLS are required")
	}
	if len(cfg.TLS.Certificates) == 0 && cfg.TLS.GetCertificate == nil {
		return nil, errors.New("agent server: TLS has no serving certificate")
	}
	if cfg.TLS.ClientCAs == nil {
		return nil, errors.New("agent server: TLS.ClientCAs is required: the endpoint runs commands in containers, so every client must present a certificate from the cluster CA")
	}
	tc := cfg.TLS.Clone()
	tc.ClientAuth = tls.RequireAndVerifyClientCert
	// Exec, attach and port-forward hijack the connection after an HTTP/1.1
	// upgrade, which HTTP/2 cannot do.
	tc.NextProtos = []string{"http/1.1"}
	if tc.MinVersion == 0 {
		tc.MinVersion = tls.VersionTLS12
	}
	s := newServer(cfg.Runtime, cfg.Pods, cfg.Log)
	s.ln, s.tls = cfg.Listener, tc
	s.dataDir = cfg.DataDir
	if cfg.ListPods != nil {
		s.handler = withPods(s.handler, cfg.ListPods)
	}
	if cfg.Authorizer != nil {
		s.handler = withAuthorization(s.handler, cfg.Authorizer, cfg.NodeName)
	}
	return s, nil
}

// newServer builds the handler part; tests use it without a listener.
func newServer(rt cri.Runtime, pods PodGetter, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{rt: rt, pods: pods, log: log,
		pollInterval: 100 * time.Millisecond, stateInterval: time.Second, now: time.Now}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", s.serveLogs)
	for _, p := range []string{"/exec/{namespace}/{pod}/{container}", "/exec/{namespace}/{pod}/{uid}/{container}"} {
		mux.HandleFunc("GET "+p, s.serveExec)
		mux.HandleFunc("POST "+p, s.serveExec)
	}
	for _, p := range []string{"/attach/{namespace}/{pod}/{container}", "/attach/{namespace}/{pod}/{uid}/{container}"} {
		mux.HandleFunc("GET "+p, s.serveAttach)
		mux.HandleFunc("POST "+p, s.serveAttach)
	}
	for _, p := range []string{"/portForward/{namespace}/{pod}", "/portForward/{namespace}/{pod}/{uid}"} {
		mux.HandleFunc("GET "+p, s.servePortForward)
		mux.HandleFunc("POST "+p, s.servePortForward)
	}
	mux.HandleFunc("GET /berth/pullrecords/{uid}/{container}", func(w http.ResponseWriter, r *http.Request) {
		rec, err := images.LoadExplain(s.dataDir, r.PathValue("uid"), r.PathValue("container"))
		if err != nil || s.dataDir == "" {
			http.Error(w, "no pull record for this container", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(rec)
	})
	mux.HandleFunc("GET /berth/hookrecords/{uid}/{container}", s.serveHookRecords)
	mux.HandleFunc("GET /berth/envrecords/{uid}/{container}", func(w http.ResponseWriter, r *http.Request) {
		if s.dataDir == "" {
			http.Error(w, "no env record for this container", http.StatusNotFound)
			return
		}
		// Records hold no secret's value (envvars.NewRecord blanks them).
		rec, err := envvars.LoadRecord(s.dataDir, r.PathValue("uid"), r.PathValue("container"))
		if err != nil {
			http.Error(w, "no env record for this container", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(rec)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok"))
	})
	s.handler = mux
	return s
}

// serveHookRecords answers the recorded lifecycle hook runs of a
// container as a JSON array, oldest first; [] when none ran (or the pod
// is unknown here).
func (s *Server) serveHookRecords(w http.ResponseWriter, r *http.Request) {
	if s.dataDir == "" {
		http.Error(w, "this node keeps no lifecycle hook records", http.StatusNotFound)
		return
	}
	runs, err := hooks.Load(hooks.DirIn(s.dataDir), types.UID(r.PathValue("uid")), r.PathValue("container"))
	if err != nil {
		s.log.Warn("reading lifecycle hook records", "pod", r.PathValue("uid"), "container", r.PathValue("container"), "err", err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if runs == nil {
		runs = []hooks.Record{}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(runs)
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// ServeHTTP routes one request. Callers are authenticated by TLS.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Run serves until ctx ends, then closes every connection, open exec and
// port-forward sessions included (their processes keep running in the
// container, as when a kubelet restarts).
func (s *Server) Run(ctx context.Context) error {
	tl := &trackingListener{Listener: s.ln, conns: map[*trackedConn]struct{}{}}
	hs := &http.Server{
		Handler:           s,
		TLSConfig:         s.tls,
		ReadHeaderTimeout: 30 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(tls.NewListener(tl, s.tls)) }()
	select {
	case err := <-errc:
		return fmt.Errorf("agent server: serving on %s: %w", s.ln.Addr(), err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = hs.Shutdown(shutdownCtx)
	_ = hs.Close()
	// Shutdown does not see hijacked connections (exec, attach,
	// port-forward); close them here so that Run's end is the end.
	tl.closeAll()
	return nil
}

// trackingListener remembers accepted connections until they close, so
// that hijacked ones can be closed on shutdown.
type trackingListener struct {
	net.Listener
	mu     sync.Mutex
	conns  map[*trackedConn]struct{}
	closed bool
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, l: l}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		c.Close()
		return nil, net.ErrClosed
	}
	l.conns[tc] = struct{}{}
	return tc, nil
}

func (l *trackingListener) closeAll() {
	l.mu.Lock()
	l.closed = true
	conns := make([]*trackedConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

type trackedConn struct {
	net.Conn
	l    *trackingListener
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	})
	return c.Conn.Close()
}

// httpError answers with a plain-text error, as the kubelet does; the API
// server turns it into a metav1.Status for logs, and SPDY and WebSocket
// clients print it as the reason the upgrade failed.
func httpError(w http.ResponseWriter, code int, err error) {
	http.Error(w, err.Error(), code)
}
