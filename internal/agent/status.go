package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// maxTerminationMessage is the kubelet's cap on termination messages.
const maxTerminationMessage = 4096

// updateStatus computes the pod's status from the runtime, as the kubelet
// reports it, and writes it when it changed.
func (a *Agent) updateStatus(ctx context.Context, pod *corev1.Pod, rt *podRuntime, sb *runtimeapi.PodSandboxStatus, reasons map[string]waitReason) {
	old := pod.Status
	st := *old.DeepCopy()
	now := metav1.Now()
	if st.StartTime == nil {
		st.StartTime = &now
	}
	st.HostIP, st.HostIPs = a.nodeIP, []corev1.HostIP{{IP: a.nodeIP}}
	if sb != nil && sb.GetNetwork().GetIp() != "" {
		st.PodIP = sb.Network.Ip
		st.PodIPs = []corev1.PodIP{{IP: sb.Network.Ip}}
		for _, ip := range sb.Network.AdditionalIps {
			st.PodIPs = append(st.PodIPs, corev1.PodIP{IP: ip.Ip})
		}
	}
	if pod.Spec.HostNetwork {
		st.PodIP, st.PodIPs = a.nodeIP, []corev1.PodIP{{IP: a.nodeIP}}
	}
	sandboxID := ""
	if sb != nil && sb.State == runtimeapi.PodSandboxState_SANDBOX_READY {
		sandboxID = sb.Id
	}
	defaultWaiting := "ContainerCreating"
	if len(pod.Spec.InitContainers) > 0 {
		defaultWaiting = "PodInitializing"
	}
	st.InitContainerStatuses = a.containerStatuses(ctx, pod, pod.Spec.InitContainers, rt, sandboxID, reasons, "PodInitializing", old.InitContainerStatuses)
	st.ContainerStatuses = a.containerStatuses(ctx, pod, pod.Spec.Containers, rt, sandboxID, reasons, defaultWaiting, old.ContainerStatuses)
	st.EphemeralContainerStatuses = a.ephemeralStatuses(ctx, pod, rt, sandboxID, reasons, old.EphemeralContainerStatuses)
	st.Phase = podPhase(pod, st.InitContainerStatuses, st.ContainerStatuses)
	if isTerminal(pod) {
		st.Phase = old.Phase // phases never leave Succeeded/Failed
	}
	if pod.DeletionTimestamp != nil && st.Phase == corev1.PodRunning {
		// Everything has been stopped for deletion.
		allStopped := true
		for _, cs := range st.ContainerStatuses {
			if cs.State.Running != nil {
				allStopped = false
			}
		}
		if allStopped {
			st.Phase = corev1.PodFailed
			if allSucceeded(st.ContainerStatuses) {
				st.Phase = corev1.PodSucceeded
			}
		}
	}
	// Init containers that exited 0 are ready, as the kubelet's prober
	// manager reports them.
	for i := range st.InitContainerStatuses {
		cs := &st.InitContainerStatuses[i]
		if !isSidecar(pod, cs.Name) {
			cs.Ready = cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0
		}
	}
	sandboxReady := sandboxID != "" && (st.PodIP != "" || pod.Spec.HostNetwork)
	setCondition(&st, corev1.PodReadyToStartContainers, podCondition{ok: sandboxReady}, now)
	setCondition(&st, corev1.PodInitialized, initializedCondition(pod, st.InitContainerStatuses, st.ContainerStatuses, st.Phase), now)
	containersReady := containersReadyCondition(pod, st.InitContainerStatuses, st.ContainerStatuses, st.Phase)
	setCondition(&st, corev1.ContainersReady, containersReady, now)
	setCondition(&st, corev1.PodReady, readyCondition(pod, containersReady, st.Conditions), now)
	setCondition(&st, corev1.PodScheduled, podCondition{ok: true}, now)
	a.probes.Sync(pod, &st)
	observeGeneration(pod, &st)
	if equality.Semantic.DeepEqual(withoutTimes(old), withoutTimes(st)) {
		return
	}
	pod.Status = st
	if _, err := a.cfg.Client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err != nil && ctx.Err() == nil {
		a.log.Debug("updating pod status", "pod", podKey(pod), "err", err)
	}
}

// kubeletConditions are the pod conditions the kubelet owns and stamps with
// the generation it observed (PodObservedGenerationTracking, GA in 1.35).
var kubeletConditions = map[corev1.PodConditionType]bool{
	corev1.PodReadyToStartContainers: true, corev1.PodInitialized: true, corev1.ContainersReady: true,
	corev1.PodReady: true, corev1.PodScheduled: true,
}

// observeGeneration records that this status was computed from the pod's
// current generation: status.observedGeneration (never lowered, as the
// kubelet's status manager keeps it) and each kubelet-owned condition's.
func observeGeneration(pod *corev1.Pod, st *corev1.PodStatus) {
	if pod.Generation > st.ObservedGeneration {
		st.ObservedGeneration = pod.Generation
	}
	for i := range st.Conditions {
		if kubeletConditions[st.Conditions[i].Type] {
			st.Conditions[i].ObservedGeneration = pod.Generation
		}
	}
}

func allSucceeded(cs []corev1.ContainerStatus) bool {
	for _, c := range cs {
		if c.State.Terminated == nil || c.State.Terminated.ExitCode != 0 {
			return false
		}
	}
	return true
}

// withoutTimes drops timestamps that change without news (probe and
// heartbeat-like times) so that unchanged statuses are not rewritten.
func withoutTimes(s corev1.PodStatus) corev1.PodStatus {
	c := *s.DeepCopy()
	for i := range c.Conditions {
		c.Conditions[i].LastProbeTime = metav1.Time{}
		c.Conditions[i].LastTransitionTime = metav1.Time{}
	}
	c.StartTime = nil
	return c
}

func setCondition(st *corev1.PodStatus, t corev1.PodConditionType, pc podCondition, now metav1.Time) {
	status := corev1.ConditionFalse
	if pc.ok {
		status = corev1.ConditionTrue
	}
	for i := range st.Conditions {
		c := &st.Conditions[i]
		if c.Type != t {
			continue
		}
		if c.Status != status {
			c.LastTransitionTime = now
		}
		c.Status, c.Reason, c.Message = status, pc.reason, pc.message
		return
	}
	st.Conditions = append(st.Conditions, corev1.PodCondition{Type: t, Status: status, Reason: pc.reason, Message: pc.message, LastTransitionTime: now})
}

func isSidecar(pod *corev1.Pod, name string) bool {
	for _, c := range pod.Spec.InitContainers {
		if c.Name == name {
			return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		}
	}
	return false
}

// containerStatuses reports each spec container from its newest instance
// in the current sandbox, with the previous instance as lastState.
func (a *Agent) containerStatuses(ctx context.Context, pod *corev1.Pod, specs []corev1.Container, rt *podRuntime,
	sandboxID string, reasons map[string]waitReason, defaultWaiting string, old []corev1.ContainerStatus) []corev1.ContainerStatus {
	if len(specs) == 0 {
		return nil
	}
	runtimeName := a.runtimeName(ctx)
	out := make([]corev1.ContainerStatus, 0, len(specs))
	for i := range specs {
		c := &specs[i]
		cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, Started: new(bool)}
		var inst []*runtimeapi.Container
		for _, x := range rt.containers {
			if x.GetLabels()[labelContainerName] == c.Name && (sandboxID == "" || x.PodSandboxId == sandboxID) {
				inst = append(inst, x)
			}
		}
		if len(inst) == 0 {
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: defaultWaiting}
			if r, ok := reasons[c.Name]; ok {
				cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: r.reason, Message: r.message}
			}
			for _, o := range old {
				if o.Name == c.Name {
					cs.RestartCount, cs.LastTerminationState = o.RestartCount, o.LastTerminationState
				}
			}
			out = append(out, cs)
			continue
		}
		latest, err := a.cfg.Runtime.ContainerStatus(ctx, inst[0].Id)
		if err != nil {
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: defaultWaiting}
			out = append(out, cs)
			continue
		}
		cs.RestartCount = int32(restartCountOf(inst[0]))
		cs.ContainerID = runtimeName + "://" + latest.Id
		cs.ImageID = latest.ImageRef
		if latest.Image != nil && latest.Image.UserSpecifiedImage != "" {
			cs.Image = latest.Image.UserSpecifiedImage
		}
		state := a.stateOf(latest, runtimeName)
		if len(inst) > 1 {
			if prev, err := a.cfg.Runtime.ContainerStatus(ctx, inst[1].Id); err == nil {
				ps := a.stateOf(prev, runtimeName)
				if ps.Terminated != nil {
					cs.LastTerminationState = ps
				}
			}
		}
		cs.State = state
		if r, ok := reasons[c.Name]; ok && state.Terminated != nil && shouldRestart(pod.Spec.RestartPolicy, state.Terminated.ExitCode) && pod.DeletionTimestamp == nil {
			// Waiting to restart: the exit becomes lastState.
			cs.LastTerminationState = state
			cs.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: r.reason, Message: r.message}}
		}
		if state.Running != nil {
			started := a.isStarted(pod, c, latest.Id)
			cs.Started = &started
			cs.Ready = started && a.isReady(pod, c, latest.Id)
		}
		out = append(out, cs)
	}
	return out
}

func (a *Agent) stateOf(st *runtimeapi.ContainerStatus, runtimeName string) corev1.ContainerState {
	switch st.State {
	case runtimeapi.ContainerState_CONTAINER_RUNNING:
		return corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(time.Unix(0, st.StartedAt))}}
	case runtimeapi.ContainerState_CONTAINER_EXITED:
		t := &corev1.ContainerStateTerminated{ExitCode: st.ExitCode, Reason: st.Reason, Message: st.Message,
			StartedAt: metav1.NewTime(time.Unix(0, st.StartedAt)), FinishedAt: metav1.NewTime(time.Unix(0, st.FinishedAt)),
			ContainerID: runtimeName + "://" + st.Id}
		if st.StartedAt == 0 {
			t.StartedAt = metav1.Time{}
		}
		if t.Reason == "" {
			t.Reason = "Completed"
			if st.ExitCode != 0 {
				t.Reason = "Error"
			}
		}
		if msg := terminationMessage(st); msg != "" {
			t.Message = msg
		}
		return corev1.ContainerState{Terminated: t}
	case runtimeapi.ContainerState_CONTAINER_CREATED:
		return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}
	}
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}
}

// terminationMessage is the kubelet's getTerminationMessage: the last
// 4096 bytes of the container's termination message file, or for
// FallbackToLogsOnError with a failure and an empty file, the last 2048
// bytes of the last 80 log lines. Both reads are bounded: the container
// owns these files and may make them as large as its disk allows.
func terminationMessage(st *runtimeapi.ContainerStatus) string {
	anno := st.GetAnnotations()
	if p := anno[annoTerminationHostPath]; p != "" {
		b, err := readAtMost(p, maxTerminationMessage)
		if err == nil && len(b) > 0 {
			return string(b)
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Sprintf("Error on reading termination log %s: %v", p, err)
		}
	}
	if anno[annoTerminationPolicy] == string(corev1.TerminationMessageFallbackToLogsOnError) && st.ExitCode != 0 && st.LogPath != "" {
		return tailLog(st.LogPath, 80, 2048)
	}
	return ""
}

// readAtMost returns at most max bytes from the end of the regular file at
// path (the kubelet's tail.ReadAtMost); a symlink or a FIFO put in its
// place is refused rather than followed or waited on.
func readAtMost(path string, max int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	size := fi.Size()
	if size > max {
		size = max
	}
	if size <= 0 {
		return nil, nil
	}
	if _, err := f.Seek(-size, io.SeekEnd); err != nil {
		return nil, err
	}
	return io.ReadAll(io.LimitReader(f, max))
}

// tailWindow is how much of a log's end tailLog reads: 2048 bytes of
// content from at most 80 lines, with the CRI header (timestamp, stream,
// tag: under 64 bytes) of each, fit well inside it.
const tailWindow = 16 << 10

// tailLog returns the content of the last lines of a CRI log file, at most
// maxBytes of it, reading only the file's last tailWindow bytes.
func tailLog(path string, lines, maxBytes int) string {
	b, err := readAtMost(path, tailWindow)
	if err != nil {
		return ""
	}
	if fi, err := os.Stat(path); err == nil && fi.Size() > int64(len(b)) {
		// The window starts inside a line: drop that piece.
		if i := strings.IndexByte(string(b), '\n'); i >= 0 {
			b = b[i+1:]
		} else {
			b = nil
		}
	}
	all := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	var sb strings.Builder
	for _, l := range all {
		// <timestamp> <stream> <P|F> <content>
		parts := strings.SplitN(l, " ", 4)
		if len(parts) == 4 {
			sb.WriteString(parts[3])
			if parts[2] == "F" {
				sb.WriteByte('\n')
			}
		}
	}
	s := sb.String()
	if len(s) > maxBytes {
		s = s[len(s)-maxBytes:]
	}
	return s
}

// podPhase is the kubelet's getPhase.
func podPhase(pod *corev1.Pod, initStatuses, statuses []corev1.ContainerStatus) corev1.PodPhase {
	find := func(list []corev1.ContainerStatus, name string) *corev1.ContainerStatus {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
		return nil
	}
	pendingInit, failedInit, pendingSidecars := 0, 0, 0
	unknown, running, waiting, stopped, succeeded := 0, 0, 0, 0, 0
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		cs := find(initStatuses, c.Name)
		if c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways {
			switch {
			case cs == nil, cs.State.Running != nil:
				pendingInit++
			case cs.State.Terminated != nil:
				if cs.State.Terminated.ExitCode != 0 {
					failedInit++
				}
			case cs.State.Waiting != nil:
				if l := cs.LastTerminationState.Terminated; l != nil {
					if l.ExitCode != 0 {
						failedInit++
					}
				} else {
					pendingInit++
				}
			default:
				pendingInit++
			}
			continue
		}
		switch { // sidecar
		case cs == nil:
			unknown++
		case cs.State.Running != nil:
			if cs.Started == nil || !*cs.Started {
				pendingSidecars++
			}
			running++
		case cs.State.Terminated != nil:
		case cs.State.Waiting != nil:
			if cs.LastTerminationState.Terminated == nil {
				pendingSidecars++
				waiting++
			}
		default:
			pendingSidecars++
			unknown++
		}
	}
	initialized := false
	for i := range pod.Spec.Containers {
		cs := find(statuses, pod.Spec.Containers[i].Name)
		switch {
		case cs == nil:
			unknown++
		case cs.State.Running != nil:
			running++
			initialized = true
		case cs.State.Terminated != nil:
			stopped++
			if cs.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case cs.State.Waiting != nil:
			if cs.LastTerminationState.Terminated != nil {
				stopped++
			} else {
				waiting++
			}
		default:
			unknown++
		}
	}
	if failedInit > 0 && pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
		return corev1.PodFailed
	}
	switch {
	case pendingInit > 0 || (pendingSidecars > 0 && !initialized), waiting > 0:
		return corev1.PodPending
	case running > 0 && unknown == 0:
		return corev1.PodRunning
	case running == 0 && stopped > 0 && unknown == 0:
		switch {
		case pod.Spec.RestartPolicy == corev1.RestartPolicyAlways:
			return corev1.PodRunning
		case stopped == succeeded:
			return corev1.PodSucceeded
		case pod.Spec.RestartPolicy == corev1.RestartPolicyNever:
			return corev1.PodFailed
		}
		return corev1.PodRunning
	}
	return corev1.PodPending
}
