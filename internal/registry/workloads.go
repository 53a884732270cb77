package registry

import (
	"fmt"
	"reflect"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/kubernetes/pkg/api/legacyscheme"
	_ "k8s.io/kubernetes/pkg/apis/apps/install" // internal+v1 types, conversions, defaulters
	_ "k8s.io/kubernetes/pkg/apis/batch/install"
	_ "k8s.io/kubernetes/pkg/apis/core/install"
	_ "k8s.io/kubernetes/pkg/apis/policy/install"
)

// The workload kinds (apps/v1, batch/v1, policy/v1) are validated and
// defaulted by Kubernetes' own code: each hook converts the v1 object to
// the internal type through the generated conversions (legacyscheme), runs
// what Kubernetes' registry strategy runs (workloadstrategy.go: status
// reset, generation, the Job's generated selector, the DaemonSet's
// templateGeneration, dropped disabled fields, then
// pkg/apis/<group>/validation with the strategy's options) and converts
// back. Defaulting is the generated v1 defaulters in the same scheme. The
// strategy packages themselves (pkg/registry/...) are not imported: they
// pull in the generic etcd3 storage and CEL admission.

var (
	appsV1   = appsv1.SchemeGroupVersion
	batchV1  = batchv1.SchemeGroupVersion
	policyV1 = policyv1.SchemeGroupVersion
)

func deployments() *Resource {
	return upstream(&Resource{
		GroupVersion: appsV1, Name: "deployments", SingularName: "deployment", Kind: "Deployment", Namespaced: true,
		ShortNames: []string{"deploy"}, Categories: []string{"all"}, Subresources: []string{"status", "scale"},
		New:     func() runtime.Object { return &appsv1.Deployment{} },
		NewList: func() runtime.Object { return &appsv1.DeploymentList{} },
	}, deploymentOps)
}

func replicaSets() *Resource {
	return upstream(&Resource{
		GroupVersion: appsV1, Name: "replicasets", SingularName: "replicaset", Kind: "ReplicaSet", Namespaced: true,
		ShortNames: []string{"rs"}, Categories: []string{"all"}, Subresources: []string{"status", "scale"},
		New:     func() runtime.Object { return &appsv1.ReplicaSet{} },
		NewList: func() runtime.Object { return &appsv1.ReplicaSetList{} },
		Fields:  replicaSetFields,
	}, replicaSetOps)
}

func statefulSets() *Resource {
	return upstream(&Resource{
		GroupVersion: appsV1, Name: "statefulsets", SingularName: "statefulset", Kind: "StatefulSet", Namespaced: true,
		ShortNames: []string{"sts"}, Categories: []string{"all"}, Subresources: []string{"status", "scale"},
		New:     func() runtime.Object { return &appsv1.StatefulSet{} },
		NewList: func() runtime.Object { return &appsv1.StatefulSetList{} },
	}, statefulSetOps)
}

func daemonSets() *Resource {
	return upstream(&Resource{
		GroupVersion: appsV1, Name: "daemonsets", SingularName: "daemonset", Kind: "DaemonSet", Namespaced: true,
		ShortNames: []string{"ds"}, Categories: []string{"all"}, Subresources: []string{"status"},
		New:     func() runtime.Object { return &appsv1.DaemonSet{} },
		NewList: func() runtime.Object { return &appsv1.DaemonSetList{} },
	}, daemonSetOps)
}

func controllerRevisions() *Resource {
	return upstream(&Resource{
		GroupVersion: appsV1, Name: "controllerrevisions", SingularName: "controllerrevision", Kind: "ControllerRevision",
		Namespaced: true,
		New:        func() runtime.Object { return &appsv1.ControllerRevision{} },
		NewList:    func() runtime.Object { return &appsv1.ControllerRevisionList{} },
	}, controllerRevisionOps)
}

func jobs() *Resource {
	return upstream(&Resource{
		GroupVersion: batchV1, Name: "jobs", SingularName: "job", Kind: "Job", Namespaced: true,
		Categories: []string{"all"}, Subresources: []string{"status"},
		New:     func() runtime.Object { return &batchv1.Job{} },
		NewList: func() runtime.Object { return &batchv1.JobList{} },
		Fields:  jobFields,
	}, jobOps)
}

func cronJobs() *Resource {
	return upstream(&Resource{
		GroupVersion: batchV1, Name: "cronjobs", SingularName: "cronjob", Kind: "CronJob", Namespaced: true,
		ShortNames: []string{"cj"}, Categories: []string{"all"}, Subresources: []string{"status"},
		New:     func() runtime.Object { return &batchv1.CronJob{} },
		NewList: func() runtime.Object { return &batchv1.CronJobList{} },
	}, cronJobOps)
}

func podDisruptionBudgets() *Resource {
	return upstream(&Resource{
		GroupVersion: policyV1, Name: "poddisruptionbudgets", SingularName: "poddisruptionbudget",
		Kind: "PodDisruptionBudget", Namespaced: true, ShortNames: []string{"pdb"}, Subresources: []string{"status"},
		New:     func() runtime.Object { return &policyv1.PodDisruptionBudget{} },
		NewList: func() runtime.Object { return &policyv1.PodDisruptionBudgetList{} },
	}, podDisruptionBudgetOps)
}

// kindOps are the strategy hooks of one kind, on its internal type T.
type kindOps[T runtime.Object] struct {
	newInternal    func() T
	create         func(T)
	update         func(obj, old T)
	validate       func(T) field.ErrorList
	validateUpdate func(obj, old T) field.ErrorList
	// status and validateStatus are nil for kinds without /status.
	status         func(obj, old T)
	validateStatus func(obj, old T) field.ErrorList
}

// upstream fills r's hooks from ops.
func upstream[T runtime.Object](r *Resource, o kindOps[T]) *Resource {
	r.HasGeneration = true
	if r.Fields == nil {
		r.Fields = func(obj runtime.Object) fields.Set { return metaFields(obj, true) }
	}
	r.Default = defaultExternal
	toInternal := func(obj runtime.Object) (T, error) {
		in := o.newInternal()
		err := legacyscheme.Scheme.Convert(obj, in, nil)
		return in, err
	}
	// mutate runs fn on the internal forms of obj (and old) and writes the
	// result back into obj.
	mutate := func(obj, old runtime.Object, fn func(obj, old T)) {
		defaultExternal(obj)
		in, err := toInternal(obj)
		if err != nil {
			return
		}
		var oldIn T
		if old != nil {
			if oldIn, err = toInternal(old); err != nil {
				return
			}
		}
		fn(in, oldIn)
		fromInternal(r, in, obj)
	}
	check := func(obj, old runtime.Object, fn func(obj, old T) field.ErrorList) field.ErrorList {
		in, err := toInternal(obj)
		if err != nil {
			return field.ErrorList{field.InternalError(nil, errConversion(r, err))}
		}
		var oldIn T
		if old != nil {
			if oldIn, err = toInternal(old); err != nil {
				return field.ErrorList{field.InternalError(nil, errConversion(r, err))}
			}
		}
		return fn(in, oldIn)
	}
	r.PrepareForCreate = func(obj runtime.Object) { mutate(obj, nil, func(in, _ T) { o.create(in) }) }
	r.PrepareForUpdate = func(obj, old runtime.Object) { mutate(obj, old, o.update) }
	r.Validate = func(obj runtime.Object) field.ErrorList {
		return check(obj, nil, func(in, _ T) field.ErrorList { return o.validate(in) })
	}
	r.ValidateUpdate = func(obj, old runtime.Object) field.ErrorList { return check(obj, old, o.validateUpdate) }
	if o.status != nil {
		r.PrepareForStatusUpdate = func(obj, old runtime.Object) { mutate(obj, old, o.status) }
		r.ValidateStatusUpdate = func(obj, old runtime.Object) field.ErrorList { return check(obj, old, o.validateStatus) }
	}
	return r
}

// defaultExternal applies the generated v1 defaulters (the pod template's
// included), as Kubernetes' decoder does.
func defaultExternal(obj runtime.Object) { legacyscheme.Scheme.Default(obj) }

// fromInternal converts in back into obj in place, keeping obj's TypeMeta.
func fromInternal(r *Resource, in, obj runtime.Object) {
	out := r.New()
	if err := legacyscheme.Scheme.Convert(in, out, nil); err != nil {
		return
	}
	gvk := obj.GetObjectKind().GroupVersionKind()
	reflect.ValueOf(obj).Elem().Set(reflect.ValueOf(out).Elem())
	obj.GetObjectKind().SetGroupVersionKind(gvk)
}

func errConversion(r *Resource, err error) error {
	return fmt.Errorf("%s: converting to the internal version: %w", r.GVR().GroupResource(), err)
}

func itoa32(n int32) string { return strconv.Itoa(int(n)) }

// replicaSetFields adds status.replicas, the field selector Kubernetes
// serves for ReplicaSets.
func replicaSetFields(obj runtime.Object) fields.Set {
	f := metaFields(obj, true)
	if rs, ok := obj.(*appsv1.ReplicaSet); ok {
		f["status.replicas"] = itoa32(rs.Status.Replicas)
	} else {
		f["status.replicas"] = ""
	}
	return f
}

// jobFields adds status.successful, the field selector Kubernetes serves
// for Jobs.
func jobFields(obj runtime.Object) fields.Set {
	f := metaFields(obj, true)
	if j, ok := obj.(*batchv1.Job); ok {
		f["status.successful"] = itoa32(j.Status.Succeeded)
	} else {
		f["status.successful"] = ""
	}
	return f
}
