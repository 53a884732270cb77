package registry

import (
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
)

// NewScheme returns a scheme holding every type berth serves, plus the meta
// types (options, Status, Table, WatchEvent) for each served group version.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, coordinationv1.AddToScheme, eventsv1.AddToScheme, discoveryv1.AddToScheme,
		rbacv1.AddToScheme, authorizationv1.AddToScheme, authenticationv1.AddToScheme,
		appsv1.AddToScheme, batchv1.AddToScheme, policyv1.AddToScheme, autoscalingv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			panic(err) // programming error: the types are static
		}
	}
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	// Clients send DeleteOptions and other options as meta.k8s.io/v1.
	metav1.AddToGroupVersion(s, metav1.SchemeGroupVersion)
	// Registering meta's own types fails only on a programming error.
	utilruntime.Must(metav1.AddMetaToScheme(s))
	return s
}
