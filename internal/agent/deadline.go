package agent

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// spec.activeDeadlineSeconds, as the kubelet's active deadline handler:
// once a pod has been active (since status.startTime) for that long, it
// gets a DeadlineExceeded event, its containers are killed with the pod's
// own grace period (it is a normal termination, not an eviction) and it
// ends Failed with the kubelet's reason and message. The field may be
// changed (only lowered, per validation) on a running pod: the spec update
// syncs the pod and the new deadline is checked then.

// deadlineReason and deadlineMessage are the kubelet's.
const (
	deadlineReason  = "DeadlineExceeded"
	deadlineMessage = "Pod was active on the node longer than the specified deadline"
)

// untilDeadline is how long pod has left before its active deadline; ok
// is false when it has none (no deadline, or not started yet).
func untilDeadline(pod *corev1.Pod, now time.Time) (left time.Duration, ok bool) {
	if pod.Spec.ActiveDeadlineSeconds == nil || pod.Status.StartTime.IsZero() {
		return 0, false
	}
	allowed := time.Duration(*pod.Spec.ActiveDeadlineSeconds) * time.Second
	return allowed - now.Sub(pod.Status.StartTime.Time), true
}

// pastActiveDeadline is the kubelet's test: active for at least the deadline.
func pastActiveDeadline(pod *corev1.Pod, now time.Time) bool {
	left, ok := untilDeadline(pod, now)
	return ok && left <= 0
}

// enforceActiveDeadline fails pod when it is past its active deadline and
// reports whether it did. The caller stops syncing the pod then.
func (w *podWorker) enforceActiveDeadline(ctx context.Context, pod *corev1.Pod, rt *podRuntime) bool {
	if isTerminal(pod) || !pastActiveDeadline(pod, time.Now()) {
		return false
	}
	a := w.a
	a.recorder.Event(pod, corev1.EventTypeNormal, deadlineReason, deadlineMessage)
	// Like an evicted pod, it must not be restarted while its Failed status
	// is on its way to the informer.
	w.mu.Lock()
	w.evicted = true
	w.mu.Unlock()
	if err := a.killPod(ctx, pod, rt, nil); err != nil {
		a.log.Warn("stopping a pod past its active deadline", "pod", podKey(pod), "err", err)
	}
	if rt2, err := a.runtimeOf(ctx, string(pod.UID)); err == nil {
		rt = rt2
	}
	pod.Status.Phase = corev1.PodFailed
	pod.Status.Reason = deadlineReason
	pod.Status.Message = deadlineMessage
	a.updateStatus(ctx, pod, rt, nil, w.reasons)
	return true
}

// requeueForDeadline shortens requeue so that the pod is synced again as
// its active deadline passes (the kubelet's ShouldSync).
func requeueForDeadline(pod *corev1.Pod, requeue time.Duration) time.Duration {
	if left, ok := untilDeadline(pod, time.Now()); ok && left < requeue {
		if left < 100*time.Millisecond {
			left = 100 * time.Millisecond
		}
		return left
	}
	return requeue
}
