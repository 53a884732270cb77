package validation

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/berth-dev/berth/internal/registry/defaults"
)

func validSlice() *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "web-x7k2p", Namespace: "default", ResourceVersion: "1"},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptrTo("http"), Port: ptrTo(int32(8080))}},
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{"10.244.0.5"},
			Conditions: discoveryv1.EndpointConditions{Ready: ptrTo(true)},
			NodeName:   ptrTo("node-1"),
		}},
	}
	defaults.EndpointSlice(s)
	return s
}

func TestValidateEndpointSlice(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*discoveryv1.EndpointSlice)
		want   []want
	}{
		{"valid", func(*discoveryv1.EndpointSlice) {}, nil},
		{"empty placeholder", func(s *discoveryv1.EndpointSlice) { s.Ports, s.Endpoints = nil, nil }, nil},
		{"no address type", func(s *discoveryv1.EndpointSlice) { s.AddressType = "" }, []want{req("addressType")}},
		{"unknown address type", func(s *discoveryv1.EndpointSlice) { s.AddressType = "IP" },
			[]want{unsupported("addressType", `supported values: "FQDN", "IPv4", "IPv6"`)}},
		{"endpoint without addresses", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = nil },
			[]want{reqDetail("endpoints[0].addresses", "must contain at least 1 address")}},
		// Kubernetes reports the family mismatch on the list, not the item.
		{"ipv6 address in an IPv4 slice", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = []string{"fd00::5"} },
			[]want{inv("endpoints[0].addresses", "must be an IPv4 address")}},
		{"loopback address", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = []string{"127.0.0.1"} },
			[]want{inv("endpoints[0].addresses[0]", "may not be in the loopback range")}},
		{"not an IP", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses = []string{"10.0.0"} },
			[]want{inv("endpoints[0].addresses[0]", "must be a valid IP address")}},
		{"bad hostname", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Hostname = ptrTo("Web_1") },
			[]want{inv("endpoints[0].hostname", "")}},
		{"bad node name", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].NodeName = ptrTo("Node_1") },
			[]want{inv("endpoints[0].nodeName", "")}},
		{"duplicate port names", func(s *discoveryv1.EndpointSlice) {
			s.Ports = append(s.Ports, discoveryv1.EndpointPort{Name: ptrTo("http"), Port: ptrTo(int32(9090))})
			defaults.EndpointSlice(s)
		}, []want{dup("ports[1].name")}},
		{"unsupported protocol", func(s *discoveryv1.EndpointSlice) { s.Ports[0].Protocol = ptrTo(corev1.Protocol("ICMP")) },
			[]want{unsupported("ports[0].protocol", "")}},
		{"bad port name", func(s *discoveryv1.EndpointSlice) { s.Ports[0].Name = ptrTo("HTTP") },
			[]want{inv("ports[0].name", "")}},
		{"bad name", func(s *discoveryv1.EndpointSlice) { s.Name = "Web" }, []want{inv("metadata.name", "")}},
		{"missing namespace", func(s *discoveryv1.EndpointSlice) { s.Namespace = "" }, []want{req("metadata.namespace")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validSlice()
			tt.mutate(s)
			expectErrs(t, ValidateEndpointSlice(s), tt.want...)
		})
	}
}

func TestValidateEndpointSliceUndefaultedPort(t *testing.T) {
	s := validSlice()
	s.Ports[0].Name = nil
	expectErrs(t, ValidateEndpointSlice(s), req("ports[0].name"))
}

func TestValidateEndpointSliceUpdate(t *testing.T) {
	old := validSlice()
	s := validSlice()
	s.AddressType = discoveryv1.AddressTypeIPv6
	s.Endpoints[0].Addresses = []string{"fd00::5"}
	expectErrs(t, ValidateEndpointSliceUpdate(s, old), inv("addressType", "field is immutable"))

	// Endpoints that did not change are not re-checked: slices stored by an
	// older release stay writable.
	old = validSlice()
	old.Endpoints[0].Addresses = []string{"127.0.0.1"}
	s = old.DeepCopy()
	s.Labels = map[string]string{"x": "y"}
	expectErrs(t, ValidateEndpointSliceUpdate(s, old))
	s.Endpoints[0].Hostname = ptrTo("web")
	expectErrs(t, ValidateEndpointSliceUpdate(s, old), inv("endpoints[0].addresses[0]", "loopback"))

	s = validSlice()
	s.Name = "other"
	expectErrs(t, ValidateEndpointSliceUpdate(s, validSlice()), inv("metadata.name", "field is immutable"))
}
