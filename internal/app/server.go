// Package app holds berth's composition roots: `berth server` (etcd, API
// server, controllers, and the node agent) and `berth agent`. Wiring,
// supervision and readiness live here; behaviour lives in the packages
// they compose.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/admission"
	"github.com/berth-dev/berth/internal/apiserver"
	"github.com/berth-dev/berth/internal/controllers/bootstrap"
	"github.com/berth-dev/berth/internal/controllers/workloads"
	clusterdns "github.com/berth-dev/berth/internal/dns"
	"github.com/berth-dev/berth/internal/pki"
	"github.com/berth-dev/berth/internal/proxy"
	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/storage"
	"github.com/berth-dev/berth/internal/storage/etcd"
	"github.com/berth-dev/berth/internal/watchcache"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/version"
	"k8s.io/client-go/applyconfigurations"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
)

// Version is what /version reports: the Kubernetes release whose
// behaviour berth matches.
var serverVersion = version.Info{Major: "1", Minor: "35", GitVersion: "v1.35.0+berth", Platform: "linux/amd64", GoVersion: "go1.26"}

// ServerConfig is `berth server`'s configuration.
type ServerConfig struct {
	DataDir     string
	Listen      string // host:port; port 0 picks a free one
	NodeName    string
	EtcdServers []string // empty: embedded etcd under DataDir/etcd
	// EtcdCAFile, EtcdCertFile and EtcdKeyFile secure the connection to
	// EtcdServers as kube-apiserver's --etcd-cafile/--etcd-certfile/
	// --etcd-keyfile do.
	EtcdCAFile, EtcdCertFile, EtcdKeyFile string
	AdmissionPlugins                      []string // extra plugins to enable, e.g. AlwaysPullImages
	DisableAgent                          bool
	// ContainerRuntimeEndpoint uses an existing CRI runtime instead of a
	// containerd child.
	ContainerRuntimeEndpoint string
	RegistryCAs              map[string]string
	// OCIRuntime: see AgentConfig.
	OCIRuntime string
	// ImagePullCredentialsVerificationPolicy: see AgentConfig.
	ImagePullCredentialsVerificationPolicy string
	ServiceCIDR                            string
	ClusterCIDR                            string
	// Profiling serves /debug/pprof/ to authorized users, as
	// kube-apiserver's --profiling (on by default there too).
	Profiling bool
	// KubeletPort is the node agent's endpoint port; 0 picks a free one
	// (several servers can share a machine).
	KubeletPort int
	Log         *slog.Logger
}

// trimAfter is how long after ready berth returns the heap that start-up
// left free to the OS: by then the controllers' first lists are done.
const trimAfter = 10 * time.Second

// startupGCPercent is the GC target until ready. Start-up allocates much
// that dies at once (OpenAPI schemas parsed for managed fields, the
// controllers' first lists) among what stays for good; collecting more
// often then packs what stays into fewer spans, ~4 MiB less resident at
// idle, for a few ms more of start-up CPU. Requests after ready run at the
// usual target.
const startupGCPercent = 25

// tightenStartupGC sets startupGCPercent unless the user set GOGC, and
// returns what restores the previous target.
func tightenStartupGC() (restore func()) {
	if _, set := os.LookupEnv("GOGC"); set {
		return func() {}
	}
	prev := debug.SetGCPercent(startupGCPercent)
	var once sync.Once
	return func() { once.Do(func() { debug.SetGCPercent(prev) }) }
}

// KubeconfigPath is where the admin kubeconfig is written once ready.
func KubeconfigPath(dataDir string) string { return filepath.Join(dataDir, "kubeconfig") }

// RunServer runs everything until ctx ends, then stops cleanly.
func RunServer(ctx context.Context, cfg ServerConfig) error {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:6443"
	}
	if cfg.ServiceCIDR == "" {
		cfg.ServiceCIDR = "10.96.0.0/12"
	}
	if cfg.ClusterCIDR == "" {
		cfg.ClusterCIDR = "10.244.0.0/16"
	}
	if cfg.NodeName == "" {
		h, _ := os.Hostname()
		cfg.NodeName = strings.ToLower(h)
	}
	if err := checkVerificationPolicy(cfg.ImagePullCredentialsVerificationPolicy); err != nil {
		return err
	}
	restoreGC := tightenStartupGC()
	defer restoreGC()
	// The cluster DNS server runs with the node agent on the pod network's
	// gateway; the kube-dns Service (the tenth address of the service
	// CIDR) reaches it there.
	dnsIP, err := bootstrap.DNSServiceIP(cfg.ServiceCIDR)
	if err != nil {
		return err
	}
	gateway, err := clusterdns.GatewayIP(cfg.ClusterCIDR)
	if err != nil {
		return err
	}
	for _, p := range cfg.AdmissionPlugins {
		if p != "AlwaysPullImages" {
			return fmt.Errorf("--enable-admission-plugins: unknown plugin %q (berth supports AlwaysPullImages; ServiceAccount is always on)", p)
		}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("creating data dir %s: %w", cfg.DataDir, err)
	}
	kubeconfig := KubeconfigPath(cfg.DataDir)
	// The kubeconfig is the readiness signal: remove a stale one first.
	if err := os.Remove(kubeconfig); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	// containerd, etcd and the certificates need nothing from each other:
	// they start at once, each taking a few hundred milliseconds cold.
	agentCfg := AgentConfig{DataDir: cfg.DataDir, NodeName: cfg.NodeName,
		ContainerRuntimeEndpoint: cfg.ContainerRuntimeEndpoint, ClusterCIDR: cfg.ClusterCIDR, ClusterDNS: []string{dnsIP.String()},
		RegistryCAs: cfg.RegistryCAs, OCIRuntime: cfg.OCIRuntime, ImagePullCredentialsVerificationPolicy: cfg.ImagePullCredentialsVerificationPolicy,
		KubeletPort: cfg.KubeletPort, Log: cfg.Log}
	var rt *runtimeChild
	if !cfg.DisableAgent && cfg.ContainerRuntimeEndpoint == "" {
		if rt, err = startRuntime(ctx, agentCfg); err != nil {
			return err
		}
		// Stops containerd on an early return; after a start, na.stop
		// has stopped it already.
		defer rt.stop()
	}
	type opened struct {
		store storage.Store
		close func()
		err   error
	}
	// The first write parses the OpenAPI schema of every built-in type for
	// managed fields (tens of ms of CPU): do it while etcd starts.
	go applyconfigurations.NewTypeConverter(runtime.NewScheme())
	began := time.Now()
	// took is when each step of the start ended, from began, for the
	// ready line: where a slow start went.
	var took sync.Map
	mark := func(step string) { took.Store(step, time.Since(began).Round(time.Millisecond)) }
	storeCh := make(chan opened, 1)
	go func() {
		st, closeStore, err := openStorage(ctx, cfg)
		mark("etcd")
		storeCh <- opened{st, closeStore, err}
	}()
	storeTaken := false
	defer func() {
		// An early return still closes etcd cleanly once it started.
		if !storeTaken {
			if o := <-storeCh; o.err == nil {
				o.close()
			}
		}
	}()

	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listening on %s: %w (is another server using it? pick another with --listen)", cfg.Listen, err)
	}
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	access := planAPIAccess(cfg, host)
	bundle, err := pki.Ensure(filepath.Join(cfg.DataDir, "pki"),
		append([]string{host, cfg.NodeName, firstIP(cfg.ServiceCIDR)}, access.certHosts...), cfg.Log)
	if err != nil {
		ln.Close()
		return err
	}
	mark("pki")
	server := serverURL(net.JoinHostPort(host, port))
	client, err := kubernetes.NewForConfig(restConfig(server, bundle))
	if err != nil {
		ln.Close()
		return err
	}

	// The Service proxy (kube-proxy's job) runs with the node. Its table
	// is set up first: it guards the gateway listener before that binds.
	var prx *proxy.Proxy
	var extra []net.Listener
	if !cfg.DisableAgent {
		var guard *proxy.Guard
		if access.gateway.IsValid() {
			p, _ := strconv.Atoi(port)
			// 53: cluster DNS listens on the gateway too.
			guard = &proxy.Guard{IP: access.gateway, TCP: []int{p, 53}, UDP: []int{53}}
		}
		prx, err = proxy.New(proxy.Config{Client: client, Table: proxy.TableName(cfg.DataDir), Guard: guard, Log: cfg.Log})
		if err == nil {
			err = prx.Setup(ctx)
		}
		if err != nil {
			ln.Close()
			return err
		}
		defer func() {
			if err := prx.Remove(); err != nil {
				cfg.Log.Warn("leaving Service rules behind", "err", err)
			}
		}()
		if access.gateway.IsValid() {
			gln, err := listenFreebind(ctx, net.JoinHostPort(access.gateway.String(), port))
			if err != nil {
				ln.Close()
				return fmt.Errorf("%w (pods reach the API server there; pick another port with --listen)", err)
			}
			extra = append(extra, gln)
		}
	}

	closeListeners := func() {
		ln.Close()
		for _, l := range extra {
			l.Close()
		}
	}
	o := <-storeCh
	storeTaken = true
	if o.err != nil {
		closeListeners()
		return o.err
	}
	store := o.store
	defer o.close()

	mark("storage")
	reg := registry.Resources()
	plugins, err := admissionPlugins(store, reg, cfg.AdmissionPlugins)
	if err != nil {
		return err
	}
	// One typed informer factory for the authorizer and the controllers
	// (kube-controller-manager shares one the same way): every pod event
	// is decoded and cached once for all of them.
	shared := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTransform(workloads.TrimManagedFields))
	local := apiserver.NewLocalSources(store, reg)
	registerLocalInformers(shared, local, reg)
	acl, err := newAccessControl(bundle, store, reg, client, shared)
	if err != nil {
		return err
	}
	acl.local = local
	nodeRestriction, err := acl.nodeRestrictionPlugin()
	if err != nil {
		return err
	}
	plugins = append(plugins, nodeRestriction, acl.escalationPlugin())
	kubeletClientTLS, err := bundle.KubeletClientTLS()
	if err != nil {
		return err
	}
	apiCfg := apiserver.Config{KubeletClientTLS: kubeletClientTLS,
		Store: store, Registry: reg, Admission: admission.Chain{Plugins: plugins},
		Listener: ln, ExtraListeners: extra, TLS: bundle.ServerTLS(), ServiceCIDR: cfg.ServiceCIDR, Log: cfg.Log, Version: serverVersion,
		DisableProfiling: !cfg.Profiling,
	}
	acl.configure(&apiCfg)
	srv, err := apiserver.New(apiCfg)
	if err != nil {
		return err
	}
	mark("apiserver")
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	run := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil && ctx.Err() == nil {
				errc <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	run("apiserver", srv.Run)

	ctrl := controllerSet{client: client, restConfig: restConfig(server, bundle), serviceCIDR: cfg.ServiceCIDR,
		advertiseIP: access.advertise, dnsEndpointIP: gateway.String(), port: port, log: cfg.Log, shared: shared, local: local}
	if err := ctrl.bootstrap(ctx); err != nil {
		cancel()
		wg.Wait()
		return err
	}
	// The node (containerd's readiness, registration, first pod list) comes
	// up while the RBAC policy is written; the controllers start as soon as
	// the policy is in, without waiting for the node.
	type started struct {
		na  *nodeAgent
		err error
	}
	agentc := make(chan started, 1)
	if cfg.DisableAgent {
		agentc <- started{}
	} else {
		agentCfg.KubeletServing = func(h []string) (tls.Certificate, error) { return bundle.IssueServing(cfg.NodeName, h) }
		agentCfg.KubeletClientCA = bundle.CAPool()
		go func() {
			na, err := startAgent(ctx, agentCfg, client, rt)
			mark("node")
			agentc <- started{na, err}
		}()
	}
	aclErr := acl.bootstrap(ctx)
	mark("rbac")
	if aclErr == nil {
		for name, f := range ctrl.runners() {
			run(name, f)
		}
		for name, f := range acl.runners() {
			run(name, f)
		}
		if prx != nil {
			run("proxy", prx.Run)
		}
	}
	st := <-agentc
	na := st.na
	if aclErr != nil || st.err != nil {
		cancel()
		if na != nil {
			na.stop(6 * time.Second)
		}
		wg.Wait()
		if st.err != nil {
			return errors.Join(aclErr, fmt.Errorf("starting the node agent: %w", st.err))
		}
		return aclErr
	}

	restoreGC() // before the kubeconfig tells clients berth is ready
	kc, err := kubeconfigBytes(server, bundle.CAPEM, bundle.AdminCert, bundle.AdminKey, "admin")
	if err != nil {
		return err
	}
	if err := pki.WriteFileAtomic(kubeconfig, kc, 0o600); err != nil {
		return err
	}
	attrs := []any{"server", server, "kubeconfig", kubeconfig, "took", time.Since(began).Round(time.Millisecond)}
	for _, step := range []string{"pki", "etcd", "storage", "apiserver", "bootstrap", "rbac", "node"} {
		if d, ok := took.Load(step); ok {
			attrs = append(attrs, step, d)
		}
	}
	cfg.Log.Info("berth server ready", attrs...)

	// Once the controllers' first lists are done, return the heap the start
	// left free to the OS at once, rather than over minutes through the
	// scavenger.
	trim := time.AfterFunc(trimAfter, debug.FreeOSMemory)
	defer trim.Stop()

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	cancel()
	if na != nil {
		na.stop(6 * time.Second)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(8 * time.Second):
		cfg.Log.Warn("some components did not stop in time")
	}
	return runErr
}

func openStorage(ctx context.Context, cfg ServerConfig) (storage.Store, func(), error) {
	if len(cfg.EtcdServers) > 0 {
		tlsCfg, err := etcdClientTLS(cfg.EtcdCAFile, cfg.EtcdCertFile, cfg.EtcdKeyFile)
		if err != nil {
			return nil, nil, err
		}
		client, err := etcd.DialTLS(ctx, cfg.EtcdServers, tlsCfg)
		if err != nil {
			return nil, nil, fmt.Errorf("connecting to etcd %v: %w", cfg.EtcdServers, err)
		}
		// Others may write to an external etcd: consistent reads ask it
		// for its revision.
		st := etcd.New(client, etcd.OwnClient())
		wc, err := watchcache.New(ctx, st, watchcache.Options{Log: cfg.Log})
		if err != nil {
			st.Close()
			return nil, nil, err
		}
		return wc, func() { wc.Close() }, nil
	}
	startCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	// The embedded etcd answers only on a unix socket in a 0700 directory:
	// no other local user, and no hostNetwork pod, can read or write the
	// store behind the API server's back.
	emb, err := etcd.StartEmbedded(startCtx, etcd.EmbeddedConfig{Dir: filepath.Join(cfg.DataDir, "etcd"),
		SocketDir: EtcdSocketDir(cfg.DataDir)})
	if err != nil {
		return nil, nil, fmt.Errorf("starting embedded etcd in %s: %w", filepath.Join(cfg.DataDir, "etcd"), err)
	}
	// Only this process can reach the embedded etcd: the watch cache is
	// its sole writer, and consistent reads need no round trip to etcd.
	wc, err := watchcache.New(ctx, etcd.New(emb.LocalClient()), watchcache.Options{SoleWriter: true, Log: cfg.Log})
	if err != nil {
		emb.Close()
		return nil, nil, err
	}
	return wc, func() { wc.Close(); emb.Close() }, nil
}

func advertiseIP(host string) string {
	if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
		return host
	}
	return "127.0.0.1"
}

func firstIP(cidr string) string {
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		return ""
	}
	ip := n.IP.To4()
	if ip == nil {
		ip = n.IP
	}
	out := append(net.IP(nil), ip...)
	out[len(out)-1]++
	return out.String()
}

// checkVerificationPolicy rejects an unknown KEP-2535 policy before
// anything is started or written.
func checkVerificationPolicy(p string) error {
	switch p {
	case "", "NeverVerify", "NeverVerifyPreloadedImages", "NeverVerifyAllowlistedImages", "AlwaysVerify":
		return nil
	}
	return fmt.Errorf("--image-pull-credentials-verification-policy: unknown image pull credential verification policy: %s (use NeverVerify, NeverVerifyPreloadedImages, NeverVerifyAllowlistedImages or AlwaysVerify)", p)
}

// registerLocalInformers makes f's informers read the watch cache in
// process instead of the API over TLS (apiserver.LocalSources), for the
// kinds the garbage collector watches: every stored kind that can be
// listed, watched and deleted, events aside. The garbage collector takes
// an informer of each from f anyway, so this starts no informer that
// would not run; the controllers' and authorizers' kinds are among them.
func registerLocalInformers(f informers.SharedInformerFactory, local *apiserver.LocalSources, reg *registry.Registry) {
	if local == nil {
		return
	}
	ignored := workloads.GCIgnored()
	for _, r := range reg.All() {
		if _, skip := ignored[r.GVR().GroupResource()]; skip || !r.Serves("list") || !r.Serves("watch") || !r.Serves("delete") {
			continue
		}
		if newInformer, obj, ok := local.Informer(r.GVR()); ok {
			f.InformerFor(obj, newInformer)
		}
	}
}
