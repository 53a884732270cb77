package envvars

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// fieldValue is the kubelet's podFieldSelectorRuntimeValue (with
// ConvertDownwardAPIFieldLabel and ExtractFieldPathAsString).
func fieldValue(pod *corev1.Pod, fs *corev1.ObjectFieldSelector, podIPs, nodeIPs []string) (string, error) {
	if v := fs.APIVersion; v != "" && v != "v1" {
		return "", fmt.Errorf("unsupported pod version: %s", v)
	}
	path := fs.FieldPath
	if path == "spec.host" { // old v1 clients
		path = "spec.nodeName"
	}
	switch path {
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP":
		if len(nodeIPs) == 0 {
			return "", fmt.Errorf("cannot get host IP: node IP unknown")
		}
		return nodeIPs[0], nil
	case "status.hostIPs":
		if len(nodeIPs) == 0 {
			return "", fmt.Errorf("cannot get host IPs: node IP unknown")
		}
		return strings.Join(nodeIPs, ","), nil
	case "status.podIP":
		if len(podIPs) == 0 {
			return "", nil
		}
		return podIPs[0], nil
	case "status.podIPs":
		return strings.Join(podIPs, ","), nil
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	}
	if p, key, ok := splitSubscript(path); ok {
		switch p {
		case "metadata.labels":
			if errs := validation.IsQualifiedName(key); len(errs) != 0 {
				return "", fmt.Errorf("invalid key subscript in %s: %s", path, strings.Join(errs, ";"))
			}
			return pod.Labels[key], nil
		case "metadata.annotations":
			if errs := validation.IsQualifiedName(strings.ToLower(key)); len(errs) != 0 {
				return "", fmt.Errorf("invalid key subscript in %s: %s", path, strings.Join(errs, ";"))
			}
			return pod.Annotations[key], nil
		}
		return "", fmt.Errorf("field label does not support subscript: %s", path)
	}
	return "", fmt.Errorf("field label not supported: %s", path)
}

// splitSubscript splits "metadata.labels['k']" into the path and key.
func splitSubscript(p string) (string, string, bool) {
	if !strings.HasSuffix(p, "']") {
		return p, "", false
	}
	path, key, ok := strings.Cut(strings.TrimSuffix(p, "']"), "['")
	return path, key, ok
}

// formatMap is fieldpath.FormatMap: sorted key="value" lines.
func formatMap(m map[string]string) string {
	var b strings.Builder
	for _, k := range sortedKeys(m) {
		fmt.Fprintf(&b, "%s=%q\n", k, m[k])
	}
	return strings.TrimSuffix(b.String(), "\n")
}
