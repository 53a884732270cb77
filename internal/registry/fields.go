package registry

import (
	"strconv"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
)

// metaFields is the field set every resource supports.
func metaFields(obj runtime.Object, namespaced bool) fields.Set {
	m, err := meta.Accessor(obj)
	if err != nil {
		return fields.Set{}
	}
	s := fields.Set{"metadata.name": m.GetName()}
	if namespaced {
		s["metadata.namespace"] = m.GetNamespace()
	}
	return s
}

func podFields(obj runtime.Object) fields.Set {
	p := obj.(*corev1.Pod)
	s := metaFields(obj, true)
	s["spec.nodeName"] = p.Spec.NodeName
	s["spec.restartPolicy"] = string(p.Spec.RestartPolicy)
	s["spec.schedulerName"] = p.Spec.SchedulerName
	s["spec.serviceAccountName"] = p.Spec.ServiceAccountName
	s["spec.hostNetwork"] = strconv.FormatBool(p.Spec.HostNetwork)
	s["status.phase"] = string(p.Status.Phase)
	s["status.podIP"] = p.Status.PodIP
	s["status.nominatedNodeName"] = p.Status.NominatedNodeName
	return s
}

func secretFields(obj runtime.Object) fields.Set {
	s := metaFields(obj, true)
	s["type"] = string(obj.(*corev1.Secret).Type)
	return s
}

func namespaceFields(obj runtime.Object) fields.Set {
	s := metaFields(obj, false)
	s["status.phase"] = string(obj.(*corev1.Namespace).Status.Phase)
	return s
}

func nodeFields(obj runtime.Object) fields.Set {
	s := metaFields(obj, false)
	s["spec.unschedulable"] = strconv.FormatBool(obj.(*corev1.Node).Spec.Unschedulable)
	return s
}

func serviceFields(obj runtime.Object) fields.Set {
	svc := obj.(*corev1.Service)
	s := metaFields(obj, true)
	s["spec.clusterIP"] = svc.Spec.ClusterIP
	s["spec.type"] = string(svc.Spec.Type)
	return s
}

func eventFields(obj runtime.Object) fields.Set {
	e := obj.(*corev1.Event)
	s := metaFields(obj, true)
	s["involvedObject.kind"] = e.InvolvedObject.Kind
	s["involvedObject.namespace"] = e.InvolvedObject.Namespace
	s["involvedObject.name"] = e.InvolvedObject.Name
	s["involvedObject.uid"] = string(e.InvolvedObject.UID)
	s["involvedObject.apiVersion"] = e.InvolvedObject.APIVersion
	s["involvedObject.resourceVersion"] = e.InvolvedObject.ResourceVersion
	s["involvedObject.fieldPath"] = e.InvolvedObject.FieldPath
	s["reason"] = e.Reason
	s["reportingComponent"] = e.ReportingController
	s["source"] = e.Source.Component
	s["type"] = e.Type
	return s
}

func eventsV1Fields(obj runtime.Object) fields.Set {
	e := obj.(*eventsv1.Event)
	s := metaFields(obj, true)
	s["regarding.kind"] = e.Regarding.Kind
	s["regarding.namespace"] = e.Regarding.Namespace
	s["regarding.name"] = e.Regarding.Name
	s["regarding.uid"] = string(e.Regarding.UID)
	s["reason"] = e.Reason
	s["type"] = e.Type
	return s
}

func leaseFields(obj runtime.Object) fields.Set {
	_ = obj.(*coordinationv1.Lease)
	return metaFields(obj, true)
}
