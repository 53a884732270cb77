package defaults

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// EndpointSlice names every port ("" when unnamed) and gives it TCP, as
// discovery/v1's SetDefaults_EndpointPort does; validation relies on both
// being set.
func EndpointSlice(s *discoveryv1.EndpointSlice) {
	if s == nil {
		return
	}
	for i := range s.Ports {
		p := &s.Ports[i]
		if p.Name == nil {
			p.Name = strPtr("")
		}
		if p.Protocol == nil {
			tcp := corev1.ProtocolTCP
			p.Protocol = &tcp
		}
	}
}
