package registry

import (
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
)

var (
	coreV1         = corev1.SchemeGroupVersion
	coordinationV1 = coordinationv1.SchemeGroupVersion
	eventsV1       = eventsv1.SchemeGroupVersion
)

// Resources returns the description of every resource berth serves.
func Resources() *Registry {
	return NewRegistry(
		namespaces(), pods(), secrets(), serviceAccounts(), configMaps(), services(),
		endpoints(), events(), nodes(), leases(),
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
		Subresources: []string{"status", "binding", "log", "exec", "attach", "portforward", "proxy"},
		New:          func() runtime.Object { return &corev1.Pod{} },
		NewList:      func() runtime.Object { return &corev1.PodList{} },
		PrepareForCreate: func(obj runtime.Object) {
			p := obj.(*corev1.Pod)
			p.Status = corev1.PodStatus{Phase: corev1.PodPending, QOSClass: podQOS(p)}
		},
		PrepareForUpdate: func(obj, old runtime.Object) {
			obj.(*corev1.Pod).Status = old.(*corev1.Pod).Status
		},
		PrepareForStatusUpdate: func(obj, old runtime.Object) {
			p, o := obj.(*corev1.Pod), old.(*corev1.Pod)
			p.Spec = o.Spec
			// The status endpoint may not touch these (old kubelets corrupted them).
			p.OwnerReferences = o.OwnerReferences
			p.DeletionTimestamp = o.DeletionTimestamp
			p.DeletionGracePeriodSeconds = o.DeletionGracePeriodSeconds
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
		Namespaced: true, ShortNames: []string{"sa"},
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
			obj.(*corev1.Service).Status = old.(*corev1.Service).Status
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
