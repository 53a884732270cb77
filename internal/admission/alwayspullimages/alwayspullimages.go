// Package alwayspullimages is the AlwaysPullImages admission plugin, as in
// Kubernetes (plugin/pkg/admission/alwayspullimages): it sets every
// container's imagePullPolicy to Always, so that a pod can only run an image
// its own credentials can pull, not one another pod left on the node.
package alwayspullimages

import (
	"context"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/berth-dev/berth/internal/admission"
)

// PluginName is the name --enable-admission-plugins knows the plugin by.
const PluginName = "AlwaysPullImages"

// Plugin is the AlwaysPullImages admission plugin; it has no state.
type Plugin struct{}

var (
	_ admission.Mutator   = Plugin{}
	_ admission.Validator = Plugin{}
)

// New returns the plugin.
func New() Plugin { return Plugin{} }

// Admit sets imagePullPolicy to Always on every init, regular and ephemeral
// container of a pod on CREATE and UPDATE. It ignores subresources (so
// containers added by `kubectl debug` through pods/ephemeralcontainers keep
// their policy), resources other than pods (a Deployment's template is left
// alone; the pods it creates are not) and updates that bring no new image.
func (Plugin) Admit(_ context.Context, a *admission.Attributes) error {
	if shouldIgnore(a) {
		return nil
	}
	pod, ok := a.Object.(*corev1.Pod)
	if !ok || pod == nil {
		return errNotPod()
	}
	visitContainers(&pod.Spec, func(c *corev1.Container, _ *field.Path) {
		c.ImagePullPolicy = corev1.PullAlways
	})
	return nil
}

// Validate rejects, for the requests Admit handles, every container whose
// policy is not Always, with one Forbidden error per container:
// `pods "web" is forbidden: spec.containers[0].imagePullPolicy: Unsupported value: "IfNotPresent": supported values: "Always"`.
// One violation is returned as its *apierrors.StatusError; several as a
// utilerrors.Aggregate of them that is itself a Forbidden APIStatus.
func (Plugin) Validate(_ context.Context, a *admission.Attributes) error {
	if shouldIgnore(a) {
		return nil
	}
	pod, ok := a.Object.(*corev1.Pod)
	if !ok || pod == nil {
		return errNotPod()
	}
	var errs []error
	visitContainers(&pod.Spec, func(c *corev1.Container, path *field.Path) {
		if c.ImagePullPolicy != corev1.PullAlways {
			errs = append(errs, admission.NewForbidden(a,
				field.NotSupported(path.Child("imagePullPolicy"), c.ImagePullPolicy, []string{string(corev1.PullAlways)})))
		}
	})
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	default:
		return forbiddenAggregate{utilerrors.NewAggregate(errs)}
	}
}

// errNotPod is Kubernetes' answer to a non-Pod object sent to pods.
func errNotPod() error {
	return apierrors.NewBadRequest("Resource was marked with kind Pod but was unable to be converted")
}

// shouldIgnore: subresources, other resources, and UPDATEs without a new
// image. Only CREATE and UPDATE are handled.
func shouldIgnore(a *admission.Attributes) bool {
	if a.Operation != admission.Create && a.Operation != admission.Update {
		return true
	}
	if a.Subresource != "" || a.Resource.GroupResource() != (schema.GroupResource{Resource: "pods"}) {
		return true
	}
	return isUpdateWithNoNewImages(a)
}

// isUpdateWithNoNewImages reports an UPDATE whose every image already
// appears somewhere in the old spec (compared as a set over all container
// kinds), so that unrelated updates of running pods are not rejected.
func isUpdateWithNoNewImages(a *admission.Attributes) bool {
	if a.Operation != admission.Update {
		return false
	}
	pod, ok := a.Object.(*corev1.Pod)
	if !ok || pod == nil {
		return false
	}
	old, ok := a.OldObject.(*corev1.Pod)
	if !ok || old == nil {
		return false
	}
	oldImages := map[string]bool{}
	visitContainers(&old.Spec, func(c *corev1.Container, _ *field.Path) { oldImages[c.Image] = true })
	noNew := true
	visitContainers(&pod.Spec, func(c *corev1.Container, _ *field.Path) {
		if !oldImages[c.Image] {
			noNew = false
		}
	})
	return noNew
}

// visitContainers calls fn for init, regular and ephemeral containers, in
// that order, with their field paths (spec.initContainers[i],
// spec.containers[i], spec.ephemeralContainers[i]), as Kubernetes'
// VisitContainersWithPath does. fn may change the container.
func visitContainers(spec *corev1.PodSpec, fn func(*corev1.Container, *field.Path)) {
	specPath := field.NewPath("spec")
	for i := range spec.InitContainers {
		fn(&spec.InitContainers[i], specPath.Child("initContainers").Index(i))
	}
	for i := range spec.Containers {
		fn(&spec.Containers[i], specPath.Child("containers").Index(i))
	}
	for i := range spec.EphemeralContainers {
		// EphemeralContainerCommon has Container's fields, in the same order.
		fn((*corev1.Container)(&spec.EphemeralContainers[i].EphemeralContainerCommon), specPath.Child("ephemeralContainers").Index(i))
	}
}

// forbiddenAggregate is the aggregate of several Forbidden errors. It prints
// as utilerrors does (`[err1, err2]`) and also reports a Forbidden status,
// so the API server answers 403 rather than 500.
type forbiddenAggregate struct{ utilerrors.Aggregate }

// Unwrap lets errors.As find the individual *apierrors.StatusError values.
func (f forbiddenAggregate) Unwrap() []error { return f.Errors() }

// Status implements apierrors.APIStatus with the first error's details.
func (f forbiddenAggregate) Status() metav1.Status {
	s := metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    http.StatusForbidden,
		Reason:  metav1.StatusReasonForbidden,
		Message: f.Error(),
	}
	if se, ok := f.Errors()[0].(apierrors.APIStatus); ok {
		s.Details = se.Status().Details
	}
	return s
}

var (
	_ apierrors.APIStatus  = forbiddenAggregate{}
	_ utilerrors.Aggregate = forbiddenAggregate{}
)
