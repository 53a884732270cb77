// Package bootstrap keeps the objects every Kubernetes cluster starts with:
// the namespaces default, kube-system, kube-public and kube-node-lease, and
// the "kubernetes" Service in default with its Endpoints, through which pods
// reach the API server (KUBERNETES_SERVICE_HOST, in-cluster clients), and
// the kube-dns Service in kube-system with its Endpoints, through which pods
// reach the cluster DNS server (kubedns.go).
//
// Like kube-apiserver's own system-namespaces and kubernetes-service
// controllers it recreates these objects when they are deleted and repairs
// the Service and Endpoints when they drift, notably when the API server's
// port changes between starts.
package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"github.com/berth-dev/berth/internal/controllers/workers"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Namespaces are the namespaces a cluster always has.
var Namespaces = []string{
	metav1.NamespaceDefault,
	metav1.NamespaceSystem,
	metav1.NamespacePublic,
	corev1.NamespaceNodeLease,
}

const (
	// ServiceName is the name of the API server's Service and Endpoints in
	// the default namespace.
	ServiceName = "kubernetes"
	// ServicePort is the port the Service exposes, as in Kubernetes.
	ServicePort int32 = 443
	// PortName names the port in the Service and the Endpoints.
	PortName = "https"

	// skipMirrorLabel keeps an EndpointSlice mirroring controller away from
	// these Endpoints, as kube-apiserver marks them.
	skipMirrorLabel = "endpointslice.kubernetes.io/skip-mirror"

	// Work-queue keys.
	keyService   = "service"
	keyEndpoints = "endpoints"
	nsKeyPrefix  = "namespace/"
)

// Config says where the API server is reachable. ServiceCIDR, AdvertiseIP
// and Port are required.
type Config struct {
	// ServiceCIDR is the service IP range; the Service gets its first
	// address (10.96.0.1 for 10.96.0.0/12).
	ServiceCIDR string
	// AdvertiseIP is the address pods reach the API server on.
	AdvertiseIP string
	// Port is the API server's listen port: the Service's targetPort and
	// the Endpoints' port.
	Port int32
	// DNSEndpointIP is where the cluster DNS server listens (the pod
	// network's gateway); the kube-dns Service of kube-system is kept with
	// Endpoints pointing there. Empty: no kube-dns objects.
	DNSEndpointIP string
	// Resync is how often the objects are checked even without events.
	// Default: one minute, as kube-apiserver checks its system namespaces.
	Resync time.Duration
	// Logger receives the controller's log lines. Default: slog.Default().
	Logger *slog.Logger
}

// Controller ensures the system namespaces and the kubernetes Service and
// Endpoints.
type Controller struct {
	client    kubernetes.Interface
	cfg       Config
	log       *slog.Logger
	serviceIP netip.Addr
	advertise netip.Addr
	cfgErr    error
	// unreachableOnce reports, once, an advertise IP that Endpoints
	// cannot hold.
	unreachableOnce sync.Once
	// dnsServiceIP and dnsEndpoint are the kube-dns ClusterIP and
	// endpoint address (kubedns.go); dnsFactory watches those objects.
	dnsServiceIP, dnsEndpoint netip.Addr
	dnsFactory                informers.SharedInformerFactory

	nsFactory  informers.SharedInformerFactory
	svcFactory informers.SharedInformerFactory
	synced     []cache.InformerSynced
	queue      workqueue.TypedRateLimitingInterface[string]
	hasSynced  atomic.Bool
}

// New returns a Controller for cfg. A bad cfg is reported by EnsureOnce and
// Run, which then do nothing else.
func New(client kubernetes.Interface, cfg Config) *Controller {
	c := &Controller{client: client, cfg: cfg, log: cfg.Logger}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.log = c.log.With("controller", "bootstrap")
	if c.cfg.Resync <= 0 {
		c.cfg.Resync = time.Minute
	}
	c.serviceIP, c.advertise, c.cfgErr = validate(cfg)
	if c.cfgErr == nil {
		c.cfgErr = c.validateDNS(cfg)
	}

	c.queue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](50*time.Millisecond, 30*time.Second),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "bootstrap"})

	c.nsFactory = informers.NewSharedInformerFactory(client, c.cfg.Resync)
	// Only the one Service and Endpoints matter; a field selector keeps
	// every other service in default out of the cache.
	c.svcFactory = informers.NewSharedInformerFactoryWithOptions(client, c.cfg.Resync,
		informers.WithNamespace(metav1.NamespaceDefault),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", ServiceName).String()
		}))

	nsReg, _ := c.nsFactory.Core().V1().Namespaces().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(_, obj any) { c.namespaceEvent(obj) },
		DeleteFunc: c.namespaceEvent,
	})
	svcReg, _ := c.svcFactory.Core().V1().Services().Informer().AddEventHandler(objectHandler(c.queue, keyService))
	epReg, _ := c.svcFactory.Core().V1().Endpoints().Informer().AddEventHandler(objectHandler(c.queue, keyEndpoints))
	c.synced = []cache.InformerSynced{nsReg.HasSynced, svcReg.HasSynced, epReg.HasSynced}
	c.watchDNS()
	return c
}

// validate parses cfg into the Service's ClusterIP and the Endpoints' IP.
func validate(cfg Config) (serviceIP, advertise netip.Addr, err error) {
	serviceIP, err = FirstIP(cfg.ServiceCIDR)
	if err != nil {
		return serviceIP, advertise, err
	}
	advertise, err = netip.ParseAddr(cfg.AdvertiseIP)
	if err != nil {
		return serviceIP, advertise, fmt.Errorf("advertise IP %q: %w", cfg.AdvertiseIP, err)
	}
	if cfg.Port <= 0 || cfg.Port > 65535 {
		return serviceIP, advertise, fmt.Errorf("API server port %d: must be between 1 and 65535", cfg.Port)
	}
	return serviceIP, advertise, nil
}

// FirstIP returns the first address after the network address of cidr, the
// ClusterIP Kubernetes gives the kubernetes Service.
func FirstIP(cidr string) (netip.Addr, error) {
	prefix, err := netip.ParsePrefix(cidr)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("service CIDR %q: %w", cidr, err)
	}
	first := prefix.Masked().Addr().Next()
	if !first.IsValid() || !prefix.Contains(first) {
		return netip.Addr{}, fmt.Errorf("service CIDR %q: too small to hold a service IP", cidr)
	}
	return first, nil
}

// objectHandler queues key on any change to the kubernetes object of a
// kind, or its deletion; resyncs arrive as updates, so drift is caught
// periodically too.
func objectHandler(q workqueue.TypedInterface[string], key string) cache.ResourceEventHandler {
	enqueue := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		// The field selector already limits the watch; checking again keeps
		// a server that ignores it from causing needless work.
		if m, err := meta.Accessor(obj); err == nil && m.GetName() == ServiceName {
			q.Add(key)
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: enqueue,
	}
}

func (c *Controller) namespaceEvent(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	ns, ok := obj.(*corev1.Namespace)
	if !ok {
		return
	}
	for _, name := range Namespaces {
		if ns.Name == name {
			c.queue.Add(nsKeyPrefix + name)
		}
	}
}

// HasSynced reports whether the controller's caches have synced.
func (c *Controller) HasSynced() bool { return c.hasSynced.Load() }

// EnsureOnce creates or repairs every object once, in dependency order, and
// returns what failed. Start-up calls it before the server reports ready,
// so that the first pod already sees the kubernetes Service.
func (c *Controller) EnsureOnce(ctx context.Context) error {
	if c.cfgErr != nil {
		return c.cfgErr
	}
	// Two waves of concurrent writes instead of eight in a row (each one an
	// etcd commit): the namespaces, then what lives in them.
	errs := make([]error, len(Namespaces)+4)
	var wg sync.WaitGroup
	for i, name := range Namespaces {
		wg.Go(func() { errs[i] = c.ensureNamespace(ctx, name) })
	}
	wg.Wait()
	n := len(Namespaces)
	// Each Service before its Endpoints; the two pairs at once.
	wg.Go(func() {
		errs[n] = c.ensureService(ctx)
		errs[n+1] = c.ensureEndpoints(ctx)
	})
	// kube-dns failures do not hold start-up (Run retries them): pods are
	// given its fixed ClusterIP either way, and its address may be taken
	// by a Service made before berth had cluster DNS.
	wg.Go(func() {
		for _, ensure := range []func(context.Context) error{c.ensureDNSService, c.ensureDNSEndpoints} {
			if err := ensure(ctx); err != nil {
				c.log.Warn("cluster DNS objects not in place yet; retrying in the background", "err", err)
			}
		}
	})
	wg.Wait()
	return errors.Join(errs...)
}

// Run keeps the objects in place until ctx ends; it then returns nil. It
// returns an error at once only for a bad Config. API errors never end it:
// failed objects are retried with back-off.
func (c *Controller) Run(ctx context.Context) error {
	if c.cfgErr != nil {
		return c.cfgErr
	}
	defer c.queue.ShutDown()
	c.nsFactory.Start(ctx.Done())
	c.svcFactory.Start(ctx.Done())
	defer c.nsFactory.Shutdown()
	defer c.svcFactory.Shutdown()
	c.startDNS(ctx)
	defer c.stopDNS()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return nil // ctx ended before the caches synced
	}
	c.hasSynced.Store(true)

	// Check everything once: nothing may have changed since EnsureOnce,
	// but a namespace that never existed produces no event.
	for _, name := range Namespaces {
		c.queue.Add(nsKeyPrefix + name)
	}
	c.queue.Add(keyService)
	c.queue.Add(keyEndpoints)
	c.queueDNS()

	// One worker: the objects are few, and serial work keeps the
	// namespace → Service → Endpoints order simple to reason about.
	workers.Run(ctx, c.queue, 1, c.sync, func(key string, err error) {
		if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			// Expected while a deleted default namespace drains; it is
			// recreated once gone.
			c.log.Info("waiting for namespace to finish terminating", "object", key)
			return
		}
		c.log.Warn("retrying", "object", key, "err", err)
	})
	return nil
}

func (c *Controller) sync(ctx context.Context, key string) error {
	switch key {
	case keyService:
		return c.ensureService(ctx)
	case keyEndpoints:
		return c.ensureEndpoints(ctx)
	case keyDNSService:
		return c.ensureDNSService(ctx)
	case keyDNSEndpoints:
		return c.ensureDNSEndpoints(ctx)
	}
	name := key[len(nsKeyPrefix):]
	created, err := c.ensureNamespaceCreated(ctx, name)
	if err == nil && created && name == metav1.NamespaceDefault {
		// A recreated default namespace lost the Service and Endpoints
		// with it; do not wait out their retry back-off.
		c.queue.Add(keyService)
		c.queue.Add(keyEndpoints)
	}
	if err == nil && created && name == metav1.NamespaceSystem {
		c.queueDNS()
	}
	return err
}

func (c *Controller) ensureNamespace(ctx context.Context, name string) error {
	_, err := c.ensureNamespaceCreated(ctx, name)
	return err
}

// ensureNamespaceCreated creates namespace name unless it exists, and says
// whether it did. A terminating namespace counts as existing: it is
// recreated once the namespace controller has removed it.
func (c *Controller) ensureNamespaceCreated(ctx context.Context, name string) (bool, error) {
	_, err := c.client.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if err == nil {
		return false, nil
	}
	if !apierrors.IsNotFound(err) {
		return false, fmt.Errorf("getting namespace %q: %w", name, err)
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	_, err = c.client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("creating namespace %q: %w", name, err)
	}
	c.log.Info("created namespace", "namespace", name)
	return true, nil
}

// desiredService is the kubernetes Service as kube-apiserver creates it.
func (c *Controller) desiredService() *corev1.Service {
	ip := c.serviceIP.String()
	family := ipFamily(c.serviceIP)
	single := corev1.IPFamilyPolicySingleStack
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name:      ServiceName,
			Namespace: metav1.NamespaceDefault,
			Labels:    map[string]string{"component": "apiserver", "provider": "kubernetes"},
		},
		Spec: corev1.ServiceSpec{
			Type:            corev1.ServiceTypeClusterIP,
			ClusterIP:       ip,
			ClusterIPs:      []string{ip},
			IPFamilies:      []corev1.IPFamily{family},
			IPFamilyPolicy:  &single,
			SessionAffinity: corev1.ServiceAffinityNone,
			Ports:           c.servicePorts(),
		},
	}
}

func (c *Controller) servicePorts() []corev1.ServicePort {
	return []corev1.ServicePort{{
		Name:       PortName,
		Protocol:   corev1.ProtocolTCP,
		Port:       ServicePort,
		TargetPort: intstr.FromInt32(c.cfg.Port),
	}}
}

// ensureService creates the kubernetes Service or repairs its labels, type,
// selector and ports. Its ClusterIP is immutable: a Service left with an
// address from an earlier service CIDR is reported, not replaced, since
// deleting it would break every pod that already uses it.
func (c *Controller) ensureService(ctx context.Context) error {
	services := c.client.CoreV1().Services(metav1.NamespaceDefault)
	want := c.desiredService()
	cur, err := services.Get(ctx, ServiceName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err := services.Create(ctx, want, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil // created meanwhile; its update event brings us back
		}
		if err != nil {
			return fmt.Errorf("creating service default/%s: %w", ServiceName, err)
		}
		c.log.Info("created service", "service", "default/"+ServiceName, "clusterIP", want.Spec.ClusterIP, "targetPort", c.cfg.Port)
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting service default/%s: %w", ServiceName, err)
	}
	if cur.Spec.ClusterIP != want.Spec.ClusterIP {
		c.log.Warn("service default/kubernetes does not have the first address of the service CIDR as its ClusterIP, "+
			"which cannot change in place; delete the service to have it recreated",
			"clusterIP", cur.Spec.ClusterIP, "want", want.Spec.ClusterIP, "serviceCIDR", c.cfg.ServiceCIDR)
	}
	upd := cur.DeepCopy()
	changed := false
	for k, v := range want.Labels {
		if upd.Labels[k] != v {
			if upd.Labels == nil {
				upd.Labels = map[string]string{}
			}
			upd.Labels[k] = v
			changed = true
		}
	}
	if upd.Spec.Type != corev1.ServiceTypeClusterIP {
		upd.Spec.Type = corev1.ServiceTypeClusterIP
		upd.Spec.ExternalName = ""
		upd.Spec.ExternalTrafficPolicy = ""
		changed = true
	}
	if len(upd.Spec.Selector) > 0 {
		// A selector would let an endpoints controller replace the
		// API server's address with pods'.
		upd.Spec.Selector = nil
		changed = true
	}
	if !portsMatch(upd.Spec.Ports, want.Spec.Ports) {
		upd.Spec.Ports = want.Spec.Ports
		changed = true
	}
	if !changed {
		return nil
	}
	if _, err := services.Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating service default/%s: %w", ServiceName, err)
	}
	c.log.Info("repaired service", "service", "default/"+ServiceName, "targetPort", c.cfg.Port)
	return nil
}

// portsMatch compares what matters of the ports; fields the API server
// fills in (nodePort, appProtocol) are ignored.
func portsMatch(got, want []corev1.ServicePort) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Name != w.Name || g.Protocol != w.Protocol || g.Port != w.Port || g.TargetPort != w.TargetPort {
			return false
		}
	}
	return true
}

func (c *Controller) desiredEndpoints() *corev1.Endpoints {
	return &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{
			Name:      ServiceName,
			Namespace: metav1.NamespaceDefault,
			Labels:    map[string]string{skipMirrorLabel: "true"},
		},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: c.advertise.String()}},
			Ports:     []corev1.EndpointPort{{Name: PortName, Port: c.cfg.Port, Protocol: corev1.ProtocolTCP}},
		}},
	}
}

// endpointIPAllowed reports whether ip may be an endpoint address. The API
// server rejects, as Kubernetes does, loopback, link-local and unspecified
// addresses: no pod could reach them.
func endpointIPAllowed(ip netip.Addr) bool {
	return !ip.IsLoopback() && !ip.IsUnspecified() && !ip.IsLinkLocalUnicast() && !ip.IsLinkLocalMulticast()
}

// ensureEndpoints creates the kubernetes Endpoints or rewrites them when
// they no longer point at this API server. With an advertise IP that pods
// cannot reach (an API server listening on 127.0.0.1) there is nothing to
// point at: the Endpoints are left as they are and a warning says so,
// rather than failing start-up.
func (c *Controller) ensureEndpoints(ctx context.Context) error {
	if !endpointIPAllowed(c.advertise) {
		c.unreachableOnce.Do(func() {
			c.log.Warn("pods cannot reach the API server through the kubernetes service: its advertise address is "+
				"loopback, link-local or unspecified, which Endpoints cannot hold; listen on an address pods can reach",
				"advertiseIP", c.advertise.String(), "endpoints", "default/"+ServiceName)
		})
		return nil
	}
	endpoints := c.client.CoreV1().Endpoints(metav1.NamespaceDefault)
	want := c.desiredEndpoints()
	cur, err := endpoints.Get(ctx, ServiceName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err := endpoints.Create(ctx, want, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil // created meanwhile; its update event brings us back
		}
		if err != nil {
			return fmt.Errorf("creating endpoints default/%s: %w", ServiceName, err)
		}
		c.log.Info("created endpoints", "endpoints", "default/"+ServiceName, "address", c.advertise.String(), "port", c.cfg.Port)
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting endpoints default/%s: %w", ServiceName, err)
	}
	if equality.Semantic.DeepEqual(cur.Subsets, want.Subsets) && cur.Labels[skipMirrorLabel] == "true" {
		return nil
	}
	upd := cur.DeepCopy()
	upd.Subsets = want.Subsets
	if upd.Labels == nil {
		upd.Labels = map[string]string{}
	}
	upd.Labels[skipMirrorLabel] = "true"
	if _, err := endpoints.Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating endpoints default/%s: %w", ServiceName, err)
	}
	c.log.Info("repaired endpoints", "endpoints", "default/"+ServiceName, "address", c.advertise.String(), "port", c.cfg.Port)
	return nil
}

// ipFamily is the Service IP family of a ClusterIP.
func ipFamily(ip netip.Addr) corev1.IPFamily {
	if ip.Is6() {
		return corev1.IPv6Protocol
	}
	return corev1.IPv4Protocol
}
