package proxy

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"
)

// ServicePorts turns Services and their Endpoints into the ports to
// program. endpoints returns a Service's Endpoints (nil when it has none).
//
// As kube-proxy: only Services with an IPv4 ClusterIP are proxied
// (headless and ExternalName Services are not); a Service port takes the
// addresses of every subset that has an endpoint port of the same name and
// protocol, with that port's number as the target (so a named targetPort
// resolves per pod); notReadyAddresses are never used.
func ServicePorts(services []*corev1.Service, endpoints func(namespace, name string) *corev1.Endpoints) []ServicePort {
	var out []ServicePort
	for _, svc := range services {
		if svc.Spec.Type == corev1.ServiceTypeExternalName {
			continue
		}
		ip, err := netip.ParseAddr(svc.Spec.ClusterIP)
		if err != nil || !ip.Is4() {
			continue // "", "None" (headless) or IPv6
		}
		ep := endpoints(svc.Namespace, svc.Name)
		for _, p := range svc.Spec.Ports {
			proto := p.Protocol
			if proto == "" {
				proto = corev1.ProtocolTCP
			}
			sp := ServicePort{Namespace: svc.Namespace, Name: svc.Name, PortName: p.Name, Protocol: proto, ClusterIP: ip, Port: p.Port}
			if ep != nil {
				sp.Endpoints = readyEndpoints(ep, p.Name, proto)
			}
			out = append(out, sp)
		}
	}
	return out
}

func readyEndpoints(ep *corev1.Endpoints, portName string, proto corev1.Protocol) []netip.AddrPort {
	var out []netip.AddrPort
	for _, ss := range ep.Subsets {
		for _, port := range ss.Ports {
			pp := port.Protocol
			if pp == "" {
				pp = corev1.ProtocolTCP
			}
			if port.Name != portName || pp != proto || port.Port <= 0 || port.Port > 65535 {
				continue
			}
			for _, a := range ss.Addresses {
				ip, err := netip.ParseAddr(a.IP)
				if err != nil || !ip.Is4() {
					continue
				}
				out = append(out, netip.AddrPortFrom(ip, uint16(port.Port)))
			}
		}
	}
	return out
}
