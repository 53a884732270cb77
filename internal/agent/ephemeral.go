package agent

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Ephemeral containers (kubectl debug) are added to a running pod through
// the pods/ephemeralcontainers subresource. As the kubelet's
// computePodActions: each is started once, in the pod's ready sandbox,
// whether or not the pod is initialized, and never restarted, not even in
// a new sandbox; one that targets a container shares that container's
// process namespace (CRI NamespaceMode_TARGET).

// ephemeralSpecs returns the pod's ephemeral containers as containers.
func ephemeralSpecs(pod *corev1.Pod) []corev1.Container {
	if len(pod.Spec.EphemeralContainers) == 0 {
		return nil
	}
	out := make([]corev1.Container, len(pod.Spec.EphemeralContainers))
	for i := range pod.Spec.EphemeralContainers {
		out[i] = corev1.Container(pod.Spec.EphemeralContainers[i].EphemeralContainerCommon)
	}
	return out
}

// ephemeralToStart lists the ephemeral containers that never had an
// instance in any of the pod's sandboxes.
func ephemeralToStart(pod *corev1.Pod, rt *podRuntime) []*corev1.Container {
	var out []*corev1.Container
	for i := range pod.Spec.EphemeralContainers {
		c := (*corev1.Container)(&pod.Spec.EphemeralContainers[i].EphemeralContainerCommon)
		started := false
		for _, x := range rt.containers {
			if x.GetLabels()[labelContainerName] == c.Name {
				started = true
				break
			}
		}
		if !started {
			out = append(out, c)
		}
	}
	return out
}

// startEphemeral starts the ephemeral containers not started yet (before
// init containers, as the kubelet, so a debugger runs even when an init
// container cannot start). It returns how soon to sync again, 0 when
// nothing was started.
func (w *podWorker) startEphemeral(ctx context.Context, pod *corev1.Pod, rt *podRuntime, sandboxID string,
	sandboxCfg *runtimeapi.PodSandboxConfig, podIP string) time.Duration {
	var requeue time.Duration
	for _, c := range ephemeralToStart(pod, rt) {
		if ctx.Err() != nil {
			return time.Second
		}
		w.startContainer(ctx, pod, c, sandboxID, sandboxCfg, podIP, 0, false)
		requeue = time.Second
		if _, failed := w.reasons[c.Name]; failed {
			requeue = startRetry
		}
	}
	return requeue
}

// ephemeralTarget returns the ephemeral container named name's
// targetContainerName, "" when it is not an ephemeral container or has
// no target.
func ephemeralTarget(pod *corev1.Pod, name string) string {
	for i := range pod.Spec.EphemeralContainers {
		if pod.Spec.EphemeralContainers[i].Name == name {
			return pod.Spec.EphemeralContainers[i].TargetContainerName
		}
	}
	return ""
}

// targetNamespaces makes an ephemeral container with a target share that
// container's process namespace, as the kubelet: only when the pod does
// not share one process namespace anyway. The target must be running.
func (a *Agent) targetNamespaces(ctx context.Context, pod *corev1.Pod, c *corev1.Container, cfg *runtimeapi.ContainerConfig) error {
	target := ephemeralTarget(pod, c.Name)
	if target == "" {
		return nil
	}
	cs, err := a.cfg.Runtime.ListContainers(ctx, &runtimeapi.ContainerFilter{
		State:         &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING},
		LabelSelector: map[string]string{labelPodUID: string(pod.UID), labelContainerName: target}})
	if err != nil {
		return err
	}
	if len(cs) == 0 {
		return fmt.Errorf("unable to find target container %v", target)
	}
	sc := cfg.GetLinux().GetSecurityContext()
	if sc == nil || sc.NamespaceOptions == nil {
		return nil
	}
	if sc.NamespaceOptions.Pid == runtimeapi.NamespaceMode_CONTAINER {
		sc.NamespaceOptions.Pid = runtimeapi.NamespaceMode_TARGET
		sc.NamespaceOptions.TargetId = cs[0].Id
	}
	return nil
}

// ephemeralStatuses reports the ephemeral containers as the kubelet does:
// like containers, but never ready and without started (no probes run
// for them).
func (a *Agent) ephemeralStatuses(ctx context.Context, pod *corev1.Pod, rt *podRuntime, sandboxID string,
	reasons map[string]waitReason, old []corev1.ContainerStatus) []corev1.ContainerStatus {
	specs := ephemeralSpecs(pod)
	if len(specs) == 0 {
		return nil
	}
	defaultWaiting := "ContainerCreating"
	if len(pod.Spec.InitContainers) > 0 {
		defaultWaiting = "PodInitializing"
	}
	// Ephemeral containers are never restarted: their exit is their state,
	// whatever the pod's restart policy.
	noRestart := pod.DeepCopy()
	noRestart.Spec.RestartPolicy = corev1.RestartPolicyNever
	st := a.containerStatuses(ctx, noRestart, specs, rt, sandboxID, reasons, defaultWaiting, old)
	for i := range st {
		st[i].Ready, st[i].Started = false, nil
	}
	return st
}
