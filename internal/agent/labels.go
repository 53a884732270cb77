package agent

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Labels and annotations on CRI objects, as the kubelet writes them, so
// that crictl and other tools read berth's containers like the kubelet's.
const (
	labelPodName       = "io.kubernetes.pod.name"
	labelPodNamespace  = "io.kubernetes.pod.namespace"
	labelPodUID        = "io.kubernetes.pod.uid"
	labelContainerName = "io.kubernetes.container.name"
	labelManaged       = "berth.dev/managed"

	annoRestartCount        = "io.kubernetes.container.restartCount"
	annoTerminationPath     = "io.kubernetes.container.terminationMessagePath"
	annoTerminationPolicy   = "io.kubernetes.container.terminationMessagePolicy"
	annoContainerHash       = "io.kubernetes.container.hash"
	annoTerminationHostPath = "berth.dev/termination-message-host-path"
	annoInitContainer       = "berth.dev/init-container"
	// As the kubelet, so a kill needs nothing but the container.
	annoPodTerminationGracePeriod = "io.kubernetes.pod.terminationGracePeriod"
	annoPreStopHandler            = "io.kubernetes.container.preStopHandler"
)

func podLabels(pod *corev1.Pod) map[string]string {
	l := map[string]string{
		labelPodName: pod.Name, labelPodNamespace: pod.Namespace, labelPodUID: string(pod.UID), labelManaged: "true",
	}
	for k, v := range pod.Labels {
		if _, reserved := l[k]; !reserved {
			l[k] = v
		}
	}
	return l
}

func containerLabels(pod *corev1.Pod, name string) map[string]string {
	return map[string]string{
		labelPodName: pod.Name, labelPodNamespace: pod.Namespace, labelPodUID: string(pod.UID),
		labelContainerName: name, labelManaged: "true",
	}
}

func restartCountOf(c *runtimeapi.Container) int {
	n, _ := strconv.Atoi(c.GetAnnotations()[annoRestartCount])
	return n
}
