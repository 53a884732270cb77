package envvars

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// errNoNode is the kubelet's defaultPodLimitsForDownwardAPI failure.
var errNoNode = errors.New("failed to find node object, expected a node")

// resourceValue is the kubelet's resourceFieldRef: limits missing (or
// zero) for cpu, memory and ephemeral-storage are the pod-level limit or
// else the node's allocatable (defaultPodLimitsForDownwardAPI); the value
// is divided by the divisor (default 1) and rounded up. containerName,
// when set, names the container whose resources are read.
func resourceValue(pod *corev1.Pod, c *corev1.Container, fs *corev1.ResourceFieldSelector, allocatable corev1.ResourceList) (string, error) {
	if allocatable == nil {
		return "", errNoNode
	}
	alloc := allocatable.DeepCopy()
	if pod.Spec.Resources != nil { // pod-level limits replace allocatable
		for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
			if q, ok := pod.Spec.Resources.Limits[name]; ok && !q.IsZero() {
				if _, ok := alloc[name]; ok {
					alloc[name] = q.DeepCopy()
				}
			}
		}
	}
	target := c
	if fs.ContainerName != "" {
		// As the kubelet: app containers of the pod get the defaults,
		// init containers are read as written.
		target = nil
		for i := range pod.Spec.Containers {
			if pod.Spec.Containers[i].Name == fs.ContainerName {
				target = withDefaultLimits(&pod.Spec.Containers[i], alloc)
				break
			}
		}
		if target == nil {
			for i := range pod.Spec.InitContainers {
				if pod.Spec.InitContainers[i].Name == fs.ContainerName {
					target = &pod.Spec.InitContainers[i]
					break
				}
			}
		}
		if target == nil {
			return "", fmt.Errorf("container %s not found", fs.ContainerName)
		}
	} else {
		target = withDefaultLimits(c, alloc)
	}
	return ContainerResourceValue(fs, target)
}

// withDefaultLimits is MergeContainerResourceLimits on a copy.
func withDefaultLimits(c *corev1.Container, alloc corev1.ResourceList) *corev1.Container {
	out := c.DeepCopy()
	if out.Resources.Limits == nil {
		out.Resources.Limits = corev1.ResourceList{}
	}
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage} {
		if q, ok := out.Resources.Limits[name]; !ok || q.IsZero() {
			if a, ok := alloc[name]; ok {
				out.Resources.Limits[name] = a.DeepCopy()
			}
		}
	}
	return out
}

// ContainerResourceValue is ExtractContainerResourceValue: the
// container's value (as written, no defaulting) in divisor units, rounded
// up.
func ContainerResourceValue(fs *corev1.ResourceFieldSelector, c *corev1.Container) (string, error) {
	divisor := fs.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	limits, requests := c.Resources.Limits, c.Resources.Requests
	switch fs.Resource {
	case "limits.cpu":
		return cpuString(limits.Cpu(), divisor), nil
	case "limits.memory":
		return valueString(limits.Memory(), divisor), nil
	case "limits.ephemeral-storage":
		return valueString(limits.StorageEphemeral(), divisor), nil
	case "requests.cpu":
		return cpuString(requests.Cpu(), divisor), nil
	case "requests.memory":
		return valueString(requests.Memory(), divisor), nil
	case "requests.ephemeral-storage":
		return valueString(requests.StorageEphemeral(), divisor), nil
	}
	for prefix, list := range map[string]corev1.ResourceList{"requests.": requests, "limits.": limits} {
		if name, ok := strings.CutPrefix(fs.Resource, prefix); ok && strings.HasPrefix(name, corev1.ResourceHugePagesPrefix) {
			return valueString(list.Name(corev1.ResourceName(name), resource.BinarySI), divisor), nil
		}
	}
	return "", fmt.Errorf("Unsupported container resource : %v", fs.Resource)
}

func cpuString(q *resource.Quantity, divisor resource.Quantity) string {
	return strconv.FormatInt(ceilDiv(q.MilliValue(), divisor.MilliValue()), 10)
}

func valueString(q *resource.Quantity, divisor resource.Quantity) string {
	return strconv.FormatInt(ceilDiv(q.Value(), divisor.Value()), 10)
}

// ceilDiv rounds a/b up, as the kubelet's math.Ceil on the quotient.
func ceilDiv(a, b int64) int64 {
	if b <= 0 {
		return 0
	}
	q := a / b
	if a%b != 0 && (a > 0) == (b > 0) {
		q++
	}
	return q
}
