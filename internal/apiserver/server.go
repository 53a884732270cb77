// Package apiserver serves the Kubernetes API subset berth implements over
// HTTPS: authentication, routing, discovery, OpenAPI, content negotiation
// (JSON objects, Tables, partial metadata), watch, the four patch types,
// graceful deletion and errors as metav1.Status. Objects live in a
// storage.Store; admission and per-resource behaviour come from the
// admission and registry packages.
package apiserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/admission"
	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/storage"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	rbacregistryvalidation "k8s.io/kubernetes/pkg/registry/rbac/validation"
)

// Config holds what the server needs. Store, Listener and TLS are required.
type Config struct {
	Store     storage.Store
	Registry  *registry.Registry
	Scheme    *runtime.Scheme
	Admission admission.Chain
	// Listener is where HTTPS is served; TLS must verify client certificates
	// if given (tls.VerifyClientCertIfGiven) against the cluster CA.
	Listener net.Listener
	// ExtraListeners are served exactly as Listener (berth's listener on
	// the pod network's gateway, through which pods reach the API).
	ExtraListeners []net.Listener
	TLS            *tls.Config
	// Tokens maps accepted bearer tokens to user names (optional; used
	// only when Authenticator is nil).
	Tokens map[string]string
	// Authenticator identifies requests; nil: client certificates from
	// TLS.ClientCAs and Tokens, no anonymous access.
	Authenticator authenticator.Request
	// APIAudiences are the audiences a token must carry (the issuer).
	APIAudiences authenticator.Audiences
	// Authorizer decides every request; nil allows everything.
	Authorizer authorizer.Authorizer
	// Rules answers SelfSubjectRulesReview (kubectl auth can-i --list).
	Rules authorizer.RuleResolver
	// RBACResolver, if set, enables Kubernetes' escalation checks on
	// writes of roles and bindings.
	RBACResolver rbacregistryvalidation.AuthorizationRuleResolver
	// ServiceAccountTokens issues serviceaccounts/NAME/token; nil: 404.
	ServiceAccountTokens TokenIssuer
	// OpenIDMetadata serves the service-account issuer's OIDC discovery
	// document and key set; nil: 404.
	OpenIDMetadata OpenIDMetadata
	// ServiceCIDR is where ClusterIPs are allocated from, e.g. 10.96.0.0/12.
	ServiceCIDR string
	// KubeletClientTLS, if set, is how the server connects to a node
	// agent's kubelet endpoint for pods/log, exec, attach and portforward:
	// a client certificate the agents accept and the CA their serving
	// certificates chain to. Nil: those subresources answer 503.
	KubeletClientTLS *tls.Config
	Log              *slog.Logger
	// Version is reported at /version.
	Version version.Info
	// MaxRequestsInFlight, MaxMutatingRequestsInFlight and RequestTimeout
	// limit requests that are not watches or streams; zero takes
	// kube-apiserver's defaults (400, 200, 60s).
	MaxRequestsInFlight         int
	MaxMutatingRequestsInFlight int
	RequestTimeout              time.Duration
	// EventTTL is how long an event is kept after its last write, as
	// kube-apiserver's --event-ttl (default 1h).
	EventTTL time.Duration
	// WatchStallTimeout is how long a watch may go without its client
	// reading before it is closed (default 10s).
	WatchStallTimeout time.Duration
	// DisableProfiling turns off /debug/pprof/ (kube-apiserver's
	// --profiling=false); by default it is served to authorized users.
	DisableProfiling bool
}

// defaultEventTTL is kube-apiserver's --event-ttl default.
const defaultEventTTL = time.Hour

// Server is the API server. Create it with New and start it with Run.
type Server struct {
	cfg     Config
	reg     *registry.Registry
	scheme  *runtime.Scheme
	objs    *objects
	log     *slog.Logger
	ready   chan struct{}
	openapi *openAPI

	fmMu          sync.Mutex
	fieldManagers map[fieldManagerKey]*managedfields.FieldManager
	typeConverter managedfields.TypeConverter

	ipMu sync.Mutex // serialises ClusterIP allocation

	decoders decoders

	handler http.Handler // the authentication and authorization filters, then serveAPI
	authn   authenticator.Request
	reviews *reviews
	limits  *limits
}

// New validates cfg and builds the server.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Listener == nil || cfg.TLS == nil {
		return nil, errors.New("apiserver: Store, Listener and TLS are required")
	}
	if cfg.Registry == nil {
		cfg.Registry = registry.Resources()
	}
	if cfg.Scheme == nil {
		cfg.Scheme = registry.NewScheme()
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.ServiceCIDR == "" {
		cfg.ServiceCIDR = "10.96.0.0/12"
	}
	if cfg.EventTTL <= 0 {
		cfg.EventTTL = defaultEventTTL
	}
	s := &Server{
		cfg: cfg, reg: cfg.Registry, scheme: cfg.Scheme, objs: &objects{store: cfg.Store, eventTTL: cfg.EventTTL},
		log: cfg.Log, ready: make(chan struct{}), fieldManagers: map[fieldManagerKey]*managedfields.FieldManager{},
	}
	s.decoders = newDecoders(cfg.Scheme)
	setJSONPatchCopyLimit()
	s.openapi = newOpenAPI(s.reg)
	s.handler = s.buildHandler(http.HandlerFunc(s.serveAPI))
	s.limits = newLimits(cfg.Log, cfg.MaxRequestsInFlight, cfg.MaxMutatingRequestsInFlight, cfg.RequestTimeout)
	if s.cfg.WatchStallTimeout <= 0 {
		s.cfg.WatchStallTimeout = defaultWatchStallTimeout
	}
	return s, nil
}

// Ready is closed once the server accepts requests.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.cfg.Listener.Addr() }

// Run serves until ctx ends, then shuts down, giving open requests (watches
// included) a few seconds to finish.
func (s *Server) Run(ctx context.Context) error {
	hs := s.httpServer(ctx)
	listeners := append([]net.Listener{s.cfg.Listener}, s.cfg.ExtraListeners...)
	errc := make(chan error, len(listeners))
	for _, ln := range listeners {
		go func() { errc <- hs.Serve(tls.NewListener(ln, s.cfg.TLS)) }()
	}
	close(s.ready)
	select {
	case err := <-errc:
		return fmt.Errorf("apiserver: serving: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_ = hs.Shutdown(shutdownCtx)
	_ = hs.Close()
	return nil
}

// httpServer is the HTTP server with kube-apiserver's connection limits.
func (s *Server) httpServer(ctx context.Context) *http.Server {
	return &http.Server{
		Handler:           s.Handler(),
		TLSConfig:         s.cfg.TLS,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams:          http2MaxStreams,
			MaxReadFrameSize:              http2MaxFrame,
			MaxReceiveBufferPerStream:     http2MaxFrame,
			MaxReceiveBufferPerConnection: http2MaxFrame * http2MaxStreams,
		},
		BaseContext: func(net.Listener) context.Context { return ctx },
		ErrorLog:    slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
}

// Handler is the server's handler behind its request limits: panic
// recovery, the in-flight limit and the request timeout.
func (s *Server) Handler() http.Handler { return s.limits.wrap(s) }

// publicPaths answer without credentials, as Kubernetes' default RBAC lets
// system:unauthenticated read health and version.
var publicPaths = map[string]bool{"/healthz": true, "/livez": true, "/readyz": true, "/version": true, "/version/": true}

// ServeHTTP routes one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if publicPaths[r.URL.Path] {
		s.serveHealth(w, r)
		return
	}
	s.handler.ServeHTTP(w, r)
}

// serveAPI serves an authenticated and authorized request.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if strings.HasPrefix(path, "/openapi/") {
		s.openapi.serve(w, r)
		return
	}
	if s.serveDiscovery(w, r) || s.serveOpenID(w, r) || s.serveProfiling(w, r) {
		return
	}
	if strings.HasPrefix(path, "/healthz/") || strings.HasPrefix(path, "/livez/") || strings.HasPrefix(path, "/readyz/") {
		s.serveHealth(w, r)
		return
	}
	q := r.URL.Query()
	info, isResource, err := parsePath(s.reg, r.Method, path, isTrue(q.Get("watch")))
	if !isResource {
		writeError(w, notFoundPath(path))
		return
	}
	if err != nil {
		writeError(w, err)
		return
	}
	if s.serveAuthAPI(w, r, info) {
		return
	}
	s.serveResource(w, r, info)
}

func isTrue(v string) bool { return v == "true" || v == "1" }

func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	switch {
	case strings.HasPrefix(r.URL.Path, "/version"):
		writeJSON(w, http.StatusOK, s.cfg.Version)
	default:
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if _, err := s.cfg.Store.Revision(ctx); err != nil && strings.HasPrefix(r.URL.Path, "/readyz") {
			http.Error(w, "[-]etcd failed: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok"))
	}
}
