package apiserver

import (
	"context"
	"fmt"
	"math/big"
	"net"
	"net/netip"

	"github.com/berth-dev/berth/internal/registry"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// allocate assigns what a new object gets from the server: a ClusterIP
// for services, synchronously at create as Kubernetes' service registry
// does, so `kubectl create service` returns with its IP.
func (s *Server) allocate(ctx context.Context, res *registry.Resource, obj runtime.Object) error {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return nil
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName || svc.Spec.ClusterIP == corev1.ClusterIPNone {
		if svc.Spec.ClusterIP == corev1.ClusterIPNone {
			svc.Spec.ClusterIPs = []string{corev1.ClusterIPNone}
		}
		return nil
	}
	prefix, err := netip.ParsePrefix(s.cfg.ServiceCIDR)
	if err != nil {
		return fmt.Errorf("service CIDR %q: %w", s.cfg.ServiceCIDR, err)
	}
	s.ipMu.Lock()
	defer s.ipMu.Unlock()
	used := map[netip.Addr]bool{}
	items, _, err := s.objs.list(ctx, res, "")
	if err != nil {
		return err
	}
	for _, it := range items {
		for _, ip := range it.(*corev1.Service).Spec.ClusterIPs {
			if a, err := netip.ParseAddr(ip); err == nil {
				used[a] = true
			}
		}
		if a, err := netip.ParseAddr(it.(*corev1.Service).Spec.ClusterIP); err == nil {
			used[a] = true
		}
	}
	path := field.NewPath("spec", "clusterIPs").Index(0)
	if want := svc.Spec.ClusterIP; want != "" {
		a, err := netip.ParseAddr(want)
		if err != nil || !prefix.Contains(a) {
			return apierrors.NewInvalid(res.GVK().GroupKind(), svc.Name, field.ErrorList{field.Invalid(path, want,
				fmt.Sprintf("failed to allocate IP %s: the provided IP (%s) is not in the valid range. The range of valid IPs is %s", want, want, prefix))})
		}
		if used[a] {
			return apierrors.NewInvalid(res.GVK().GroupKind(), svc.Name, field.ErrorList{field.Invalid(path, want,
				fmt.Sprintf("failed to allocate IP %s: provided IP is already allocated", want))})
		}
		svc.Spec.ClusterIPs = []string{want}
		setFamily(svc)
		return nil
	}
	// First usable address after the network address; .1 is the kubernetes service.
	base := prefix.Masked().Addr().Next()
	size := new(big.Int).Lsh(big.NewInt(1), uint(prefix.Addr().BitLen()-prefix.Bits()))
	limit := size.Int64() - 2
	if limit > 1<<20 {
		limit = 1 << 20
	}
	a := base
	for i := int64(0); i < limit; i++ {
		if !used[a] {
			svc.Spec.ClusterIP = a.String()
			svc.Spec.ClusterIPs = []string{a.String()}
			setFamily(svc)
			return nil
		}
		a = a.Next()
	}
	return apierrors.NewInternalError(fmt.Errorf("failed to allocate a serviceIP: range is full"))
}

func setFamily(svc *corev1.Service) {
	fam := corev1.IPv4Protocol
	if ip := net.ParseIP(svc.Spec.ClusterIPs[0]); ip != nil && ip.To4() == nil {
		fam = corev1.IPv6Protocol
	}
	if len(svc.Spec.IPFamilies) == 0 {
		svc.Spec.IPFamilies = []corev1.IPFamily{fam}
	}
	if svc.Spec.IPFamilyPolicy == nil {
		p := corev1.IPFamilyPolicySingleStack
		svc.Spec.IPFamilyPolicy = &p
	}
}
