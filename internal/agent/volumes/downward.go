package volumes

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"
)

// downwardAPIPayload is the kubelet's downwardapi.CollectData: each item's
// fieldRef or resourceFieldRef value at its path, with the item's mode or
// else mode. Errors of all items are joined.
func downwardAPIPayload(items []corev1.DownwardAPIVolumeFile, pod *corev1.Pod, mode int32, alloc corev1.ResourceList) (payload, error) {
	p := make(payload, len(items))
	var errs []error
	for _, it := range items {
		m := mode
		if it.Mode != nil {
			m = *it.Mode
		}
		var v string
		var err error
		switch {
		case it.FieldRef != nil:
			v, err = volumeFieldValue(pod, it.FieldRef.FieldPath)
		case it.ResourceFieldRef != nil:
			v, err = resourceFieldValue(pod, it.ResourceFieldRef, it.ResourceFieldRef.ContainerName, alloc)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p[it.Path] = fileProjection{Data: []byte(v), Mode: m}
	}
	if len(errs) > 0 {
		return nil, utilerrors.NewAggregate(errs)
	}
	return p, nil
}

// volumeFieldValue is fieldpath.ExtractFieldPathAsString: the metadata
// fields a downwardAPI volume may project. Whole label and annotation maps
// are written one `key="value"` line each, sorted by key.
func volumeFieldValue(pod *corev1.Pod, fieldPath string) (string, error) {
	if path, key, ok := splitSubscript(fieldPath); ok {
		switch path {
		case "metadata.annotations":
			return pod.Annotations[key], nil
		case "metadata.labels":
			return pod.Labels[key], nil
		default:
			return "", fmt.Errorf("fieldPath %q does not support subscript", fieldPath)
		}
	}
	switch fieldPath {
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	}
	return "", fmt.Errorf("unsupported fieldPath: %v", fieldPath)
}

// splitSubscript splits `metadata.labels['key']` into the path and key.
func splitSubscript(fieldPath string) (string, string, bool) {
	if !strings.HasSuffix(fieldPath, "']") {
		return fieldPath, "", false
	}
	path, key, ok := strings.Cut(strings.TrimSuffix(fieldPath, "']"), "['")
	if !ok || path == "" {
		return fieldPath, "", false
	}
	return path, key, true
}

// formatMap is fieldpath.FormatMap.
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%v=%q", k, m[k])
	}
	return b.String()
}

// resourceFieldValue is the kubelet's
// ExtractResourceValueByContainerNameAndNodeAllocatable: the named
// container's limit or request, a missing cpu, memory or ephemeral-storage
// limit taken from the pod-level limit or else from the node's allocatable,
// divided by the divisor (default 1) and rounded up.
func resourceFieldValue(pod *corev1.Pod, ref *corev1.ResourceFieldSelector, containerName string, alloc corev1.ResourceList) (string, error) {
	c := findContainer(pod, containerName)
	if c == nil {
		return "", fmt.Errorf("container %s not found", containerName)
	}
	limits := c.Resources.Limits
	requests := c.Resources.Requests
	var zero resource.Quantity
	divisor := ref.Divisor
	if divisor.Cmp(zero) == 0 {
		divisor = resource.MustParse("1")
	}
	limit := func(name corev1.ResourceName) resource.Quantity {
		if q, ok := limits[name]; ok && !q.IsZero() {
			return q
		}
		if pod.Spec.Resources != nil {
			if q, ok := pod.Spec.Resources.Limits[name]; ok && !q.IsZero() {
				return q
			}
		}
		return alloc[name]
	}
	switch ref.Resource {
	case "limits.cpu":
		return cpuString(limit(corev1.ResourceCPU), divisor), nil
	case "limits.memory":
		return valueString(limit(corev1.ResourceMemory), divisor), nil
	case "limits.ephemeral-storage":
		return valueString(limit(corev1.ResourceEphemeralStorage), divisor), nil
	case "requests.cpu":
		return cpuString(requests[corev1.ResourceCPU], divisor), nil
	case "requests.memory":
		return valueString(requests[corev1.ResourceMemory], divisor), nil
	case "requests.ephemeral-storage":
		return valueString(requests[corev1.ResourceEphemeralStorage], divisor), nil
	}
	if name, ok := strings.CutPrefix(ref.Resource, "requests."); ok && strings.HasPrefix(name, corev1.ResourceHugePagesPrefix) {
		return valueString(requests[corev1.ResourceName(name)], divisor), nil
	}
	if name, ok := strings.CutPrefix(ref.Resource, "limits."); ok && strings.HasPrefix(name, corev1.ResourceHugePagesPrefix) {
		return valueString(limits[corev1.ResourceName(name)], divisor), nil
	}
	return "", fmt.Errorf("unsupported container resource : %v", ref.Resource)
}

func findContainer(pod *corev1.Pod, name string) *corev1.Container {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i]
		}
	}
	return nil
}

func cpuString(q, divisor resource.Quantity) string {
	return strconv.FormatInt(ceilDiv(q.MilliValue(), divisor.MilliValue()), 10)
}

func valueString(q, divisor resource.Quantity) string {
	return strconv.FormatInt(ceilDiv(q.Value(), divisor.Value()), 10)
}

func ceilDiv(a, b int64) int64 {
	if b <= 0 {
		return 0
	}
	q := a / b
	if a > 0 && a%b != 0 {
		q++
	}
	return q
}
