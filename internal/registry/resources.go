package registry

import (
	"github.com/berth-dev/berth/internal/registry/defaults"
	v "github.com/berth-dev/berth/internal/registry/validation"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	coreV1         = corev1.SchemeGroupVersion
	coordinationV1 = coordinationv1.SchemeGroupVersion
	eventsV1       = eventsv1.SchemeGroupVersion
)

// Resources returns the description of every resource berth serves.
func Resources() *Registry {
	nsC, nsU := typed(v.ValidateNamespace, v.ValidateNamespaceUpdate)
	podC, podU := typed(v.ValidatePod, v.ValidatePodUpdate)
	secC, secU := typed(v.ValidateSecret, v.ValidateSecretUpdate)
	saC, saU := typed(v.ValidateServiceAccount, v.ValidateServiceAccountUpdate)
	cmC, cmU := typed(v.ValidateConfigMap, v.ValidateConfigMapUpdate)
	svcC, svcU := typed(v.ValidateService, v.ValidateServiceUpdate)
	epC, epU := typed(v.ValidateEndpoints, v.ValidateEndpointsUpdate)
	evC, evU := typed(v.ValidateEvent, v.ValidateEventUpdate)
	noC, noU := typed(v.ValidateNode, v.ValidateNodeUpdate)
	leC, leU := typed(v.ValidateLease, v.ValidateLeaseUpdate)
	esC, esU := typed(v.ValidateEndpointSlice, v.ValidateEndpointSliceUpdate)

	ns := withValidation(namespaces(), nsC, nsU)
	ns.ValidateStatusUpdate = statusValidator(v.ValidateNamespaceStatusUpdate)
	pod := withValidation(pods(), podC, podU)
	pod.ValidateStatusUpdate = statusValidator(v.ValidatePodStatusUpdate)
	svc := withValidation(services(), svcC, svcU)
	svc.ValidateStatusUpdate = statusValidator(v.ValidateServiceStatusUpdate)
	return NewRegistry(
		ns, pod,
		withValidation(secrets(), secC, secU),
		withValidation(serviceAccounts(), saC, saU),
		withValidation(configMaps(), cmC, cmU),
		svc,
		withValidation(endpoints(), epC, epU),
		withValidation(events(), evC, evU),
		withValidation(nodes(), noC, noU),
		withValidation(leases(), leC, leU),
		withValidation(endpointSlices(), esC, esU),
		rbacRoles(),
		rbacClusterRoles(),
		rbacRoleBindings(),
		rbacClusterRoleBindings(),
		selfSubjectAccessReviews(),
		selfSubjectRulesReviews(),
		subjectAccessReviews(),
		localSubjectAccessReviews(),
		selfSubjectReviews(),
		tokenReviews(),
		deployments(), replicaSets(), statefulSets(), daemonSets(), controllerRevisions(),
		jobs(), cronJobs(),
		podDisruptionBudgets(),
	)
}

func namespaces() *Resource {
	return &Resource{
		GroupVersion: coreV1, Name: "namespaces", SingularName: "namespace", Kind: "Namespace",
		ShortNames: []string{"ns"}, Subresources: []string{"status", "finalize"},
		New:     func() runtime.Object { return &corev1.Namespace{} },
		NewList: func() runtime.Object { return &corev1.NamespaceList{} },
		PrepareForCreate: func(obj runtime.Object) {
			ns := obj.(*corev1.Namespace)
			ns.Status = corev1.NamespaceStatus{Phase: corev1.NamespaceActive}
			if !hasFinalizer(ns.Spec.Finalizers, corev1.FinalizerKubernetes) {
				ns.Spec.Finalizers = append(ns.Spec.Finalizers, corev1.FinalizerKubernetes)
			}
		},
		PrepareForUpdate: func(obj, old runtime.Object) {
			ns, o := obj.(*corev1.Namespace), old.(*corev1.Namespace)
			// spec.finalizers change only through /finalize.
			ns.Spec.Finalizers = o.Spec.Finalizers
			ns.Status = o.Status
		},
		PrepareForStatusUpdate: func(obj, old runtime.Object) {
			obj.(*corev1.Namespace).Spec = old.(*corev1.Namespace).Spec
		},
		Fields: namespaceFields,
	}
}

func hasFinalizer(list []corev1.FinalizerName, f corev1.FinalizerName) bool {
	for _, x := range list {
		if x == f {
			return true
		}
	}
	return false
}

func pods() *Resource {
	return &Resource{
		GroupVersion: coreV1, Name: "pods", SingularName: "pod", Kind: "Pod", Namespaced: true,
		ShortNames: []string{"po"}, Categories: []string{"all"},
		Subresources: []string{"status", "binding", "ephemeralcontainers", "log", "exec", "attach", "portforward", "proxy"},
		New:          func() runtime.Object { return &corev1.Pod{} },
		NewList:      func() runtime.Object { return &corev1.PodList{} },
		PrepareForCreate: func(obj runtime.Object) {
			p := obj.(*corev1.Pod)
			p.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: podQOS(p)}
			dropDisabledPodFields(&p.Spec, nil)
		},
		PrepareForUpdate: func(obj, old runtime.Object) {
			p, o := obj.(*corev1.Pod), old.(*corev1.Pod)
			p.Status = o.Status
			dropDisabledPodFields(&p.Spec, &o.Spec)
		},
		PrepareForStatusUpdate: func(obj, old runtime.Object) {
			p, o := obj.(*corev1.Pod), old.(*corev1.Pod)
			p.Spec = o.Spec
			// The status endpoint may not touch these (old kubelets corrupted them).
			p.OwnerReferences = o.OwnerReferences
			p.DeletionTimestamp = o.DeletionTimestamp
			p.DeletionGracePeriodSeconds = o.DeletionGracePeriodSeconds
			preserveObservedGeneration(&p.Status, &o.Status)
		},
		Fields:        podFields,
		HasGeneration: true,
	}
}

func secrets() *Resource {
	return &Resource{
		GroupVersion: coreV1, Name: "secrets", SingularName: "secret", Kind: "Secret", Namespaced: true,
		New:     func() runtime.Object { return &corev1.Secret{} },
		NewList: func() runtime.Object { return &corev1.SecretList{} },
		Fields:  secretFields,
	}
}

func serviceAccounts() *Resource {
	return &Resource{
		GroupVersion: coreV1, Name: "serviceaccounts", SingularName: "serviceaccount", Kind: "ServiceAccount",
		Namespaced: true, ShortNames: []string{"sa"}, Subresources: []string{"token"},
		New:     func() runtime.Object { return &corev1.ServiceAccount{} },
		NewList: func() runtime.Object { return &corev1.ServiceAccountList{} },
		Fields:  func(obj runtime.Object) fields.Set { return metaFields(obj, true) },
	}
}

func configMaps() *Resource {
	return &Resource{
		GroupVersion: coreV1, Name: "configmaps", SingularName: "configmap", Kind: "ConfigMap",
		Namespaced: true, ShortNames: []string{"cm"},
		New:     func() runtime.Object { return &corev1.ConfigMap{} },
		NewList: func() runtime.Object { return &corev1.ConfigMapList{} },
		Fields:  func(obj runtime.Object) fields.Set { return metaFields(obj, true) },
	}
}

func services() *Resource {
	return &Resource{
		GroupVersion: coreV1, Name: "services", SingularName: "service", Kind: "Service", Namespaced: true,
		ShortNames: []string{"svc"}, Categories: []string{"all"}, Subresources: []string{"status", "proxy"},
		New:     func() runtime.Object { return &corev1.Service{} },
		NewList: func() runtime.Object { return &corev1.ServiceList{} },
		PrepareForCreate: func(obj runtime.Object) {
			obj.(*corev1.Service).Status = corev1.ServiceStatus{}
		},
		PrepareForUpdate: func(obj, old runtime.Object) {
			svc, o := obj.(*corev1.Service), old.(*corev1.Service)
			svc.Status = o.Status
			// A PUT without the allocated values keeps them, as Kubernetes'
			// service strategy does.
			if svc.Spec.ClusterIP == "" && len(svc.Spec.ClusterIPs) == 0 {
				svc.Spec.ClusterIP, svc.Spec.ClusterIPs = o.Spec.ClusterIP, o.Spec.ClusterIPs
			}
			if len(svc.Spec.IPFamilies) == 0 {
				svc.Spec.IPFamilies = o.Spec.IPFamilies
			}
			if svc.Spec.IPFamilyPolicy == nil {
				svc.Spec.IPFamilyPolicy = o.Spec.IPFamilyPolicy
			}
			for i := range svc.Spec.Ports {
				for _, op := range o.Spec.Ports {
					if svc.Spec.Ports[i].NodePort == 0 && op.Port == svc.Spec.Ports[i].Port && op.Protocol == svc.Spec.Ports[i].Protocol {
						svc.Spec.Ports[i].NodePort = op.NodePort
					}
				}
			}
		},
		PrepareForStatusUpdate: func(obj, old runtime.Object) {
			obj.(*corev1.Service).Spec = old.(*corev1.Service).Spec
		},
		Fields: serviceFields,
	}
}

func endpoints() *Resource {
	return &Resource{
		GroupVersion: coreV1, Name: "endpoints", SingularName: "endpoints", Kind: "Endpoints",
		Namespaced: true, ShortNames: []string{"ep"},
		New:                 func() runtime.Object { return &corev1.Endpoints{} },
		NewList:             func() runtime.Object { return &corev1.EndpointsList{} },
		Fields:              func(obj runtime.Object) fields.Set { return metaFields(obj, true) },
		AllowCreateOnUpdate: true,
	}
}

func events() *Resource {
	return &Resource{
		GroupVersion: coreV1, Name: "events", SingularName: "event", Kind: "Event", Namespaced: true,
		ShortNames:          []string{"ev"},
		New:                 func() runtime.Object { return &corev1.Event{} },
		NewList:             func() runtime.Object { return &corev1.EventList{} },
		Fields:              eventFields,
		AllowCreateOnUpdate: true,
	}
}

func eventsV1Events() *Resource {
	return &Resource{
		GroupVersion: eventsV1, Name: "events", SingularName: "event", Kind: "Event", Namespaced: true,
		ShortNames:          []string{"ev"},
		New:                 func() runtime.Object { return &eventsv1.Event{} },
		NewList:             func() runtime.Object { return &eventsv1.EventList{} },
		Fields:              eventsV1Fields,
		AllowCreateOnUpdate: true,
	}
}

func nodes() *Resource {
	return &Resource{
		GroupVersion: coreV1, Name: "nodes", SingularName: "node", Kind: "Node",
		ShortNames: []string{"no"}, Subresources: []string{"status", "proxy"},
		New:     func() runtime.Object { return &corev1.Node{} },
		NewList: func() runtime.Object { return &corev1.NodeList{} },
		PrepareForUpdate: func(obj, old runtime.Object) {
			obj.(*corev1.Node).Status = old.(*corev1.Node).Status
		},
		PrepareForStatusUpdate: func(obj, old runtime.Object) {
			obj.(*corev1.Node).Spec = old.(*corev1.Node).Spec
		},
		Fields: nodeFields,
	}
}

func leases() *Resource {
	return &Resource{
		GroupVersion: coordinationV1, Name: "leases", SingularName: "lease", Kind: "Lease", Namespaced: true,
		New:                 func() runtime.Object { return &coordinationv1.Lease{} },
		NewList:             func() runtime.Object { return &coordinationv1.LeaseList{} },
		Fields:              leaseFields,
		AllowCreateOnUpdate: true,
	}
}

// typed adapts typed validation functions to the Resource hooks.
func typed[T runtime.Object](create func(T) field.ErrorList, update func(T, T) field.ErrorList) (func(runtime.Object) field.ErrorList, func(runtime.Object, runtime.Object) field.ErrorList) {
	return func(o runtime.Object) field.ErrorList { return create(o.(T)) },
		func(o, old runtime.Object) field.ErrorList { return update(o.(T), old.(T)) }
}

func statusValidator[T runtime.Object](f func(T, T) field.ErrorList) func(runtime.Object, runtime.Object) field.ErrorList {
	return func(o, old runtime.Object) field.ErrorList { return f(o.(T), old.(T)) }
}

func defaulter(obj runtime.Object) { defaults.Object(obj) }

// withValidation sets the hooks every resource shares.
func withValidation(r *Resource, create func(runtime.Object) field.ErrorList, update func(runtime.Object, runtime.Object) field.ErrorList) *Resource {
	r.Default = defaulter
	r.Validate, r.ValidateUpdate = create, update
	return r
}
