package endpoints

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/berth-dev/berth/internal/controllers/workers"
)

// The "kubernetes" Service's Endpoints carry the skip-mirror label, so the
// mirroring controller leaves them alone: kube-apiserver writes their
// EndpointSlice itself, named like the Endpoints and labelled only with
// the service name (pkg/controlplane/reconcilers EndpointsAdapter). The
// bootstrap controller writes the Endpoints; apiServerSlice follows them
// with that slice, so clients that read slices (kube-proxy, CoreDNS,
// berth's own proxy and DNS) find the API server as on a real cluster.
type apiServerSlice struct {
	client    kubernetes.Interface
	endpoints corelisters.EndpointsLister
	queue     workqueue.TypedRateLimitingInterface[string]
	log       *slog.Logger
}

const (
	apiServerNamespace = metav1.NamespaceDefault
	apiServerName      = "kubernetes"
)

func newAPIServerSlice(client kubernetes.Interface, informer cache.SharedIndexInformer, lister corelisters.EndpointsLister, log *slog.Logger) *apiServerSlice {
	a := &apiServerSlice{client: client, endpoints: lister, log: log,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "apiserver_endpointslice"})}
	enqueue := func(obj any) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		if ep, ok := obj.(*corev1.Endpoints); ok && ep.Namespace == apiServerNamespace && ep.Name == apiServerName {
			a.queue.Add(apiServerName)
		}
	}
	_, _ = informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, cur any) { enqueue(cur) }, DeleteFunc: enqueue,
	})
	// Once at start, so a slice left from a run whose Endpoints are gone is
	// removed.
	a.queue.Add(apiServerName)
	return a
}

func (a *apiServerSlice) run(ctx context.Context) {
	workers.Run(ctx, a.queue, 1, func(ctx context.Context, _ string) error { return a.sync(ctx) },
		func(_ string, err error) {
			a.log.Warn("syncing the kubernetes EndpointSlice failed; retrying", "err", err)
		})
}

func (a *apiServerSlice) sync(ctx context.Context) error {
	slices := a.client.DiscoveryV1().EndpointSlices(apiServerNamespace)
	ep, err := a.endpoints.Endpoints(apiServerNamespace).Get(apiServerName)
	if apierrors.IsNotFound(err) {
		err := slices.Delete(ctx, apiServerName, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting EndpointSlice %s/%s, whose Endpoints are gone: %w", apiServerNamespace, apiServerName, err)
		}
		return nil
	}
	if err != nil {
		return err
	}
	want := sliceFromEndpoints(ep)
	cur, err := slices.Get(ctx, want.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = slices.Create(ctx, want, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			err = nil
		}
		return err
	case err != nil:
		return err
	case cur.AddressType != want.AddressType:
		// addressType is immutable.
		if err := slices.Delete(ctx, want.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
		_, err = slices.Create(ctx, want, metav1.CreateOptions{})
		return err
	case equality.Semantic.DeepEqual(cur.Endpoints, want.Endpoints) && equality.Semantic.DeepEqual(cur.Ports, want.Ports) &&
		equality.Semantic.DeepEqual(cur.Labels, want.Labels):
		return nil
	}
	want.ResourceVersion = cur.ResourceVersion
	_, err = slices.Update(ctx, want, metav1.UpdateOptions{})
	return err
}

// sliceFromEndpoints is kube-apiserver's translation of its single-subset
// Endpoints: ready addresses, then not-ready ones, one endpoint each.
func sliceFromEndpoints(ep *corev1.Endpoints) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: ep.Name, Namespace: ep.Namespace,
			Labels: map[string]string{discoveryv1.LabelServiceName: ep.Name}},
		AddressType: discoveryv1.AddressTypeIPv4,
	}
	if len(ep.Subsets) == 0 {
		return s
	}
	ss := ep.Subsets[0]
	for i := range ss.Ports {
		p := ss.Ports[i]
		s.Ports = append(s.Ports, discoveryv1.EndpointPort{Port: &p.Port, Name: &p.Name, Protocol: &p.Protocol})
	}
	if allIPv6(append(append([]corev1.EndpointAddress{}, ss.Addresses...), ss.NotReadyAddresses...)) {
		s.AddressType = discoveryv1.AddressTypeIPv6
	}
	s.Endpoints = append(sliceEndpoints(ss.Addresses, s.AddressType, true), sliceEndpoints(ss.NotReadyAddresses, s.AddressType, false)...)
	return s
}

func sliceEndpoints(addrs []corev1.EndpointAddress, t discoveryv1.AddressType, ready bool) []discoveryv1.Endpoint {
	out := []discoveryv1.Endpoint{}
	for _, a := range addrs {
		if isIPv6(a.IP) != (t == discoveryv1.AddressTypeIPv6) {
			continue
		}
		r := ready
		out = append(out, discoveryv1.Endpoint{Addresses: []string{a.IP}, Conditions: discoveryv1.EndpointConditions{Ready: &r},
			TargetRef: a.TargetRef, NodeName: a.NodeName})
	}
	return out
}

func allIPv6(addrs []corev1.EndpointAddress) bool {
	if len(addrs) == 0 {
		return false
	}
	for _, a := range addrs {
		if !isIPv6(a.IP) {
			return false
		}
	}
	return true
}

func isIPv6(s string) bool {
	ip := net.ParseIP(s)
	return ip != nil && ip.To4() == nil
}
