package server

import (
	"context"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Labels the agent puts on CRI objects, the kubelet's own (see
// internal/agent/labels.go): they are how a pod's containers are found.
const (
	labelPodUID        = "io.kubernetes.pod.uid"
	labelContainerName = "io.kubernetes.container.name"
)

// instances lists the runtime's instances of one container of a pod,
// newest first. The agent keeps the running (or latest) instance and the
// latest dead one before it, which is what --previous reads.
func (s *Server) instances(ctx context.Context, pod *corev1.Pod, container string) ([]*runtimeapi.Container, error) {
	cs, err := s.rt.ListContainers(ctx, &runtimeapi.ContainerFilter{LabelSelector: map[string]string{
		labelPodUID: string(pod.UID), labelContainerName: container,
	}})
	if err != nil {
		return nil, fmt.Errorf("listing the instances of container %q in pod %q: %w", container, pod.Name, err)
	}
	// Filtered again: a runtime may ignore part of a filter.
	out := cs[:0]
	for _, c := range cs {
		if c.GetLabels()[labelPodUID] == string(pod.UID) && c.GetLabels()[labelContainerName] == container {
			out = append(out, c)
		}
	}
	// Creation time first: restart attempts count up within one sandbox
	// but start again at 0 in a new one, so the attempt alone can put a
	// dead container of an old sandbox before a running one. The attempt
	// breaks ties (runtimes that do not report creation times).
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].CreatedAt != out[j].CreatedAt {
			return out[i].CreatedAt > out[j].CreatedAt
		}
		return out[i].GetMetadata().GetAttempt() > out[j].GetMetadata().GetAttempt()
	})
	return out, nil
}

// runningContainer returns the ID of the container's running instance,
// "" if none runs.
func (s *Server) runningContainer(ctx context.Context, pod *corev1.Pod, container string) (string, error) {
	cs, err := s.instances(ctx, pod, container)
	if err != nil {
		return "", err
	}
	for _, c := range cs {
		if c.State == runtimeapi.ContainerState_CONTAINER_RUNNING {
			return c.Id, nil
		}
	}
	return "", nil
}

// readySandbox returns the ID of the pod's ready sandbox, "" if none.
func (s *Server) readySandbox(ctx context.Context, pod *corev1.Pod) (string, error) {
	sbs, err := s.rt.ListPodSandbox(ctx, &runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{labelPodUID: string(pod.UID)}})
	if err != nil {
		return "", fmt.Errorf("listing the sandboxes of pod %q: %w", pod.Name, err)
	}
	sort.SliceStable(sbs, func(i, j int) bool { return sbs[i].CreatedAt > sbs[j].CreatedAt })
	for _, sb := range sbs {
		if sb.GetLabels()[labelPodUID] == string(pod.UID) && sb.State == runtimeapi.PodSandboxState_SANDBOX_READY {
			return sb.Id, nil
		}
	}
	return "", nil
}

// containerSpec finds a container of the pod by name: regular, init or
// ephemeral.
func containerSpec(pod *corev1.Pod, name string) *corev1.Container {
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
	for i := range pod.Spec.EphemeralContainers {
		if pod.Spec.EphemeralContainers[i].Name == name {
			c := corev1.Container(pod.Spec.EphemeralContainers[i].EphemeralContainerCommon)
			return &c
		}
	}
	return nil
}

// containerStatus finds a container's status by name, nil if none.
func containerStatus(pod *corev1.Pod, name string) *corev1.ContainerStatus {
	for _, list := range [][]corev1.ContainerStatus{pod.Status.ContainerStatuses, pod.Status.InitContainerStatuses, pod.Status.EphemeralContainerStatuses} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

// restarts says whether the agent will start the container again after
// an exit with exitCode: then the exit is the container's last state, and
// what --previous shows.
func restarts(pod *corev1.Pod, name string, exitCode int32) bool {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed || pod.DeletionTimestamp != nil {
		return false
	}
	for _, c := range pod.Spec.InitContainers {
		if c.Name != name {
			continue
		}
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			return true // a sidecar
		}
		// Init containers run again only after failing, unless the pod never restarts.
		return pod.Spec.RestartPolicy != corev1.RestartPolicyNever && exitCode != 0
	}
	for _, c := range pod.Spec.Containers {
		if c.Name != name {
			continue
		}
		switch pod.Spec.RestartPolicy {
		case corev1.RestartPolicyNever:
			return false
		case corev1.RestartPolicyOnFailure:
			return exitCode != 0
		}
		return true
	}
	return false // ephemeral containers never restart
}
