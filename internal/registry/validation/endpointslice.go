package validation

import (
	discoveryv1 "k8s.io/api/discovery/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/kubernetes/pkg/apis/discovery"
	discoveryv1conv "k8s.io/kubernetes/pkg/apis/discovery/v1"
	discoveryvalidation "k8s.io/kubernetes/pkg/apis/discovery/validation"
)

// EndpointSlices are validated by Kubernetes' own code
// (k8s.io/kubernetes/pkg/apis/discovery/validation) on the internal type,
// reached through the generated v1 conversion, so that messages and limits
// (100 addresses per endpoint, 1000 endpoints, 20000 ports…) cannot drift.
// The conversion is a plain field copy for this kind, so the field paths
// are those of the v1 object a client sent.

// ValidateEndpointSlice validates an EndpointSlice on create. Ports must
// have been defaulted (name "" and protocol TCP), as Kubernetes' decoder
// does before validation.
func ValidateEndpointSlice(s *discoveryv1.EndpointSlice) field.ErrorList {
	in, errs := toInternalSlice(s)
	if errs != nil {
		return errs
	}
	return onCreate(discoveryvalidation.ValidateEndpointSliceCreate(in), &s.ObjectMeta, true)
}

// ValidateEndpointSliceUpdate validates an update: the generic metadata
// rules, the slice rules (endpoints that did not change are not re-checked,
// so slices written by older releases stay writable) and an immutable
// addressType.
func ValidateEndpointSliceUpdate(s, old *discoveryv1.EndpointSlice) field.ErrorList {
	in, errs := toInternalSlice(s)
	if errs != nil {
		return errs
	}
	oldIn, errs := toInternalSlice(old)
	if errs != nil {
		return errs
	}
	errs = apivalidation.ValidateObjectMetaUpdate(&s.ObjectMeta, &old.ObjectMeta, metaPath)
	return append(errs, discoveryvalidation.ValidateEndpointSliceUpdate(in, oldIn)...)
}

func toInternalSlice(s *discoveryv1.EndpointSlice) (*discovery.EndpointSlice, field.ErrorList) {
	// The upstream port checks dereference name and protocol: Kubernetes
	// always defaults them first. Report a missing one instead of
	// panicking if a caller forgot.
	for i, p := range s.Ports {
		if p.Name == nil {
			return nil, field.ErrorList{field.Required(field.NewPath("ports").Index(i).Child("name"), "")}
		}
	}
	out := &discovery.EndpointSlice{}
	if err := discoveryv1conv.Convert_v1_EndpointSlice_To_discovery_EndpointSlice(s, out, nil); err != nil {
		return nil, field.ErrorList{field.InternalError(nil, err)}
	}
	return out, nil
}
