package validation

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestValidateEndpoints(t *testing.T) {
	ep := func(subsets ...corev1.EndpointSubset) *corev1.Endpoints {
		return &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", ResourceVersion: "1"}, Subsets: subsets}
	}
	addr := func(ip string) []corev1.EndpointAddress { return []corev1.EndpointAddress{{IP: ip}} }
	tests := []struct {
		name string
		ep   *corev1.Endpoints
		want []want
	}{
		{"valid", ep(corev1.EndpointSubset{Addresses: addr("10.0.0.5"), Ports: []corev1.EndpointPort{{Port: 80, Protocol: "TCP"}}}), nil},
		{"no subsets", ep(), nil},
		{"no addresses", ep(corev1.EndpointSubset{Ports: []corev1.EndpointPort{{Port: 80, Protocol: "TCP"}}}),
			[]want{reqDetail("subsets[0]", "must specify `addresses` or `notReadyAddresses`")}},
		{"loopback address", ep(corev1.EndpointSubset{Addresses: addr("127.0.0.1")}),
			[]want{inv("subsets[0].addresses[0].ip", "may not be in the loopback range (127.0.0.0/8, ::1/128)")}},
		{"bad address", ep(corev1.EndpointSubset{NotReadyAddresses: addr("10.0.0")}), []want{
			inv("subsets[0].notReadyAddresses[0].ip", "must be a valid IP address"),
			inv("subsets[0].notReadyAddresses[0].ip", "must be a valid IP address"),
		}},
		{"unnamed ports", ep(corev1.EndpointSubset{Addresses: addr("10.0.0.5"), Ports: []corev1.EndpointPort{{Port: 80, Protocol: "TCP"}, {Port: 443, Protocol: "TCP"}}}),
			[]want{req("subsets[0].ports[0].name"), req("subsets[0].ports[1].name")}},
		{"port protocol missing", ep(corev1.EndpointSubset{Addresses: addr("10.0.0.5"), Ports: []corev1.EndpointPort{{Port: 80}}}),
			[]want{req("subsets[0].ports[0].protocol")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectErrs(t, ValidateEndpoints(tt.ep), tt.want...)
			old := tt.ep.DeepCopy()
			expectErrs(t, ValidateEndpointsUpdate(tt.ep, old), tt.want...)
		})
	}
}
