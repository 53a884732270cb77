package validation

import (
	corev1 "k8s.io/api/core/v1"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	netutils "k8s.io/utils/net"
)

// ValidateServiceUpdate validates a service update: the new service must
// be valid, allocated cluster IPs and IP families may only be added or the
// secondary released (with ipFamilyPolicy SingleStack), a LoadBalancer's
// class is fixed, and so is a needed health check node port.
func ValidateServiceUpdate(newS, oldS *corev1.Service) field.ErrorList {
	errs := validateMetaUpdate(&newS.ObjectMeta, &oldS.ObjectMeta)
	errs = append(errs, validateClusterIPsUpdate(oldS, newS)...)
	errs = append(errs, validateIPFamiliesUpdate(oldS, newS)...)
	errs = append(errs, validateLoadBalancerClass(oldS, newS)...)
	if needsHealthCheck(oldS) && needsHealthCheck(newS) && newS.Spec.HealthCheckNodePort != oldS.Spec.HealthCheckNodePort {
		errs = append(errs, field.Forbidden(specPath.Child("healthCheckNodePort"), "field is immutable"))
	}
	return append(errs, validateService(newS)...)
}

// validateClusterIPsUpdate: the primary cluster IP never changes; a
// secondary may be added, or released by going SingleStack.
func validateClusterIPsUpdate(oldS, newS *corev1.Service) field.ErrorList {
	if newS.Spec.Type == corev1.ServiceTypeExternalName || oldS.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	if isHeadless(oldS) && isHeadless(newS) {
		return nil
	}
	o, n := oldS.Spec.ClusterIPs, newS.Spec.ClusterIPs
	p := specPath.Child("clusterIPs")
	var errs field.ErrorList
	switch {
	case len(o) == len(n):
		for i := range o {
			if o[i] != n[i] {
				errs = append(errs, field.Invalid(p.Index(i), n, "may not change once set"))
			}
		}
	case len(o) > len(n):
		if len(n) == 0 {
			errs = append(errs, field.Invalid(p.Index(0), n, "primary clusterIP can not be unset"))
		}
		if len(o) > 0 && len(n) > 0 && n[0] != o[0] {
			errs = append(errs, field.Invalid(p.Index(0), n, "may not change once set"))
		}
		if len(n) == 1 && !singleStack(newS) {
			errs = append(errs, field.Invalid(specPath.Child("ipFamilyPolicy"), newS.Spec.IPFamilyPolicy, "must be set to 'SingleStack' when releasing the secondary clusterIP"))
		}
	default:
		if len(o) > 0 && n[0] != o[0] {
			errs = append(errs, field.Invalid(p.Index(0), n, "may not change once set"))
		}
	}
	return errs
}

// validateIPFamiliesUpdate mirrors validateClusterIPsUpdate for families.
// Some bad values below are the cluster IPs, not the families: Kubernetes'
// own choice, kept.
func validateIPFamiliesUpdate(oldS, newS *corev1.Service) field.ErrorList {
	if newS.Spec.Type == corev1.ServiceTypeExternalName || oldS.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	// Moving to or from headless, or staying headless, may change families.
	if isHeadless(oldS) != isHeadless(newS) || isHeadless(newS) {
		return nil
	}
	o, n := oldS.Spec.IPFamilies, newS.Spec.IPFamilies
	p := specPath.Child("ipFamilies").Index(0)
	var errs field.ErrorList
	switch {
	case len(o) == len(n):
		for i := range o {
			if o[i] != n[i] {
				errs = append(errs, field.Invalid(p, n, "may not change once set"))
			}
		}
	case len(o) > len(n):
		if len(newS.Spec.ClusterIPs) == 0 {
			errs = append(errs, field.Invalid(p, n, "primary ipFamily can not be unset"))
		}
		if len(n) > 0 && n[0] != o[0] {
			errs = append(errs, field.Invalid(p, newS.Spec.ClusterIPs, "may not change once set"))
		}
		if len(n) == 1 && !singleStack(newS) {
			errs = append(errs, field.Invalid(specPath.Child("ipFamilyPolicy"), newS.Spec.IPFamilyPolicy, "must be set to 'SingleStack' when releasing the secondary ipFamily"))
		}
	default:
		if len(o) > 0 && len(n) > 0 && n[0] != o[0] {
			errs = append(errs, field.Invalid(p, newS.Spec.ClusterIPs, "may not change once set"))
		}
	}
	return errs
}

func singleStack(s *corev1.Service) bool {
	return s.Spec.IPFamilyPolicy != nil && *s.Spec.IPFamilyPolicy == corev1.IPFamilyPolicySingleStack
}

// ValidateServiceStatusUpdate validates a status update: load balancer
// ingress only for LoadBalancer services, valid IPs with an ipMode, and
// hostnames that are DNS names.
func ValidateServiceStatusUpdate(newS, oldS *corev1.Service) field.ErrorList {
	errs := validateMetaUpdate(&newS.ObjectMeta, &oldS.ObjectMeta)
	ingPath := field.NewPath("status", "loadBalancer", "ingress")
	if newS.Spec.Type != corev1.ServiceTypeLoadBalancer && len(newS.Status.LoadBalancer.Ingress) != 0 {
		return append(errs, field.Forbidden(ingPath, "may only be used when `spec.type` is 'LoadBalancer'"))
	}
	for i, ing := range newS.Status.LoadBalancer.Ingress {
		p := ingPath.Index(i)
		if ing.IP != "" {
			errs = append(errs, utilvalidation.IsValidIP(p.Child("ip"), ing.IP)...)
		}
		switch {
		case ing.IPMode == nil && ing.IP != "":
			errs = append(errs, field.Required(p.Child("ipMode"), "must be specified when `ip` is set"))
		case ing.IPMode != nil && ing.IP == "":
			errs = append(errs, field.Forbidden(p.Child("ipMode"), "may not be specified when `ip` is not set"))
		case ing.IPMode != nil && *ing.IPMode != corev1.LoadBalancerIPModeVIP && *ing.IPMode != corev1.LoadBalancerIPModeProxy:
			errs = append(errs, field.NotSupported(p.Child("ipMode"), *ing.IPMode, []corev1.LoadBalancerIPMode{corev1.LoadBalancerIPModeProxy, corev1.LoadBalancerIPModeVIP}))
		}
		if ing.Hostname != "" {
			errs = append(errs, dns1123Subdomain(ing.Hostname, p.Child("hostname"))...)
			if netutils.ParseIPSloppy(ing.Hostname) != nil {
				errs = append(errs, field.Invalid(p.Child("hostname"), ing.Hostname, "must be a DNS name, not an IP address"))
			}
		}
	}
	return errs
}
