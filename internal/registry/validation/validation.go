// Package validation checks core/v1 objects the way the Kubernetes API
// server does (kubernetes/kubernetes pkg/apis/core/validation and the
// registry strategies), returning field.ErrorLists whose paths, types and
// messages match Kubernetes', because users read them through kubectl:
//
//	The Pod "x" is invalid: spec.containers[0].image: Required value
//
// Inputs are expected to be defaulted first (package defaults): like
// Kubernetes, validation reports an empty defaulted field (restartPolicy,
// imagePullPolicy, …) as Required rather than assuming its default.
//
// Where Kubernetes' own messages contain slips (a misspelt path, a path
// without its index) they are kept on purpose: scripts and people match on
// them. Each such place says so.
//
// Secret values never appear in an error: checks on secret data report the
// key, a size, or the literal "<secret contents redacted>".
package validation

import (
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ToInvalidError turns a non-empty error list into the 422 Invalid status
// error Kubernetes returns (reason Invalid, one cause per field error), or
// nil when errs is empty. name is the object's name as the client sent it.
func ToInvalidError(kind schema.GroupKind, name string, errs field.ErrorList) error {
	if len(errs) == 0 {
		return nil
	}
	return apierrors.NewInvalid(kind, name, errs)
}

// metaPath is the root of every metadata error.
var metaPath = field.NewPath("metadata")

// Name rules per kind, as the Kubernetes validators register them.
var (
	nameIsDNSSubdomain = apivalidation.NameIsDNSSubdomain
	nameIsDNSLabel     = apivalidation.NameIsDNSLabel
	nameIsDNS1035Label = apivalidation.NameIsDNS1035Label
)

// standardFinalizers are the legacy finalizer names that need no domain.
var standardFinalizers = map[string]bool{
	"kubernetes":                     true, // namespace lifecycle
	metav1.FinalizerOrphanDependents: true,
	metav1.FinalizerDeleteDependents: true,
}

// kubeFinalizerName rejects unqualified finalizer names other than the
// standard ones.
func kubeFinalizerName(name string, fldPath *field.Path) field.ErrorList {
	for _, c := range name {
		if c == '/' {
			return nil
		}
	}
	if standardFinalizers[name] {
		return nil
	}
	return field.ErrorList{field.Invalid(fldPath, name, "name is neither a standard finalizer name nor is it fully qualified")}
}

// validateMeta is core's ValidateObjectMeta: the generic checks with the
// kind's name rule, plus the core finalizer-name rule.
func validateMeta(meta *metav1.ObjectMeta, namespaced bool, nameFn apivalidation.ValidateNameFunc) field.ErrorList {
	errs := apivalidation.ValidateObjectMeta(meta, namespaced, nameFn, metaPath)
	for i, f := range meta.Finalizers {
		errs = append(errs, kubeFinalizerName(f, metaPath.Child("finalizers").Index(i))...)
	}
	return errs
}

// validateMetaUpdate is core's ValidateObjectMetaUpdate: immutable name,
// namespace, uid and creation time, a resourceVersion, no new finalizers on
// a deleting object, and the core finalizer-name rule.
func validateMetaUpdate(newMeta, oldMeta *metav1.ObjectMeta) field.ErrorList {
	errs := apivalidation.ValidateObjectMetaUpdate(newMeta, oldMeta, metaPath)
	for i, f := range newMeta.Finalizers {
		errs = append(errs, kubeFinalizerName(f, metaPath.Child("finalizers").Index(i))...)
	}
	return errs
}

// onCreate adds the apiserver's generic create check (rest.BeforeCreate):
// only once the kind's own validation passed, the metadata is checked again
// with the path-segment name rule, so a name that cannot be a URL path
// segment ("." , "..", anything with "/" or "%") is rejected even for kinds
// whose own rule would allow it. Running it last, and only on success, keeps
// the kind-specific message first, as in Kubernetes.
func onCreate(errs field.ErrorList, meta *metav1.ObjectMeta, namespaced bool) field.ErrorList {
	if len(errs) > 0 {
		return errs
	}
	return apivalidation.ValidateObjectMeta(meta, namespaced, path.ValidatePathSegmentName, metaPath)
}

// dns1123Label reports each way value is not an RFC 1123 label.
func dns1123Label(value string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range utilvalidation.IsDNS1123Label(value) {
		errs = append(errs, field.Invalid(fldPath, value, msg))
	}
	return errs
}

// dns1123Subdomain reports each way value is not an RFC 1123 subdomain.
func dns1123Subdomain(value string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range utilvalidation.IsDNS1123Subdomain(value) {
		errs = append(errs, field.Invalid(fldPath, value, msg))
	}
	return errs
}

// qualifiedName reports each way value is not a qualified name
// ([prefix/]name, as label keys).
func qualifiedName(value string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range utilvalidation.IsQualifiedName(value) {
		errs = append(errs, field.Invalid(fldPath, value, msg))
	}
	return errs
}

// nameErrors applies a name rule to a reference to another object.
func nameErrors(fn apivalidation.ValidateNameFunc, value string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range fn(value, false) {
		errs = append(errs, field.Invalid(fldPath, value, msg))
	}
	return errs
}

// immutable reports a changed value with Kubernetes' "field is immutable".
func immutable(newVal, oldVal any, fldPath *field.Path) field.ErrorList {
	return apivalidation.ValidateImmutableField(newVal, oldVal, fldPath)
}

const (
	isNegativeErrorMsg    = apivalidation.IsNegativeErrorMsg
	isNotPositiveErrorMsg = "must be greater than zero"
	isNotIntegerErrorMsg  = "must be an integer"
	fileModeErrorMsg      = "must be a number between 0 and 0777 (octal), both inclusive"
	immutableWhenSetMsg   = "field is immutable when `immutable` is set"
)

func nonNegative(value int64, fldPath *field.Path) field.ErrorList {
	return apivalidation.ValidateNonnegativeField(value, fldPath)
}
