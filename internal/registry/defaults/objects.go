package defaults

import (
	corev1 "k8s.io/api/core/v1"
)

// Secret defaults the type to Opaque and folds stringData into data.
//
// The fold is what Kubernetes' v1->internal conversion does (stringData
// overwrites data key by key, and the internal type has no stringData):
// berth has no internal version, so it happens here, and stringData is
// cleared so it is never stored or returned, exactly as with Kubernetes.
// Validation therefore sees the merged data, size limit included.
func Secret(s *corev1.Secret) {
	if s == nil {
		return
	}
	if s.Type == "" {
		s.Type = corev1.SecretTypeOpaque
	}
	if len(s.StringData) > 0 {
		if s.Data == nil {
			s.Data = make(map[string][]byte, len(s.StringData))
		}
		for k, v := range s.StringData {
			s.Data[k] = []byte(v)
		}
	}
	s.StringData = nil
}

// ConfigMap makes data a non-nil map (SetDefaults_ConfigMap). It is omitted
// from JSON when empty, so clients see no difference.
func ConfigMap(c *corev1.ConfigMap) {
	if c != nil && c.Data == nil {
		c.Data = map[string]string{}
	}
}

// Namespace labels the namespace with its own name
// (kubernetes.io/metadata.name) and defaults status.phase to Active.
//
// Unlike other defaults the label is forced, not only filled: Kubernetes
// overwrites it so selectors on it can be trusted. A namespace without a
// name yet (generateName) is left unlabelled; the registry labels it once
// the name exists.
func Namespace(n *corev1.Namespace) {
	if n == nil {
		return
	}
	if n.Name != "" {
		if n.Labels == nil {
			n.Labels = map[string]string{}
		}
		n.Labels[corev1.LabelMetadataName] = n.Name
	}
	if n.Status.Phase == "" {
		n.Status.Phase = corev1.NamespaceActive
	}
}

// ServiceAccount exists so every served kind has a defaulter; Kubernetes
// defines no defaults for ServiceAccount.
func ServiceAccount(*corev1.ServiceAccount) {}

// Event exists so every served kind has a defaulter; Kubernetes defines no
// defaults for core/v1 Event.
func Event(*corev1.Event) {}

// Node defaults status.allocatable to status.capacity, rounds quantities
// like every resource list, and keeps spec.podCIDR and spec.podCIDRs in
// step as the v1<->internal conversion does.
func Node(n *corev1.Node) {
	if n == nil {
		return
	}
	st := &n.Status
	if st.Allocatable == nil && st.Capacity != nil {
		st.Allocatable = make(corev1.ResourceList, len(st.Capacity))
		for k, v := range st.Capacity {
			st.Allocatable[k] = v.DeepCopy()
		}
	}
	resourceList(st.Capacity)
	resourceList(st.Allocatable)

	spec := &n.Spec
	switch {
	case spec.PodCIDR != "" && len(spec.PodCIDRs) == 0:
		spec.PodCIDRs = []string{spec.PodCIDR}
	case spec.PodCIDR != "" && spec.PodCIDRs[0] != spec.PodCIDR:
		// The singular field is authoritative when the two disagree, for
		// clients that only know podCIDR.
		spec.PodCIDRs = []string{spec.PodCIDR}
	}
	if len(spec.PodCIDRs) > 0 {
		spec.PodCIDR = spec.PodCIDRs[0]
	}
}
