// Package dns is berth's cluster DNS server: the records of the Kubernetes
// DNS specification (kubernetes/dns docs/specification.md) for the cluster
// domain, answered from Service and Endpoints informers, and every other
// name forwarded to the node's resolvers.
//
// It plays the part of CoreDNS with its kubernetes plugin in a kubeadm
// cluster: it is reached through the kube-dns Service of kube-system, whose
// Endpoints point at the address it listens on.
package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mdns "github.com/miekg/dns"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listerscorev1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

const (
	// DefaultDomain is the cluster domain.
	DefaultDomain = "cluster.local"
	// TTL is the time-to-live of every cluster record, in seconds: the
	// default of CoreDNS' kubernetes plugin.
	TTL = 5
	// DefaultForwardTimeout bounds one forwarded query, all upstreams
	// together.
	DefaultForwardTimeout = 2 * time.Second
	// schemaVersion answers dns-version.<zone> TXT (specification §2.2).
	schemaVersion = "1.1.0"
)

// Config configures a Server. Client and Addr are required.
type Config struct {
	// Client feeds the Service and Endpoints informers.
	Client kubernetes.Interface
	// Addr is host:port to listen on, over UDP and TCP. Port 0 picks a
	// free port (the same one for both).
	Addr string
	// Domain is the cluster domain. Default: cluster.local.
	Domain string
	// Upstreams are host:port resolvers for names outside the domain.
	// Default: the nameservers of ResolvConf.
	Upstreams []string
	// ResolvConf is read for the default Upstreams. Default: /etc/resolv.conf.
	ResolvConf string
	// ForwardTimeout bounds a forwarded query. Default: DefaultForwardTimeout.
	ForwardTimeout time.Duration
	// FreeBind lets Addr's IP be one the machine does not hold yet (the
	// pod bridge's gateway, assigned when the first pod starts).
	FreeBind bool
	Log      *slog.Logger
}

// Server answers DNS queries. Create it with New, start it with Run.
type Server struct {
	cfg    Config
	log    *slog.Logger
	zone   string // "cluster.local." lower-case, fully qualified
	soa    *mdns.SOA
	fwd    *forwarder
	synced atomic.Bool

	factory   informers.SharedInformerFactory
	services  listerscorev1.ServiceLister
	endpoints listerscorev1.EndpointsLister
	hasSynced []cache.InformerSynced

	mu    sync.Mutex
	addr  net.Addr
	ready chan struct{}
}

// New validates cfg and prepares the informers; nothing runs until Run.
func New(cfg Config) (*Server, error) {
	if cfg.Client == nil || cfg.Addr == "" {
		return nil, errors.New("dns: Client and Addr are required")
	}
	if cfg.Domain == "" {
		cfg.Domain = DefaultDomain
	}
	if cfg.ResolvConf == "" {
		cfg.ResolvConf = "/etc/resolv.conf"
	}
	if cfg.ForwardTimeout <= 0 {
		cfg.ForwardTimeout = DefaultForwardTimeout
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: cfg.Log.With("component", "dns"), ready: make(chan struct{}),
		zone: mdns.CanonicalName(cfg.Domain)}
	s.soa = &mdns.SOA{
		Hdr:     mdns.RR_Header{Name: s.zone, Rrtype: mdns.TypeSOA, Class: mdns.ClassINET, Ttl: TTL},
		Ns:      "ns.dns." + s.zone,
		Mbox:    "hostmaster." + s.zone,
		Serial:  uint32(time.Now().Unix()),
		Refresh: 7200, Retry: 1800, Expire: 86400, Minttl: TTL,
	}
	s.factory = informers.NewSharedInformerFactory(cfg.Client, 0)
	svc := s.factory.Core().V1().Services()
	ep := s.factory.Core().V1().Endpoints()
	s.services, s.endpoints = svc.Lister(), ep.Lister()
	s.hasSynced = []cache.InformerSynced{svc.Informer().HasSynced, ep.Informer().HasSynced}
	s.fwd = &forwarder{upstreams: cfg.Upstreams, resolvConf: cfg.ResolvConf, timeout: cfg.ForwardTimeout}
	return s, nil
}

// Ready is closed once the server listens and its caches have synced.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// Addr is the UDP address the server listens on, once it does.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Run listens and serves until ctx ends. Names outside the cluster domain
// are forwarded from the start; names inside it get SERVFAIL (clients
// retry) until the caches have synced, rather than a wrong NXDOMAIN. An
// address that cannot be bound (port 53 taken) is retried every few
// seconds: pods then fail their lookups, nothing else stops.
func (s *Server) Run(ctx context.Context) error {
	s.factory.Start(ctx.Done())
	defer s.factory.Shutdown()
	synced := make(chan struct{})
	go func() {
		if cache.WaitForCacheSync(ctx.Done(), s.hasSynced...) {
			s.synced.Store(true)
			close(synced)
		}
	}()

	var pc net.PacketConn
	var ln net.Listener
	for {
		var err error
		if pc, ln, err = listen(ctx, s.cfg.Addr, s.cfg.FreeBind); err == nil {
			break
		}
		s.log.Error("cluster DNS cannot listen; pods' DNS lookups fail until it can; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(5 * time.Second):
		}
	}
	s.mu.Lock()
	s.addr = pc.LocalAddr()
	s.mu.Unlock()
	udp := &mdns.Server{PacketConn: pc, Handler: s}
	tcp := &mdns.Server{Listener: ln, Handler: s}
	errc := make(chan error, 2)
	go func() { errc <- udp.ActivateAndServe() }()
	go func() { errc <- tcp.ActivateAndServe() }()
	s.log.Info("cluster DNS listening", "addr", s.addr.String(), "domain", s.cfg.Domain)
	go func() {
		select {
		case <-synced:
			close(s.ready)
		case <-ctx.Done():
		}
	}()

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
		runErr = fmt.Errorf("dns server on %s stopped: %w", s.addr, runErr)
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	_ = udp.ShutdownContext(sctx)
	_ = tcp.ShutdownContext(sctx)
	return runErr
}

// GatewayIP is the pod network's gateway for a --cluster-cidr value (one
// prefix or a comma-separated list): the first address of the first
// prefix, which the CNI bridge takes.
func GatewayIP(clusterCIDR string) (netip.Addr, error) {
	var first netip.Addr
	for _, part := range strings.Split(clusterCIDR, ",") {
		prefix, err := netip.ParsePrefix(strings.TrimSpace(part))
		if err != nil {
			return netip.Addr{}, fmt.Errorf("cluster CIDR %q: %w", clusterCIDR, err)
		}
		gw := prefix.Masked().Addr().Next()
		if !prefix.Contains(gw) {
			return netip.Addr{}, fmt.Errorf("cluster CIDR %q: too small for a gateway", clusterCIDR)
		}
		if gw.Is4() {
			return gw, nil // pods of a dual-stack network reach the node on IPv4
		}
		if !first.IsValid() {
			first = gw
		}
	}
	return first, nil
}

// ServeDNS answers one query: from the cluster records when the name is in
// the cluster domain (or is a reverse name of a cluster IP), else from the
// upstream resolvers.
func (s *Server) ServeDNS(w mdns.ResponseWriter, r *mdns.Msg) {
	if len(r.Question) != 1 || r.Opcode != mdns.OpcodeQuery {
		m := new(mdns.Msg)
		m.SetRcode(r, mdns.RcodeNotImplemented)
		_ = w.WriteMsg(m)
		return
	}
	q := r.Question[0]
	name := strings.ToLower(mdns.CanonicalName(q.Name))
	var m *mdns.Msg
	switch {
	case mdns.IsSubDomain(s.zone, name):
		m = s.answerZone(r, q, name)
	case q.Qtype == mdns.TypePTR && (strings.HasSuffix(name, ".in-addr.arpa.") || strings.HasSuffix(name, ".ip6.arpa.")):
		if m = s.answerPTR(r, q, name); m == nil {
			m = s.fwd.forward(w, r)
		}
	default:
		m = s.fwd.forward(w, r)
	}
	if opt := r.IsEdns0(); opt != nil && m.IsEdns0() == nil {
		m.SetEdns0(opt.UDPSize(), opt.Do())
	}
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		size := mdns.MinMsgSize
		if opt := r.IsEdns0(); opt != nil && int(opt.UDPSize()) > size {
			size = int(opt.UDPSize())
		}
		m.Truncate(size)
	}
	_ = w.WriteMsg(m)
}
