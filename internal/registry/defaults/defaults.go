// Package defaults fills the empty fields of core/v1 objects the way the
// Kubernetes API server does when it decodes a v1 object (the generated
// SetObjectDefaults_* functions of kubernetes/kubernetes pkg/apis/core/v1 plus
// the few v1<->internal conversion side effects a client can observe).
//
// berth stores k8s.io/api v1 types directly and has no internal version, so
// these functions run on every decode: create and update bodies, patch
// results and objects read back from storage. Each function only fills
// fields that are empty, which makes it idempotent; callers may run it as
// often as they like.
//
// The package is pure: no I/O, no clocks, no feature gates. Where Kubernetes
// consults a feature gate, the behaviour of the gate's default in 1.34–1.37
// is hard-wired and the choice is noted next to the code.
package defaults

import (
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Object applies the defaulter of obj's kind and reports whether it knew
// the kind. Kinds without any Kubernetes defaults (ServiceAccount, Event,
// Lease) are known and left unchanged.
func Object(obj runtime.Object) bool {
	switch o := obj.(type) {
	case *corev1.Pod:
		Pod(o)
	case *corev1.PodList:
		for i := range o.Items {
			Pod(&o.Items[i])
		}
	case *corev1.Service:
		Service(o)
	case *corev1.Secret:
		Secret(o)
	case *corev1.ConfigMap:
		ConfigMap(o)
	case *corev1.Namespace:
		Namespace(o)
	case *corev1.ServiceAccount:
		ServiceAccount(o)
	case *corev1.Node:
		Node(o)
	case *corev1.Endpoints:
		Endpoints(o)
	case *corev1.Event:
		Event(o)
	case *discoveryv1.EndpointSlice:
		EndpointSlice(o)
	case *discoveryv1.EndpointSliceList:
		for i := range o.Items {
			EndpointSlice(&o.Items[i])
		}
	case *corev1.Binding, *coordinationv1.Lease:
		// Kubernetes registers no defaulter for these kinds.
	default:
		return false
	}
	return true
}

// resourceList rounds every quantity up to milli precision, as
// SetDefaults_ResourceList does: Kubernetes keeps API compatibility by never
// storing sub-milli values (e.g. "0.0001" CPU becomes "1m").
func resourceList(rl corev1.ResourceList) {
	for name, q := range rl {
		const milliScale = -3
		q.RoundUp(milliScale)
		rl[name] = q
	}
}

// httpGet fills the path and scheme of an HTTP probe or hook, so the kubelet
// never has to guess them.
func httpGet(a *corev1.HTTPGetAction) {
	if a == nil {
		return
	}
	if a.Path == "" {
		a.Path = "/"
	}
	if a.Scheme == "" {
		a.Scheme = corev1.URISchemeHTTP
	}
}

// fieldRef fills the API version of a downward-API field selector; "v1" is
// the only version pods can be read at.
func fieldRef(f *corev1.ObjectFieldSelector) {
	if f != nil && f.APIVersion == "" {
		f.APIVersion = "v1"
	}
}

func int32Ptr(v int32) *int32 { return &v }
func int64Ptr(v int64) *int64 { return &v }
func boolPtr(v bool) *bool    { return &v }
func strPtr(v string) *string { return &v }
