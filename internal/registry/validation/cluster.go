package validation

import (
	"fmt"
	"strings"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	unversionedvalidation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	netutils "k8s.io/utils/net"
)

// ValidateNamespace validates a namespace: a DNS label name, no namespace
// of its own, and valid spec.finalizers. (Kubernetes reports every bad
// spec finalizer at "spec.finalizers" without an index; kept.)
func ValidateNamespace(n *corev1.Namespace) field.ErrorList {
	errs := validateMeta(&n.ObjectMeta, false, nameIsDNSLabel)
	for _, f := range n.Spec.Finalizers {
		errs = append(errs, validateFinalizerName(string(f), field.NewPath("spec", "finalizers"))...)
	}
	return onCreate(errs, &n.ObjectMeta, false)
}

func validateFinalizerName(name string, fldPath *field.Path) field.ErrorList {
	return append(apivalidation.ValidateFinalizerName(name, fldPath), kubeFinalizerName(name, fldPath)...)
}

// ValidateNamespaceUpdate: only the metadata rules; the registry keeps
// spec and status from the stored object.
func ValidateNamespaceUpdate(newN, oldN *corev1.Namespace) field.ErrorList {
	return validateMetaUpdate(&newN.ObjectMeta, &oldN.ObjectMeta)
}

// ValidateNamespaceStatusUpdate: the phase follows deletion, Active until
// the namespace is being deleted and Terminating after.
func ValidateNamespaceStatusUpdate(newN, oldN *corev1.Namespace) field.ErrorList {
	errs := validateMetaUpdate(&newN.ObjectMeta, &oldN.ObjectMeta)
	p := field.NewPath("status", "Phase") // Kubernetes' capital P; kept
	if newN.DeletionTimestamp.IsZero() {
		if newN.Status.Phase != corev1.NamespaceActive {
			errs = append(errs, field.Invalid(p, newN.Status.Phase, "may only be 'Active' if `deletionTimestamp` is empty"))
		}
	} else if newN.Status.Phase != corev1.NamespaceTerminating {
		errs = append(errs, field.Invalid(p, newN.Status.Phase, "may only be 'Terminating' if `deletionTimestamp` is not empty"))
	}
	return errs
}

// ValidateNamespaceFinalizeUpdate validates namespaces/finalize.
func ValidateNamespaceFinalizeUpdate(newN, oldN *corev1.Namespace) field.ErrorList {
	errs := validateMetaUpdate(&newN.ObjectMeta, &oldN.ObjectMeta)
	for i, f := range newN.Spec.Finalizers {
		errs = append(errs, validateFinalizerName(string(f), field.NewPath("spec", "finalizers").Index(i))...)
	}
	return errs
}

// ValidateServiceAccount: only metadata (a DNS subdomain name).
func ValidateServiceAccount(sa *corev1.ServiceAccount) field.ErrorList {
	return onCreate(validateMeta(&sa.ObjectMeta, true, nameIsDNSSubdomain), &sa.ObjectMeta, true)
}

// ValidateServiceAccountUpdate: metadata rules and a still-valid account.
func ValidateServiceAccountUpdate(newSA, oldSA *corev1.ServiceAccount) field.ErrorList {
	return append(validateMetaUpdate(&newSA.ObjectMeta, &oldSA.ObjectMeta), validateMeta(&newSA.ObjectMeta, true, nameIsDNSSubdomain)...)
}

// ValidateNode validates a node: a DNS subdomain name, no namespace, valid
// taints, non-negative resources and at most one pod CIDR per family.
func ValidateNode(n *corev1.Node) field.ErrorList {
	errs := validateMeta(&n.ObjectMeta, false, nameIsDNSSubdomain)
	// Kubernetes reports taints under metadata.taints; kept.
	errs = append(errs, validateNodeTaints(n.Spec.Taints, metaPath.Child("taints"))...)
	errs = append(errs, validateNodeResources(n)...)
	if len(n.Spec.PodCIDRs) > 0 {
		p := field.NewPath("spec", "podCIDRs")
		for i, c := range n.Spec.PodCIDRs {
			errs = append(errs, utilvalidation.IsValidCIDR(p.Index(i), c)...)
		}
		if len(n.Spec.PodCIDRs) > 1 {
			dual, err := netutils.IsDualStackCIDRStrings(n.Spec.PodCIDRs)
			if err != nil {
				errs = append(errs, field.InternalError(p, fmt.Errorf("invalid PodCIDRs. failed to check with dual stack with error:%v", err)))
			}
			if !dual || len(n.Spec.PodCIDRs) > 2 {
				errs = append(errs, field.Invalid(p, n.Spec.PodCIDRs, "may specify no more than one CIDR for each IP family"))
			}
			seen := map[string]bool{}
			for i, c := range n.Spec.PodCIDRs {
				if seen[c] {
					errs = append(errs, field.Duplicate(p.Index(i), c))
				}
				seen[c] = true
			}
		}
	}
	return onCreate(errs, &n.ObjectMeta, false)
}

// validateNodeTaints: label-style keys and values, a known effect, and one
// taint per key and effect.
func validateNodeTaints(taints []corev1.Taint, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[corev1.TaintEffect]map[string]bool{}
	for i, t := range taints {
		p := fldPath.Index(i)
		errs = append(errs, unversionedvalidation.ValidateLabelName(t.Key, p.Child("key"))...)
		if msgs := utilvalidation.IsValidLabelValue(t.Value); len(msgs) != 0 {
			errs = append(errs, field.Invalid(p.Child("value"), t.Value, strings.Join(msgs, ";")))
		}
		errs = append(errs, validateTaintEffect(t.Effect, false, p.Child("effect"))...)
		if seen[t.Effect][t.Key] {
			dup := field.Duplicate(p, t)
			dup.Detail = "taints must be unique by key and effect pair"
			errs = append(errs, dup)
			continue
		}
		if seen[t.Effect] == nil {
			seen[t.Effect] = map[string]bool{}
		}
		seen[t.Effect][t.Key] = true
	}
	return errs
}

// validateNodeResources: capacity and allocatable are never negative, and
// countable resources (pods) are whole. Kubernetes builds these paths
// with Child, not Key ("status.capacity.cpu"); kept.
func validateNodeResources(n *corev1.Node) field.ErrorList {
	var errs field.ErrorList
	for _, list := range []struct {
		name string
		rl   corev1.ResourceList
	}{{"capacity", n.Status.Capacity}, {"allocatable", n.Status.Allocatable}} {
		for _, name := range sortedNames(list.rl) {
			errs = append(errs, validateQuantityValue(name, list.rl[name], field.NewPath("status", list.name, string(name)))...)
		}
	}
	return errs
}

// ValidateNodeUpdate validates a node update (spec or status): pod CIDRs
// and providerID may only be set once, externalID never changes, and node
// addresses are unique.
func ValidateNodeUpdate(n, old *corev1.Node) field.ErrorList {
	errs := validateMetaUpdate(&n.ObjectMeta, &old.ObjectMeta)
	errs = append(errs, validateNodeResources(n)...)
	seen := map[corev1.NodeAddress]bool{}
	for i, a := range n.Status.Addresses {
		if seen[a] {
			errs = append(errs, field.Duplicate(field.NewPath("status", "addresses").Index(i), a))
		}
		seen[a] = true
	}
	if len(old.Spec.PodCIDRs) > 0 {
		const msg = "node updates may not change podCIDR except from \"\" to valid"
		if len(old.Spec.PodCIDRs) != len(n.Spec.PodCIDRs) {
			errs = append(errs, field.Forbidden(field.NewPath("spec", "podCIDRs"), msg))
		} else {
			for i := range old.Spec.PodCIDRs {
				if old.Spec.PodCIDRs[i] != n.Spec.PodCIDRs[i] {
					errs = append(errs, field.Forbidden(field.NewPath("spec", "podCIDRs"), msg))
				}
			}
		}
	}
	if old.Spec.ProviderID != "" && old.Spec.ProviderID != n.Spec.ProviderID {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "providerID"), "node updates may not change providerID except from \"\" to valid"))
	}
	errs = append(errs, validateNodeTaints(n.Spec.Taints, metaPath.Child("taints"))...)
	if n.Spec.DoNotUseExternalID != old.Spec.DoNotUseExternalID {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "externalID"), "may not be updated"))
	}
	return errs
}

const (
	reportingInstanceLengthLimit = 128
	actionLengthLimit            = 128
	reasonLengthLimit            = 128
	noteLengthLimit              = 1024
)

// ValidateEvent validates a core/v1 event. Kubernetes applies only its
// legacy event checks to the v1 API (the strict ones are for
// events.k8s.io/v1): the involved object's namespace must match, and an
// event with eventTime set must carry the reporting fields.
func ValidateEvent(e *corev1.Event) field.ErrorList {
	return onCreate(legacyValidateEvent(e), &e.ObjectMeta, true)
}

// ValidateEventUpdate: the same legacy checks on the new event.
func ValidateEventUpdate(newE, _ *corev1.Event) field.ErrorList {
	return legacyValidateEvent(newE)
}

func legacyValidateEvent(e *corev1.Event) field.ErrorList {
	var errs field.ErrorList
	nsPath := field.NewPath("involvedObject", "namespace")
	const mismatch = "does not match event.namespace"
	if e.EventTime.IsZero() {
		// Old-style events: a cluster-scoped object's events live in
		// "default" (or nowhere), others in the object's namespace.
		if e.InvolvedObject.Namespace == "" {
			if e.Namespace != metav1.NamespaceNone && e.Namespace != metav1.NamespaceDefault {
				errs = append(errs, field.Invalid(nsPath, e.InvolvedObject.Namespace, mismatch))
			}
		} else if e.Namespace != e.InvolvedObject.Namespace {
			errs = append(errs, field.Invalid(nsPath, e.InvolvedObject.Namespace, mismatch))
		}
	} else {
		if e.InvolvedObject.Namespace == "" && e.Namespace != metav1.NamespaceDefault && e.Namespace != metav1.NamespaceSystem {
			errs = append(errs, field.Invalid(nsPath, e.InvolvedObject.Namespace, mismatch))
		}
		if e.ReportingController == "" {
			errs = append(errs, field.Required(field.NewPath("reportingController"), ""))
		}
		errs = append(errs, qualifiedName(e.ReportingController, field.NewPath("reportingController"))...)
		errs = append(errs, requiredMax(e.ReportingInstance, reportingInstanceLengthLimit, field.NewPath("reportingInstance"))...)
		errs = append(errs, requiredMax(e.Action, actionLengthLimit, field.NewPath("action"))...)
		errs = append(errs, requiredMax(e.Reason, reasonLengthLimit, field.NewPath("reason"))...)
		if len(e.Message) > noteLengthLimit {
			errs = append(errs, field.Invalid(field.NewPath("message"), "", fmt.Sprintf("can have at most %v characters", noteLengthLimit)))
		}
	}
	for _, msg := range utilvalidation.IsDNS1123Subdomain(e.Namespace) {
		errs = append(errs, field.Invalid(field.NewPath("namespace"), e.Namespace, msg))
	}
	return errs
}

func requiredMax(v string, limit int, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if v == "" {
		errs = append(errs, field.Required(p, ""))
	}
	if len(v) > limit {
		errs = append(errs, field.Invalid(p, "", fmt.Sprintf("can have at most %v characters", limit)))
	}
	return errs
}

// validLeaseStrategies are the Kubernetes-defined coordinated strategies;
// others must be domain-qualified.
var validLeaseStrategies = []coordinationv1.CoordinatedLeaseStrategy{coordinationv1.OldestEmulationVersion}

// ValidateLease validates a coordination.k8s.io/v1 Lease (node
// heartbeats): positive duration, non-negative transitions.
func ValidateLease(l *coordinationv1.Lease) field.ErrorList {
	errs := apivalidation.ValidateObjectMeta(&l.ObjectMeta, true, nameIsDNSSubdomain, metaPath)
	return onCreate(append(errs, validateLeaseSpec(&l.Spec, specPath)...), &l.ObjectMeta, true)
}

// ValidateLeaseUpdate validates a lease update.
func ValidateLeaseUpdate(l, old *coordinationv1.Lease) field.ErrorList {
	errs := apivalidation.ValidateObjectMetaUpdate(&l.ObjectMeta, &old.ObjectMeta, metaPath)
	return append(errs, validateLeaseSpec(&l.Spec, specPath)...)
}

func validateLeaseSpec(spec *coordinationv1.LeaseSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if d := spec.LeaseDurationSeconds; d != nil && *d <= 0 {
		errs = append(errs, field.Invalid(fldPath.Child("leaseDurationSeconds"), d, "must be greater than 0"))
	}
	if t := spec.LeaseTransitions; t != nil && *t < 0 {
		errs = append(errs, field.Invalid(fldPath.Child("leaseTransitions"), t, "must be greater than or equal to 0"))
	}
	if s := spec.Strategy; s != nil {
		// Kubernetes appends "strategy" twice to this path; kept.
		p := fldPath.Child("strategy").Child("strategy")
		if !strings.Contains(string(*s), "/") {
			known := false
			for _, v := range validLeaseStrategies {
				known = known || *s == v
			}
			if !known {
				errs = append(errs, field.NotSupported(p, *s, validLeaseStrategies))
			}
		} else {
			errs = append(errs, qualifiedName(string(*s), p)...)
		}
	}
	if h := spec.PreferredHolder; h != nil && *h != "" && (spec.Strategy == nil || *spec.Strategy == "") {
		errs = append(errs, field.Forbidden(fldPath.Child("preferredHolder"), "may only be specified if `strategy` is defined"))
	}
	return errs
}
