package agent

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// terminationStatusInterval bounds how long a status change (a readiness
// probe's verdict, a container that stopped) waits to be reported while a
// pod is stopped for deletion.
const terminationStatusInterval = 2 * time.Second

// killPodReporting stops the pod for deletion (killPod) and keeps its
// status current meanwhile, as the kubelet's status manager does while the
// pod worker terminates a pod: readiness probes keep running during the
// grace period and a failing one turns the pod NotReady (so Services stop
// sending it traffic), liveness and startup probes stop (the status
// update hands the deleting pod to the prober), and each container's
// exit is reported as it happens.
func (w *podWorker) killPodReporting(ctx context.Context, pod *corev1.Pod, rt *podRuntime, grace *int64) error {
	a := w.a
	// First hand the deleting pod to the prober (through the status), so
	// that no liveness probe fails once the stop signal is sent.
	w.reportStatus(ctx, pod)
	done := make(chan error, 1)
	go func() { done <- a.killPod(ctx, pod, rt, grace) }()
	t := time.NewTicker(terminationStatusInterval)
	defer t.Stop()
	for {
		select {
		case err := <-done:
			return err
		case <-w.pokeCh:
		case <-t.C:
		}
		w.reportStatus(ctx, pod)
	}
}

// reportStatus writes the status of a pod being deleted from the runtime's
// state, against the pod as the API has it now (the status written a
// moment ago changed its resourceVersion).
func (w *podWorker) reportStatus(ctx context.Context, pod *corev1.Pod) {
	a := w.a
	rt, err := a.runtimeOf(ctx, string(pod.UID))
	if err != nil {
		return
	}
	cur, err := a.pods.Pods(pod.Namespace).Get(pod.Name)
	if err != nil || cur.UID != pod.UID {
		return
	}
	a.updateStatus(ctx, cur.DeepCopy(), rt, nil, w.reasons)
}

// writeFinalStatus writes the terminal status of a pod whose containers
// all stopped, before the pod is removed from the API, so that watchers see
// every container terminated and the phase Succeeded or Failed, as the
// kubelet guarantees. It reads the pod from the API (the informer may lag
// behind the status written during the grace period, and a write against
// it would conflict) until the API holds that status.
func (w *podWorker) writeFinalStatus(ctx context.Context, pod *corev1.Pod) {
	a := w.a
	rt, err := a.runtimeOf(ctx, string(pod.UID))
	if err != nil {
		return
	}
	for attempt := 0; attempt < 5 && ctx.Err() == nil; attempt++ {
		cur, err := a.cfg.Client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil || cur.UID != pod.UID {
			return
		}
		if attempt > 0 && finalStatusWritten(cur) {
			return
		}
		a.updateStatus(ctx, cur, rt, nil, w.reasons)
	}
}

// finalStatusWritten: no container of the pod reports running.
func finalStatusWritten(pod *corev1.Pod) bool {
	for _, list := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses, pod.Status.EphemeralContainerStatuses} {
		for _, cs := range list {
			if cs.State.Running != nil {
				return false
			}
		}
	}
	return true
}
