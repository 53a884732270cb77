package registry

import (
	corev1 "k8s.io/api/core/v1"
)

// podQOS computes status.qosClass as Kubernetes does at pod creation:
// Guaranteed when every container has equal cpu and memory requests and
// limits, BestEffort when none sets any, Burstable otherwise.
func podQOS(p *corev1.Pod) corev1.PodQOSClass {
	all := append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...)
	anySet, guaranteed := false, true
	for _, c := range all {
		for _, rn := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			req, hasReq := c.Resources.Requests[rn]
			lim, hasLim := c.Resources.Limits[rn]
			if hasReq || hasLim {
				anySet = true
			}
			if !hasLim {
				guaranteed = false
				continue
			}
			if hasReq && req.Cmp(lim) != 0 {
				guaranteed = false
			}
		}
	}
	switch {
	case !anySet:
		return corev1.PodQOSBestEffort
	case guaranteed:
		return corev1.PodQOSGuaranteed
	default:
		return corev1.PodQOSBurstable
	}
}
