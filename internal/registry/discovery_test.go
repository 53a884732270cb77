package registry

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestEndpointSliceResource(t *testing.T) {
	r, ok := Resources().Lookup(schema.GroupVersionResource{Group: "discovery.k8s.io", Version: "v1", Resource: "endpointslices"})
	if !ok {
		t.Fatal("discovery.k8s.io/v1 endpointslices is not served")
	}
	if r.Kind != "EndpointSlice" || !r.Namespaced || r.AllowCreateOnUpdate || !r.HasGeneration {
		t.Errorf("resource = %+v", r)
	}
	ready := true
	slice := func() *discoveryv1.EndpointSlice {
		return &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: "web-1", Namespace: "default", Generation: 3, Labels: map[string]string{"a": "b"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		}
	}
	tests := []struct {
		name   string
		change func(*discoveryv1.EndpointSlice)
		gen    int64
	}{
		{"nothing", func(*discoveryv1.EndpointSlice) {}, 3},
		{"annotation only", func(s *discoveryv1.EndpointSlice) { s.Annotations = map[string]string{"x": "y"} }, 3},
		{"labels", func(s *discoveryv1.EndpointSlice) { s.Labels["a"] = "c" }, 4},
		{"endpoints", func(s *discoveryv1.EndpointSlice) { s.Endpoints[0].Addresses[0] = "10.0.0.2" }, 4},
	}
	for _, tt := range tests {
		old, s := slice(), slice()
		tt.change(s)
		r.PrepareForUpdate(s, old)
		if s.Generation != tt.gen {
			t.Errorf("%s: generation %d, want %d", tt.name, s.Generation, tt.gen)
		}
	}

	// v1 clients may not write deprecatedTopology; a node name only kept
	// there before moves to nodeName.
	s := slice()
	s.Endpoints[0].DeprecatedTopology = map[string]string{"topology.kubernetes.io/region": "x"}
	r.PrepareForCreate(s)
	if s.Endpoints[0].DeprecatedTopology != nil {
		t.Errorf("deprecatedTopology kept on create: %v", s.Endpoints[0].DeprecatedTopology)
	}
	old := slice()
	old.Endpoints[0].DeprecatedTopology = map[string]string{corev1.LabelHostname: "node-1"}
	s = slice()
	s.Endpoints[0].DeprecatedTopology = map[string]string{corev1.LabelHostname: "node-1"}
	s.Endpoints[0].Hostname = ptr("web")
	r.PrepareForUpdate(s, old)
	if s.Endpoints[0].DeprecatedTopology != nil || s.Endpoints[0].NodeName == nil || *s.Endpoints[0].NodeName != "node-1" {
		t.Errorf("update: topology %v nodeName %v", s.Endpoints[0].DeprecatedTopology, s.Endpoints[0].NodeName)
	}

	// Defaulting names every port and gives it TCP.
	s = slice()
	s.Ports = []discoveryv1.EndpointPort{{Port: ptr(int32(80))}}
	r.Default(s)
	if s.Ports[0].Name == nil || *s.Ports[0].Name != "" || s.Ports[0].Protocol == nil || *s.Ports[0].Protocol != corev1.ProtocolTCP {
		t.Errorf("defaulted port: %+v", s.Ports[0])
	}
	if errs := r.Validate(s); len(errs) != 0 {
		t.Errorf("valid slice: %v", errs)
	}
}

func ptr[T any](v T) *T { return &v }
