package bootstrap

import (
	"context"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
)

// The kube-dns Service fronts berth's cluster DNS server, as kubeadm's
// kube-dns Service fronts CoreDNS: same name, namespace, labels, port names
// and ClusterIP. It has no selector: its Endpoints point at the address the
// server listens on (the pod network's gateway), kept here.
const (
	DNSServiceName = "kube-dns"
	// dnsServiceIndex: kubeadm gives kube-dns the tenth address of the
	// service CIDR (10.96.0.10).
	dnsServiceIndex = 10
	dnsPort         = 53

	keyDNSService   = "kube-dns-service"
	keyDNSEndpoints = "kube-dns-endpoints"
)

// DNSServiceIP is the kube-dns ClusterIP for a service CIDR: its tenth
// address, as kubeadm picks it.
func DNSServiceIP(serviceCIDR string) (netip.Addr, error) {
	prefix, err := netip.ParsePrefix(serviceCIDR)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("service CIDR %q: %w", serviceCIDR, err)
	}
	ip := prefix.Masked().Addr()
	for range dnsServiceIndex {
		ip = ip.Next()
	}
	if !ip.IsValid() || !prefix.Contains(ip) {
		return netip.Addr{}, fmt.Errorf("service CIDR %q: too small to hold the kube-dns address", serviceCIDR)
	}
	return ip, nil
}

// dnsEnabled says whether the kube-dns objects are kept (Config.DNSEndpointIP set).
func (c *Controller) dnsEnabled() bool { return c.dnsEndpoint.IsValid() }

// validateDNS parses the kube-dns part of cfg.
func (c *Controller) validateDNS(cfg Config) error {
	if cfg.DNSEndpointIP == "" {
		return nil
	}
	ep, err := netip.ParseAddr(cfg.DNSEndpointIP)
	if err != nil {
		return fmt.Errorf("cluster DNS endpoint IP %q: %w", cfg.DNSEndpointIP, err)
	}
	if !endpointIPAllowed(ep) {
		return fmt.Errorf("cluster DNS endpoint IP %s: loopback, link-local and unspecified addresses cannot be endpoints", ep)
	}
	ip, err := DNSServiceIP(cfg.ServiceCIDR)
	if err != nil {
		return err
	}
	c.dnsServiceIP, c.dnsEndpoint = ip, ep
	return nil
}

// watchDNS adds the informers of the kube-dns Service and Endpoints.
func (c *Controller) watchDNS() {
	if !c.dnsEnabled() {
		return
	}
	c.dnsFactory = informers.NewSharedInformerFactoryWithOptions(c.client, c.cfg.Resync,
		informers.WithNamespace(metav1.NamespaceSystem),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", DNSServiceName).String()
		}))
	enqueue := func(key string) cache.ResourceEventHandler {
		f := func(any) { c.queue.Add(key) }
		return cache.ResourceEventHandlerFuncs{AddFunc: f, UpdateFunc: func(_, o any) { f(o) }, DeleteFunc: f}
	}
	svcReg, _ := c.dnsFactory.Core().V1().Services().Informer().AddEventHandler(enqueue(keyDNSService))
	epReg, _ := c.dnsFactory.Core().V1().Endpoints().Informer().AddEventHandler(enqueue(keyDNSEndpoints))
	c.synced = append(c.synced, svcReg.HasSynced, epReg.HasSynced)
}

func (c *Controller) startDNS(ctx context.Context) {
	if c.dnsFactory != nil {
		c.dnsFactory.Start(ctx.Done())
	}
}

func (c *Controller) stopDNS() {
	if c.dnsFactory != nil {
		c.dnsFactory.Shutdown()
	}
}

func (c *Controller) queueDNS() {
	if c.dnsEnabled() {
		c.queue.Add(keyDNSService)
		c.queue.Add(keyDNSEndpoints)
	}
}

func (c *Controller) desiredDNSService() *corev1.Service {
	ip := c.dnsServiceIP.String()
	family := ipFamily(c.dnsServiceIP)
	single := corev1.IPFamilyPolicySingleStack
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name:      DNSServiceName,
			Namespace: metav1.NamespaceSystem,
			Labels:    map[string]string{"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS"},
		},
		Spec: corev1.ServiceSpec{
			Type:            corev1.ServiceTypeClusterIP,
			ClusterIP:       ip,
			ClusterIPs:      []string{ip},
			IPFamilies:      []corev1.IPFamily{family},
			IPFamilyPolicy:  &single,
			SessionAffinity: corev1.ServiceAffinityNone,
			Ports: []corev1.ServicePort{
				{Name: "dns", Protocol: corev1.ProtocolUDP, Port: dnsPort, TargetPort: intstr.FromInt32(dnsPort)},
				{Name: "dns-tcp", Protocol: corev1.ProtocolTCP, Port: dnsPort, TargetPort: intstr.FromInt32(dnsPort)},
			},
		},
	}
}

// ensureDNSService creates the kube-dns Service or repairs its labels,
// selector and ports; a different ClusterIP is reported, not replaced.
func (c *Controller) ensureDNSService(ctx context.Context) error {
	if !c.dnsEnabled() {
		return nil
	}
	services := c.client.CoreV1().Services(metav1.NamespaceSystem)
	want := c.desiredDNSService()
	name := metav1.NamespaceSystem + "/" + DNSServiceName
	cur, err := services.Get(ctx, DNSServiceName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err := services.Create(ctx, want, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("creating service %s with ClusterIP %s: %w", name, want.Spec.ClusterIP, err)
		}
		c.log.Info("created service", "service", name, "clusterIP", want.Spec.ClusterIP)
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting service %s: %w", name, err)
	}
	if cur.Spec.ClusterIP != want.Spec.ClusterIP {
		c.log.Warn("service kube-system/kube-dns does not have the tenth address of the service CIDR, which pods are given as "+
			"their nameserver, and a ClusterIP cannot change in place; delete the service to have it recreated",
			"clusterIP", cur.Spec.ClusterIP, "want", want.Spec.ClusterIP)
	}
	upd := cur.DeepCopy()
	changed := false
	for k, v := range want.Labels {
		if upd.Labels[k] != v {
			if upd.Labels == nil {
				upd.Labels = map[string]string{}
			}
			upd.Labels[k], changed = v, true
		}
	}
	if upd.Spec.Type != corev1.ServiceTypeClusterIP || len(upd.Spec.Selector) > 0 || !portsMatch(upd.Spec.Ports, want.Spec.Ports) {
		upd.Spec.Type, upd.Spec.ExternalName, upd.Spec.Selector, upd.Spec.Ports = corev1.ServiceTypeClusterIP, "", nil, want.Spec.Ports
		changed = true
	}
	if !changed {
		return nil
	}
	if _, err := services.Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating service %s: %w", name, err)
	}
	c.log.Info("repaired service", "service", name)
	return nil
}

func (c *Controller) desiredDNSEndpoints() *corev1.Endpoints {
	return &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{
			Name:      DNSServiceName,
			Namespace: metav1.NamespaceSystem,
			Labels:    map[string]string{"k8s-app": "kube-dns"},
		},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: c.dnsEndpoint.String()}},
			Ports: []corev1.EndpointPort{
				{Name: "dns", Port: dnsPort, Protocol: corev1.ProtocolUDP},
				{Name: "dns-tcp", Port: dnsPort, Protocol: corev1.ProtocolTCP},
			},
		}},
	}
}

// ensureDNSEndpoints creates the kube-dns Endpoints or points them back at
// the DNS server. They are not marked skip-mirror: the EndpointSlice
// mirroring controller copies them into an EndpointSlice for proxies.
func (c *Controller) ensureDNSEndpoints(ctx context.Context) error {
	if !c.dnsEnabled() {
		return nil
	}
	endpoints := c.client.CoreV1().Endpoints(metav1.NamespaceSystem)
	want := c.desiredDNSEndpoints()
	name := metav1.NamespaceSystem + "/" + DNSServiceName
	cur, err := endpoints.Get(ctx, DNSServiceName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err := endpoints.Create(ctx, want, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("creating endpoints %s: %w", name, err)
		}
		c.log.Info("created endpoints", "endpoints", name, "address", c.dnsEndpoint.String())
		return nil
	}
	if err != nil {
		return fmt.Errorf("getting endpoints %s: %w", name, err)
	}
	if equality.Semantic.DeepEqual(cur.Subsets, want.Subsets) {
		return nil
	}
	upd := cur.DeepCopy()
	upd.Subsets = want.Subsets
	if _, err := endpoints.Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("updating endpoints %s: %w", name, err)
	}
	c.log.Info("repaired endpoints", "endpoints", name, "address", c.dnsEndpoint.String())
	return nil
}
