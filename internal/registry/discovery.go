package registry

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
)

var discoveryV1 = discoveryv1.SchemeGroupVersion

// endpointSlices follows Kubernetes' endpointslice strategy: generation
// counts changes to anything but metadata (labels included, since the
// controllers key on them), and deprecatedTopology cannot be written
// through v1.
func endpointSlices() *Resource {
	return &Resource{
		GroupVersion: discoveryV1, Name: "endpointslices", SingularName: "endpointslice", Kind: "EndpointSlice",
		Namespaced: true,
		New:        func() runtime.Object { return &discoveryv1.EndpointSlice{} },
		NewList:    func() runtime.Object { return &discoveryv1.EndpointSliceList{} },
		PrepareForCreate: func(obj runtime.Object) {
			dropTopologyOnV1(nil, obj.(*discoveryv1.EndpointSlice))
		},
		PrepareForUpdate: func(obj, old runtime.Object) {
			s, o := obj.(*discoveryv1.EndpointSlice), old.(*discoveryv1.EndpointSlice)
			if sliceChanged(s, o) {
				s.Generation = o.Generation + 1
			}
			dropTopologyOnV1(o, s)
		},
		Fields:        func(obj runtime.Object) fields.Set { return metaFields(obj, true) },
		HasGeneration: true,
	}
}

// sliceChanged: anything but metadata, or the labels.
func sliceChanged(s, o *discoveryv1.EndpointSlice) bool {
	a, b := *s, *o
	a.ObjectMeta, b.ObjectMeta = metav1.ObjectMeta{}, metav1.ObjectMeta{}
	return !equality.Semantic.DeepEqual(a, b) || !equality.Semantic.DeepEqual(s.Labels, o.Labels)
}

// dropTopologyOnV1 clears deprecatedTopology, which v1 clients may not
// write, unless the endpoints did not change. A node name that was only
// recorded in the old topology label is kept in nodeName, so a client that
// does not know the field does not erase it.
func dropTopologyOnV1(old, s *discoveryv1.EndpointSlice) {
	if old != nil && equality.Semantic.DeepEqual(old.Endpoints, s.Endpoints) {
		return
	}
	prev := map[string]bool{}
	if old != nil {
		for _, ep := range old.Endpoints {
			if n := ep.DeprecatedTopology[corev1.LabelHostname]; n != "" {
				prev[n] = true
			}
		}
	}
	for i := range s.Endpoints {
		ep := &s.Endpoints[i]
		if n, ok := ep.DeprecatedTopology[corev1.LabelHostname]; ep.NodeName == nil && ok && prev[n] &&
			len(apivalidation.NameIsDNSSubdomain(n, false)) == 0 {
			ep.NodeName = &n
		}
		ep.DeprecatedTopology = nil
	}
}
