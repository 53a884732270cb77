package printers

import (
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// nodeLostReason is the pod status reason the node lifecycle controller sets on pods of an
// unreachable node (k8s.io/kubernetes/pkg/util/node.NodeUnreachablePodReason).
const nodeLostReason = "NodeLost"

// Row conditions let kubectl hide finished pods (e.g. `kubectl get pods` without
// --show-all on old clients); the wording is Kubernetes'.
var (
	podSucceededConditions = []metav1.TableRowCondition{{
		Type: metav1.RowCompleted, Status: metav1.ConditionTrue,
		Reason: string(corev1.PodSucceeded), Message: "The pod has completed successfully.",
	}}
	podFailedConditions = []metav1.TableRowCondition{{
		Type: metav1.RowCompleted, Status: metav1.ConditionTrue,
		Reason: string(corev1.PodFailed), Message: "The pod failed.",
	}}
)

// podSummary is what the READY, STATUS and RESTARTS cells are computed from.
type podSummary struct {
	ready, total int
	status       string
	restarts     int
	lastRestart  time.Time // finishedAt of the newest last termination among the counted containers
}

func podRow(pod *corev1.Pod, now time.Time) metav1.TableRow {
	s := summarizePod(pod)

	restarts := strconv.Itoa(s.restarts)
	if s.restarts != 0 && !s.lastRestart.IsZero() {
		restarts = fmt.Sprintf("%d (%s ago)", s.restarts, age(metav1.NewTime(s.lastRestart), now))
	}

	row := metav1.TableRow{Cells: []interface{}{
		pod.Name,
		fmt.Sprintf("%d/%d", s.ready, s.total),
		s.status,
		restarts,
		age(pod.CreationTimestamp, now),
		orNone(podIP(pod)),
		orNone(pod.Spec.NodeName),
		orNone(pod.Status.NominatedNodeName),
		readinessGates(pod),
	}}
	switch pod.Status.Phase {
	case corev1.PodSucceeded:
		row.Conditions = cloneConditions(podSucceededConditions)
	case corev1.PodFailed:
		row.Conditions = cloneConditions(podFailedConditions)
	}
	return row
}

func cloneConditions(c []metav1.TableRowCondition) []metav1.TableRowCondition {
	return append([]metav1.TableRowCondition(nil), c...)
}

// summarizePod applies Kubernetes' STATUS rules in their order of precedence: phase, then
// pod reason, then scheduling gates, then the first init container that has not finished,
// then (once initialised) the regular containers with the first container winning, and
// finally deletion, which overrides everything for a pod that has not reached a final phase.
func summarizePod(pod *corev1.Pod) podSummary {
	s := podSummary{total: len(pod.Spec.Containers), status: string(pod.Status.Phase)}
	if pod.Status.Reason != "" {
		s.status = pod.Status.Reason
	}
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Reason == corev1.PodReasonSchedulingGated {
			s.status = corev1.PodReasonSchedulingGated
		}
	}

	// Sidecars (restartable init containers) run for the pod's whole life, so they count
	// towards READY's total like regular containers do.
	sidecars := make(map[string]bool, len(pod.Spec.InitContainers))
	for i := range pod.Spec.InitContainers {
		if isSidecar(&pod.Spec.InitContainers[i]) {
			sidecars[pod.Spec.InitContainers[i].Name] = true
			s.total++
		}
	}

	var initRestarts, sidecarRestarts int
	var initLast, sidecarLast time.Time
	initializing := false
	for i := range pod.Status.InitContainerStatuses {
		cs := &pod.Status.InitContainerStatuses[i]
		initRestarts += int(cs.RestartCount)
		initLast = later(initLast, lastFinished(cs))
		if sidecars[cs.Name] {
			sidecarRestarts += int(cs.RestartCount)
			sidecarLast = later(sidecarLast, lastFinished(cs))
		}
		if cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0 {
			continue // finished its job
		}
		if sidecars[cs.Name] && cs.Started != nil && *cs.Started {
			if cs.Ready {
				s.ready++
			}
			continue // a started sidecar does not hold initialisation up
		}
		s.status = initStatus(cs, i, len(pod.Spec.InitContainers))
		initializing = true
		break
	}

	if initializing && !podInitialized(pod) {
		// While init containers run, the restarts users care about are theirs.
		s.restarts, s.lastRestart = initRestarts, initLast
	} else {
		// Once initialised, only sidecar restarts still matter among init containers:
		// ordinary init containers finished long ago.
		s.restarts, s.lastRestart = sidecarRestarts, sidecarLast
		hasRunning := false
		// Walk backwards so that the first container's state is the one shown.
		for i := len(pod.Status.ContainerStatuses) - 1; i >= 0; i-- {
			cs := &pod.Status.ContainerStatuses[i]
			s.restarts += int(cs.RestartCount)
			s.lastRestart = later(s.lastRestart, lastFinished(cs))
			switch {
			case cs.State.Waiting != nil && cs.State.Waiting.Reason != "":
				s.status = cs.State.Waiting.Reason
			case cs.State.Terminated != nil && cs.State.Terminated.Reason != "":
				s.status = cs.State.Terminated.Reason
			case cs.State.Terminated != nil:
				s.status = exitStatus("", cs.State.Terminated)
			case cs.Ready && cs.State.Running != nil:
				hasRunning = true
				s.ready++
			}
		}
		// One container completed while another still serves: the pod is not "Completed".
		if s.status == "Completed" && hasRunning {
			if podReady(pod) {
				s.status = "Running"
			} else {
				s.status = "NotReady"
			}
		}
	}

	if pod.DeletionTimestamp != nil {
		switch {
		case pod.Status.Reason == nodeLostReason:
			s.status = "Unknown"
		case pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed:
			s.status = "Terminating"
		}
	}
	return s
}

// initStatus is the STATUS of a pod held up by init container number index.
func initStatus(cs *corev1.ContainerStatus, index, count int) string {
	switch {
	case cs.State.Terminated != nil:
		if cs.State.Terminated.Reason == "" {
			return exitStatus("Init:", cs.State.Terminated)
		}
		return "Init:" + cs.State.Terminated.Reason
	case cs.State.Waiting != nil && cs.State.Waiting.Reason != "" && cs.State.Waiting.Reason != "PodInitializing":
		return "Init:" + cs.State.Waiting.Reason
	default:
		return fmt.Sprintf("Init:%d/%d", index, count)
	}
}

// exitStatus names a termination that carries no reason: the signal if one killed the
// process, else the exit code.
func exitStatus(prefix string, t *corev1.ContainerStateTerminated) string {
	if t.Signal != 0 {
		return fmt.Sprintf("%sSignal:%d", prefix, t.Signal)
	}
	return fmt.Sprintf("%sExitCode:%d", prefix, t.ExitCode)
}

func isSidecar(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

func lastFinished(cs *corev1.ContainerStatus) time.Time {
	if t := cs.LastTerminationState.Terminated; t != nil {
		return t.FinishedAt.Time
	}
	return time.Time{}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// podInitialized looks at the first Initialized condition only, as Kubernetes does.
func podInitialized(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodInitialized {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podReady is true when any Ready condition is True.
func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

// podIP follows the v1→internal conversion Kubernetes applies before printing: status.podIP
// is authoritative when set, else the first of status.podIPs.
func podIP(pod *corev1.Pod) string {
	if pod.Status.PodIP != "" {
		return pod.Status.PodIP
	}
	if len(pod.Status.PodIPs) > 0 {
		return pod.Status.PodIPs[0].IP
	}
	return ""
}

// readinessGates is "<true gates>/<gates>", judged by the first condition of each gate's type.
func readinessGates(pod *corev1.Pod) string {
	if len(pod.Spec.ReadinessGates) == 0 {
		return "<none>"
	}
	trueGates := 0
	for _, gate := range pod.Spec.ReadinessGates {
		for _, c := range pod.Status.Conditions {
			if c.Type == gate.ConditionType {
				if c.Status == corev1.ConditionTrue {
					trueGates++
				}
				break
			}
		}
	}
	return fmt.Sprintf("%d/%d", trueGates, len(pod.Spec.ReadinessGates))
}
