package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/berth-dev/berth/internal/cri"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"
)

// criTimeout bounds one CRI call that is not a pull or a stop.
const criTimeout = 2 * time.Minute

// podRuntime is what the runtime holds for one pod.
type podRuntime struct {
	sandboxes  []*runtimeapi.PodSandbox // newest first
	containers []*runtimeapi.Container  // newest first
}

func (r *podRuntime) readySandbox() *runtimeapi.PodSandbox {
	for _, s := range r.sandboxes {
		if s.State == runtimeapi.PodSandboxState_SANDBOX_READY {
			return s
		}
	}
	return nil
}

// instances returns a container's instances in sandboxID, newest first.
func (r *podRuntime) instances(sandboxID, name string) []*runtimeapi.Container {
	var out []*runtimeapi.Container
	for _, c := range r.containers {
		if c.PodSandboxId == sandboxID && c.GetLabels()[labelContainerName] == name {
			out = append(out, c)
		}
	}
	return out
}

// nextAttempt numbers a container's first instance in a new sandbox after
// its newest instance in any sandbox, as the kubelet's restartCount.
func (r *podRuntime) nextAttempt(name string) int {
	for _, c := range r.containers {
		if c.GetLabels()[labelContainerName] == name {
			return restartCountOf(c) + 1
		}
	}
	return 0
}

func (a *Agent) runtimeOf(ctx context.Context, uid string) (*podRuntime, error) {
	sel := map[string]string{labelPodUID: uid}
	sbs, err := a.cfg.Runtime.ListPodSandbox(ctx, &runtimeapi.PodSandboxFilter{LabelSelector: sel})
	if err != nil {
		return nil, err
	}
	cs, err := a.cfg.Runtime.ListContainers(ctx, &runtimeapi.ContainerFilter{LabelSelector: sel})
	if err != nil {
		return nil, err
	}
	sort.Slice(sbs, func(i, j int) bool { return sbs[i].CreatedAt > sbs[j].CreatedAt })
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].Metadata.GetAttempt() != cs[j].Metadata.GetAttempt() {
			return cs[i].Metadata.GetAttempt() > cs[j].Metadata.GetAttempt()
		}
		return cs[i].CreatedAt > cs[j].CreatedAt
	})
	return &podRuntime{sandboxes: sbs, containers: cs}, nil
}

// sync brings one pod to its desired state. finished means the pod is
// gone and the worker can end; requeue asks for another sync that soon.
func (w *podWorker) sync(ctx context.Context) (finished bool, requeue time.Duration) {
	a := w.a
	pod, err := a.pods.Pods(w.namespace).Get(w.name)
	if apierrors.IsNotFound(err) || (err == nil && pod.UID != w.uid) {
		// Gone from the API (or replaced by a pod of the same name): clean up.
		if err := a.cleanupRuntime(ctx, string(w.uid), 0); err != nil {
			a.log.Warn("cleaning up a removed pod", "pod", w.namespace+"/"+w.name, "err", err)
			return false, 2 * time.Second
		}
		a.removePodFiles(w.namespace, w.name, w.uid)
		a.backoff.forget(string(w.uid))
		a.probes.Remove(w.uid)
		if f, ok := a.cfg.Images.(interface{ ForgetPod(types.UID) }); ok {
			f.ForgetPod(w.uid)
		}
		return true, 0
	}
	if err != nil {
		return false, time.Second
	}
	pod = pod.DeepCopy()
	if pod.DeletionTimestamp != nil {
		return w.terminate(ctx, pod)
	}
	rt, err := a.runtimeOf(ctx, string(pod.UID))
	if err != nil {
		a.log.Warn("reading the runtime", "pod", podKey(pod), "err", err)
		return false, 2 * time.Second
	}
	if isTerminal(pod) {
		// Finished pods keep no sandbox running.
		if sb := rt.readySandbox(); sb != nil {
			_ = a.killPod(ctx, pod, rt, 0)
		}
		return false, resyncInterval
	}
	if a.volumes != nil {
		a.volumes.Track(pod, a.podDir(pod))
	}
	requeue = w.syncPod(ctx, pod, rt)
	return false, requeue
}

func isTerminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

func podKey(pod *corev1.Pod) string { return pod.Namespace + "/" + pod.Name }

// syncPod is the heart of the agent: sandbox, init containers in order,
// then the containers, then status.
func (w *podWorker) syncPod(ctx context.Context, pod *corev1.Pod, rt *podRuntime) time.Duration {
	a := w.a
	requeue := resyncInterval
	sb := rt.readySandbox()
	sandboxCfg, cfgErr := a.sandboxConfig(pod, len(rt.sandboxes))
	if sb == nil && len(rt.sandboxes) > 0 && len(rt.containers) > 0 && pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
		// As the kubelet: a Never pod whose containers ran gets no new sandbox.
		_ = a.killPod(ctx, pod, rt, 0)
		a.updateStatus(ctx, pod, rt, nil, w.reasons)
		return resyncInterval
	}
	if sb == nil && cfgErr == nil {
		// A new sandbox means new containers: kill any left from the old one.
		if len(rt.containers) > 0 {
			_ = a.killPod(ctx, pod, rt, 0)
		}
		// Pull the first containers' images while the sandbox starts: the
		// two do not depend on each other, and a pull is often the longest
		// step. Events and results are the same as pulling afterwards.
		own := pod.DeepCopy() // the sync goes on with pod meanwhile
		first := own.Spec.Containers
		if len(own.Spec.InitContainers) > 0 {
			first = own.Spec.InitContainers[:1]
		}
		for i := range first {
			c := &first[i]
			if _, busy := w.prepulls[c.Name]; busy {
				continue
			}
			ch := make(chan prepullResult, 1)
			w.prepulls[c.Name] = ch
			go func() {
				ref, err := a.cfg.Images.EnsureImage(ctx, own, c, sandboxCfg, a.recorder)
				ch <- prepullResult{ref, err}
			}()
		}
		cctx, cancel := context.WithTimeout(ctx, criTimeout)
		id, err := a.cfg.Runtime.RunPodSandbox(cctx, sandboxCfg, "")
		cancel()
		if err != nil {
			a.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", err)
			a.updateStatus(ctx, pod, rt, nil, w.reasons)
			return 5 * time.Second
		}
		if rt, err = a.runtimeOf(ctx, string(pod.UID)); err != nil {
			return time.Second
		}
		sb = rt.readySandbox()
		if sb == nil || sb.Id != id {
			return time.Second
		}
	}
	if cfgErr != nil {
		a.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", cfgErr)
		a.updateStatus(ctx, pod, rt, nil, w.reasons)
		return 10 * time.Second
	}
	sbStatus, err := a.cfg.Runtime.PodSandboxStatus(ctx, sb.Id)
	if err != nil {
		return 2 * time.Second
	}
	podIP := sbStatus.GetNetwork().GetIp()

	// Init containers, one at a time, in order.
	initDone := true
	// Once a regular container ran in this sandbox the pod is initialized:
	// restarting sidecars then no longer holds the containers back.
	initialized := false
	for i := range pod.Spec.Containers {
		if len(rt.instances(sb.Id, pod.Spec.Containers[i].Name)) > 0 {
			initialized = true
		}
	}
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		inst := rt.instances(sb.Id, c.Name)
		sidecar := c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		if len(inst) > 0 {
			latest := inst[0]
			switch {
			case latest.State == runtimeapi.ContainerState_CONTAINER_RUNNING:
				if sidecar {
					continue
				}
				initDone = false
			case latest.State == runtimeapi.ContainerState_CONTAINER_EXITED && !sidecar:
				st, _ := a.cfg.Runtime.ContainerStatus(ctx, latest.Id)
				if st != nil && st.ExitCode == 0 {
					continue
				}
				initDone = false
				if pod.Spec.RestartPolicy == corev1.RestartPolicyNever {
					break // the pod fails; status says so
				}
				if d := w.startWithBackoff(ctx, pod, c, sb.Id, sandboxCfg, podIP, inst, true); d > 0 && d < requeue {
					requeue = d
				}
			default:
				if d := w.startWithBackoff(ctx, pod, c, sb.Id, sandboxCfg, podIP, inst, true); d > 0 && d < requeue {
					requeue = d
				}
				if sidecar && initialized {
					continue
				}
				initDone = false
			}
		} else {
			initDone = false
			w.startContainer(ctx, pod, c, sb.Id, sandboxCfg, podIP, rt.nextAttempt(c.Name), true)
			requeue = time.Second
		}
		if !initDone {
			break
		}
	}
	if initDone {
		for i := range pod.Spec.Containers {
			c := &pod.Spec.Containers[i]
			inst := rt.instances(sb.Id, c.Name)
			if len(inst) == 0 {
				w.startContainer(ctx, pod, c, sb.Id, sandboxCfg, podIP, rt.nextAttempt(c.Name), false)
				if _, failed := w.reasons[c.Name]; failed && requeue > startRetry {
					requeue = startRetry
				}
				continue
			}
			latest := inst[0]
			if latest.State == runtimeapi.ContainerState_CONTAINER_RUNNING {
				if d, kill := a.probes.ShouldKill(pod, c, latest.Id); kill {
					// A failed liveness or startup probe: stop it; the exit
					// then goes through the restart policy and back-off.
					a.recorder.Event(pod, corev1.EventTypeNormal, "Killing", d.Message)
					grace := time.Duration(d.GracePeriodSeconds) * time.Second
					if grace < 2*time.Second {
						grace = 2 * time.Second
					}
					cctx, cancel := context.WithTimeout(ctx, grace+criTimeout)
					_ = a.cfg.Runtime.StopContainer(cctx, latest.Id, grace)
					cancel()
					requeue = 100 * time.Millisecond
				}
				continue
			}
			if latest.State == runtimeapi.ContainerState_CONTAINER_EXITED {
				st, _ := a.cfg.Runtime.ContainerStatus(ctx, latest.Id)
				if st == nil || !shouldRestart(pod.Spec.RestartPolicy, st.ExitCode) {
					continue
				}
			}
			if d := w.startWithBackoff(ctx, pod, c, sb.Id, sandboxCfg, podIP, inst, false); d > 0 && d < requeue {
				requeue = d
			}
		}
	}
	if rt2, err := a.runtimeOf(ctx, string(pod.UID)); err == nil {
		rt = rt2
	}
	a.updateStatus(ctx, pod, rt, sbStatus, w.reasons)
	return requeue
}

// startRetry is how soon a container whose start failed (a pull error,
// a config error) is tried again; the image back-off decides whether
// that try pulls or reports ImagePullBackOff.
const startRetry = 2 * time.Second

func shouldRestart(policy corev1.RestartPolicy, exitCode int32) bool {
	switch policy {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return exitCode != 0
	}
	return true
}

// startWithBackoff restarts an exited (or never-started) container unless
// it is in crash-loop back-off; it returns how long to wait otherwise.
func (w *podWorker) startWithBackoff(ctx context.Context, pod *corev1.Pod, c *corev1.Container, sandboxID string,
	sandboxCfg *runtimeapi.PodSandboxConfig, podIP string, inst []*runtimeapi.Container, init bool) time.Duration {
	a := w.a
	latest := inst[0]
	attempt := restartCountOf(latest) + 1
	if latest.State != runtimeapi.ContainerState_CONTAINER_EXITED {
		// Created but never started (e.g. an agent crash between create and
		// start): remove and start afresh with the same attempt number.
		_ = a.cfg.Runtime.RemoveContainer(ctx, latest.Id)
		attempt = restartCountOf(latest)
	} else {
		st, err := a.cfg.Runtime.ContainerStatus(ctx, latest.Id)
		if err != nil {
			return time.Second
		}
		key := backoffKey(pod, c)
		finished := time.Unix(0, st.FinishedAt)
		if in, delay := a.backoff.inBackoff(key, finished); in {
			msg := fmt.Sprintf("back-off %s restarting failed container=%s pod=%s_%s(%s)", delay, c.Name, pod.Name, pod.Namespace, pod.UID)
			if w.reasons[c.Name].reason != "CrashLoopBackOff" {
				a.recorder.Eventf(pod, corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s in pod %s_%s(%s)", c.Name, pod.Name, pod.Namespace, pod.UID)
			}
			w.reasons[c.Name] = waitReason{"CrashLoopBackOff", msg}
			return time.Until(finished.Add(delay)) + 50*time.Millisecond
		}
		a.backoff.next(key)
		// Keep only the latest dead instance (for logs --previous).
		for _, old := range inst[1:] {
			_ = a.cfg.Runtime.RemoveContainer(ctx, old.Id)
		}
	}
	w.startContainer(ctx, pod, c, sandboxID, sandboxCfg, podIP, attempt, init)
	return time.Second
}

func backoffKey(pod *corev1.Pod, c *corev1.Container) string {
	return string(pod.UID) + "_" + c.Name + "_" + containerHash(c)
}

// startContainer pulls, creates and starts one container, recording the
// kubelet's events and, on failure, the waiting reason.
func (w *podWorker) startContainer(ctx context.Context, pod *corev1.Pod, c *corev1.Container, sandboxID string,
	sandboxCfg *runtimeapi.PodSandboxConfig, podIP string, attempt int, init bool) {
	a := w.a
	var ref string
	var err error
	if ch, ok := w.prepulls[c.Name]; ok {
		delete(w.prepulls, c.Name)
		res := <-ch
		ref, err = res.ref, res.err
	} else {
		ref, err = a.cfg.Images.EnsureImage(ctx, pod, c, sandboxCfg, a.recorder)
	}
	if err != nil {
		var re *reasonError
		if errors.As(err, &re) {
			w.reasons[c.Name] = waitReason{re.reason, re.message}
			a.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %s", re.reason)
		} else {
			w.reasons[c.Name] = waitReason{"ErrImagePull", err.Error()}
			a.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %s", "ErrImagePull")
		}
		return
	}
	cfg, err := a.containerConfig(ctx, pod, c, ref, attempt, podIP, init)
	var mountErr interface{ EventMessage() string }
	if errors.As(err, &mountErr) {
		// As the kubelet: the pod stays ContainerCreating, the event says why.
		w.reasons[c.Name] = waitReason{"ContainerCreating", ""}
		a.recorder.Event(pod, corev1.EventTypeWarning, "FailedMount", mountErr.EventMessage())
		return
	}
	if err != nil {
		w.reasons[c.Name] = waitReason{"CreateContainerConfigError", err.Error()}
		a.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
		return
	}
	cctx, cancel := context.WithTimeout(ctx, criTimeout)
	defer cancel()
	id, err := a.cfg.Runtime.CreateContainer(cctx, sandboxID, cfg, sandboxCfg)
	if err != nil {
		w.reasons[c.Name] = waitReason{"CreateContainerError", err.Error()}
		a.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
		return
	}
	a.recorder.Eventf(pod, corev1.EventTypeNormal, "Created", "Created container: %s", c.Name)
	if err := a.cfg.Runtime.StartContainer(cctx, id); err != nil {
		// The runtime records the failed start as an exited container
		// (StartError); the status shows its message.
		w.reasons[c.Name] = waitReason{"RunContainerError", err.Error()}
		a.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %v", errors.Unwrap(err))
		return
	}
	delete(w.reasons, c.Name)
	a.recorder.Eventf(pod, corev1.EventTypeNormal, "Started", "Started container %s", c.Name)
}

// terminate stops a pod being deleted within its grace period, removes its
// sandbox and then the pod itself from the API.
func (w *podWorker) terminate(ctx context.Context, pod *corev1.Pod) (bool, time.Duration) {
	a := w.a
	grace := int64(0)
	if pod.DeletionGracePeriodSeconds != nil {
		grace = *pod.DeletionGracePeriodSeconds
	}
	// What is left of the grace period, never less than 2 s for the stop signal.
	remaining := time.Until(pod.DeletionTimestamp.Time)
	if g := time.Duration(grace) * time.Second; remaining > g {
		remaining = g
	}
	if remaining < 2*time.Second && grace > 0 {
		remaining = 2 * time.Second
	}
	rt, err := a.runtimeOf(ctx, string(pod.UID))
	if err != nil {
		return false, time.Second
	}
	if err := a.killPod(ctx, pod, rt, remaining); err != nil {
		a.log.Warn("stopping pod", "pod", podKey(pod), "err", err)
		return false, time.Second
	}
	if rt2, err := a.runtimeOf(ctx, string(pod.UID)); err == nil {
		a.updateStatus(ctx, pod, rt2, nil, w.reasons)
	}
	if err := a.cleanupRuntime(ctx, string(pod.UID), 0); err != nil {
		return false, time.Second
	}
	a.removePodFiles(pod.Namespace, pod.Name, pod.UID)
	err = a.cfg.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0), Preconditions: &metav1.Preconditions{UID: &pod.UID}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		a.log.Warn("deleting pod", "pod", podKey(pod), "err", err)
		return false, time.Second
	}
	a.backoff.forget(string(pod.UID))
	return true, 0
}

// killPod stops every running container (each with the stop signal and
// the given grace, in parallel) and then the sandbox.
func (a *Agent) killPod(ctx context.Context, pod *corev1.Pod, rt *podRuntime, grace time.Duration) error {
	errc := make(chan error, len(rt.containers))
	n := 0
	for _, c := range rt.containers {
		if c.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
			continue
		}
		n++
		go func(c *runtimeapi.Container) {
			if pod != nil {
				a.recorder.Eventf(pod, corev1.EventTypeNormal, "Killing", "Stopping container %s", c.GetLabels()[labelContainerName])
			}
			cctx, cancel := context.WithTimeout(ctx, grace+criTimeout)
			defer cancel()
			errc <- a.cfg.Runtime.StopContainer(cctx, c.Id, grace)
		}(c)
	}
	var first error
	for i := 0; i < n; i++ {
		if err := <-errc; err != nil && first == nil && !errors.Is(err, cri.ErrNotFound) {
			first = err
		}
	}
	if first != nil {
		return first
	}
	for _, sb := range rt.sandboxes {
		if sb.State == runtimeapi.PodSandboxState_SANDBOX_READY {
			if err := a.cfg.Runtime.StopPodSandbox(ctx, sb.Id); err != nil {
				return err
			}
		}
	}
	return nil
}

// cleanupRuntime stops and removes everything the runtime holds for uid.
func (a *Agent) cleanupRuntime(ctx context.Context, uid string, grace time.Duration) error {
	rt, err := a.runtimeOf(ctx, uid)
	if err != nil {
		return err
	}
	if err := a.killPod(ctx, nil, rt, grace); err != nil {
		return err
	}
	for _, c := range rt.containers {
		if err := a.cfg.Runtime.RemoveContainer(ctx, c.Id); err != nil {
			return err
		}
	}
	for _, sb := range rt.sandboxes {
		if err := a.cfg.Runtime.RemovePodSandbox(ctx, sb.Id); err != nil {
			return err
		}
	}
	return nil
}

// removePodCgroups removes the pod's cgroup parent in every hierarchy, as
// the kubelet does: containerd creates it for the sandbox but never
// removes it. Only empty cgroups can be removed, so this is safe.
func removePodCgroups(uid types.UID) {
	dirs, _ := filepath.Glob("/sys/fs/cgroup/*/berth/pod" + string(uid))
	if d := "/sys/fs/cgroup/berth/pod" + string(uid); dirExists(d) {
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		_ = os.Remove(d)
	}
}

func dirExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// removePodFiles removes what the agent kept on the host for a pod whose
// containers are gone: volumes, its directory (logs included) and cgroups.
func (a *Agent) removePodFiles(namespace, name string, uid types.UID) {
	dir := a.podDirOf(namespace, name, uid)
	if a.volumes != nil {
		if err := a.volumes.Cleanup(dir); err != nil {
			a.log.Warn("removing a deleted pod's volumes", "pod", namespace+"/"+name, "err", err)
		}
	}
	_ = os.RemoveAll(dir)
	removePodCgroups(uid)
}
