package agent

import (
	"fmt"

	"github.com/berth-dev/berth/internal/agent/prober"
	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// podActions is what one sync of a running (not terminating) pod must do,
// decided from the pod and the runtime's state alone, as the kubelet's
// computePodActions: the executor (syncPod) only carries it out.
type podActions struct {
	// killPod stops every container and the sandbox: the sandbox is to be
	// replaced, or a Never pod lost it after its containers ran.
	killPod bool
	// createSandbox starts a new sandbox (after killPod) with attempt.
	createSandbox bool
	attempt       int
	// sandboxID is the ready sandbox the containers below live in.
	sandboxID string
	// kill lists running containers to stop first, in order.
	kill []containerKill
	// start lists containers to (re)start, in order: at most one regular
	// init container, or the sidecars and containers once initialized.
	start []containerStart
}

// containerKill is a running container the plan stops, and why.
type containerKill struct {
	id   string
	spec *corev1.Container
	// message is the Killing event's message.
	message string
	// grace, when set, is the probe's grace period (probe kills); else the
	// pod's decides.
	grace *int64
}

// containerStart is a container the plan (re)starts.
type containerStart struct {
	spec *corev1.Container
	init bool
	// instances are the container's instances in the sandbox, newest first.
	instances []*runtimeapi.Container
	// afterKill: the container is restarted right after a kill in the same
	// sync (changed spec, failed probe), whatever its restart policy says.
	afterKill bool
}

func (p podActions) String() string {
	s := fmt.Sprintf("killPod=%v createSandbox=%v(attempt %d) sandbox=%q", p.killPod, p.createSandbox, p.attempt, p.sandboxID)
	for _, k := range p.kill {
		s += fmt.Sprintf(" kill(%s: %s)", k.spec.Name, k.message)
	}
	for _, st := range p.start {
		s += fmt.Sprintf(" start(%s init=%v afterKill=%v)", st.spec.Name, st.init, st.afterKill)
	}
	return s
}

// planPod computes a running pod's actions. rt must hold the status of
// every exited newest instance (exit codes) and the probe verdicts of the
// running ones (see observe).
func planPod(pod *corev1.Pod, rt *podRuntime) podActions {
	sb := rt.readySandbox()
	if sb == nil {
		if len(rt.sandboxes) > 0 && len(rt.containers) > 0 && pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
			// As the kubelet: a Never pod whose containers ran gets no new sandbox.
			return podActions{killPod: true}
		}
		// A new sandbox means new containers: stop any left from the old one.
		return podActions{killPod: len(rt.containers) > 0, createSandbox: true, attempt: len(rt.sandboxes)}
	}
	acts := podActions{sandboxID: sb.Id}
	start := func(c *corev1.Container, init bool, inst []*runtimeapi.Container) {
		acts.start = append(acts.start, containerStart{spec: c, init: init, instances: inst})
	}
	// A running container whose spec changed or whose probe failed is
	// killed, and restarted unless a failed probe meets restartPolicy Never.
	checkRunning := func(c *corev1.Container, init bool, inst []*runtimeapi.Container) {
		latest := inst[0]
		k := containerKill{id: latest.Id, spec: c}
		restart := pod.Spec.RestartPolicy != corev1.RestartPolicyNever || (init && isRestartable(c))
		if h := latest.GetAnnotations()[annoContainerHash]; h != "" && h != containerHash(c) {
			k.message = fmt.Sprintf("Container %s definition changed, will be restarted", c.Name)
			restart = true
		} else if d, ok := rt.probeKills[latest.Id]; ok {
			k.message, k.grace = d.Message, &d.GracePeriodSeconds
		} else {
			return
		}
		acts.kill = append(acts.kill, k)
		if restart {
			acts.start = append(acts.start, containerStart{spec: c, init: init, instances: inst, afterKill: true})
		}
	}

	// Once a regular container ran in this sandbox the pod is initialized:
	// restarting sidecars then no longer hold the containers back.
	initialized := false
	for i := range pod.Spec.Containers {
		if len(rt.instances(sb.Id, pod.Spec.Containers[i].Name)) > 0 {
			initialized = true
		}
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		inst := rt.instances(sb.Id, c.Name)
		sidecar := isRestartable(c)
		if len(inst) == 0 {
			start(c, true, nil)
			if sidecar && initialized {
				continue
			}
			return acts
		}
		switch latest := inst[0]; {
		case latest.State == runtimeapi.ContainerState_CONTAINER_RUNNING:
			if sidecar {
				checkRunning(c, true, inst)
				continue
			}
			return acts // a regular init container runs: wait for it
		case latest.State == runtimeapi.ContainerState_CONTAINER_EXITED && !sidecar:
			if st := rt.status[latest.Id]; st != nil && st.ExitCode == 0 {
				continue
			}
			if pod.Spec.RestartPolicy != corev1.RestartPolicyNever {
				start(c, true, inst)
			} // else the pod fails: status says so
			return acts
		default: // an exited sidecar, or an instance created but never started
			start(c, true, inst)
			if sidecar && initialized {
				continue
			}
			return acts
		}
	}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		inst := rt.instances(sb.Id, c.Name)
		if len(inst) == 0 {
			start(c, false, nil)
			continue
		}
		switch latest := inst[0]; latest.State {
		case runtimeapi.ContainerState_CONTAINER_RUNNING:
			checkRunning(c, false, inst)
		case runtimeapi.ContainerState_CONTAINER_EXITED:
			if st := rt.status[latest.Id]; st != nil && shouldRestart(pod.Spec.RestartPolicy, st.ExitCode) {
				start(c, false, inst)
			}
		default:
			start(c, false, inst)
		}
	}
	return acts
}

func isRestartable(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

func shouldRestart(policy corev1.RestartPolicy, exitCode int32) bool {
	switch policy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return exitCode != 0
	}
	return true
}

// probeVerdicts is the consumer's view of the prober.
type probeVerdicts interface {
	ShouldKill(pod *corev1.Pod, c *corev1.Container, containerID string) (prober.KillDecision, bool)
}
