package agent

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/agent/envvars"
	"github.com/berth-dev/berth/internal/agent/hooks"
	"github.com/berth-dev/berth/internal/agent/prober"
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

// podRuntime is what the runtime holds for one pod, read once per sync.
type podRuntime struct {
	sandboxes  []*runtimeapi.PodSandbox // newest first
	containers []*runtimeapi.Container  // newest first
	// status holds, by ID, the status of each container's newest exited
	// instance in the ready sandbox (exit codes for the plan); probeKills
	// the running instances whose liveness or startup probe failed.
	status     map[string]*runtimeapi.ContainerStatus
	probeKills map[string]prober.KillDecision
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

// observe completes rt with what the plan needs besides the listing: the
// exit codes of the newest exited instances and the probes' verdicts.
func (a *Agent) observe(ctx context.Context, pod *corev1.Pod, rt *podRuntime) error {
	rt.status, rt.probeKills = map[string]*runtimeapi.ContainerStatus{}, map[string]prober.KillDecision{}
	sb := rt.readySandbox()
	if sb == nil {
		return nil
	}
	seen := map[string]bool{}
	for _, c := range rt.containers {
		name := c.GetLabels()[labelContainerName]
		if c.PodSandboxId != sb.Id || seen[name] {
			continue
		}
		seen[name] = true
		switch c.State {
		case runtimeapi.ContainerState_CONTAINER_EXITED:
			st, err := a.cfg.Runtime.ContainerStatus(ctx, c.Id)
			if err != nil {
				return err
			}
			rt.status[c.Id] = st
		case runtimeapi.ContainerState_CONTAINER_RUNNING:
			if spec := specOf(pod, name); spec != nil {
				if d, kill := a.probes.ShouldKill(pod, spec, c.Id); kill {
					rt.probeKills[c.Id] = d
				}
			}
		}
	}
	return nil
}

func (a *Agent) runtimeOf(ctx context.Context, uid string) (*podRuntime, error) {
	sel := map[string]string{labelPodUID: uid}
	// The two listings do not depend on each other: ask both at once.
	var sbs []*runtimeapi.PodSandbox
	var sbErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		sbs, sbErr = a.cfg.Runtime.ListPodSandbox(ctx, &runtimeapi.PodSandboxFilter{LabelSelector: sel})
	}()
	cs, err := a.containersOf(ctx, uid)
	<-done
	if sbErr != nil {
		return nil, sbErr
	}
	if err != nil {
		return nil, err
	}
	sort.Slice(sbs, func(i, j int) bool { return sbs[i].CreatedAt > sbs[j].CreatedAt })
	return &podRuntime{sandboxes: sbs, containers: cs}, nil
}

// containersOf lists a pod's containers, newest first (by attempt, then
// creation).
func (a *Agent) containersOf(ctx context.Context, uid string) ([]*runtimeapi.Container, error) {
	cs, err := a.cfg.Runtime.ListContainers(ctx, &runtimeapi.ContainerFilter{LabelSelector: map[string]string{labelPodUID: uid}})
	if err != nil {
		return nil, err
	}
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].Metadata.GetAttempt() != cs[j].Metadata.GetAttempt() {
			return cs[i].Metadata.GetAttempt() > cs[j].Metadata.GetAttempt()
		}
		return cs[i].CreatedAt > cs[j].CreatedAt
	})
	return cs, nil
}

// sync brings one pod to its desired state. finished means the pod is
// gone and the worker can end; requeue asks for another sync that soon.
func (w *podWorker) sync(ctx context.Context) (finished bool, requeue time.Duration) {
	a := w.a
	pod, err := a.pods.Pods(w.namespace).Get(w.name)
	if apierrors.IsNotFound(err) || (err == nil && pod.UID != w.uid) {
		// Gone from the API (force deletion, or replaced by a pod of the
		// same name): stop what runs as the kubelet does — the pod's own
		// grace period and preStop hooks, from the last spec seen or the
		// containers' annotations — and clean up.
		w.mu.Lock()
		last := w.lastPod
		w.mu.Unlock()
		if err := a.stopRemovedPod(ctx, string(w.uid), last); err != nil {
			a.log.Warn("cleaning up a removed pod", "pod", w.namespace+"/"+w.name, "err", err)
			return false, 2 * time.Second
		}
		a.removePodFiles(w.namespace, w.name, w.uid)
		a.forgetPod(w.uid)
		return true, 0
	}
	if err != nil {
		return false, time.Second
	}
	pod = pod.DeepCopy()
	w.mu.Lock()
	w.lastPod = pod
	w.mu.Unlock()
	if pod.DeletionTimestamp != nil {
		return w.terminate(ctx, pod)
	}
	var rt *podRuntime
	if !w.synced && newSince(pod, a.runSince) {
		// A pod created after this agent started, on its first sync: the
		// runtime holds nothing of it (only this worker would have put it
		// there), so the listing is skipped.
		rt = &podRuntime{}
	} else if rt, err = a.runtimeOf(ctx, string(pod.UID)); err != nil {
		a.log.Warn("reading the runtime", "pod", podKey(pod), "err", err)
		return false, 2 * time.Second
	}
	w.synced = true
	if !isTerminal(pod) && !w.admitNew(ctx, pod, rt) {
		return false, resyncInterval // rejected: Failed
	}
	if msg, evicted := w.evictionPending(); msg != "" && !isTerminal(pod) {
		w.evict(ctx, pod, rt, msg)
		return false, resyncInterval
	} else if evicted && !isTerminal(pod) {
		return false, time.Second // the Failed status is on its way
	}
	if isTerminal(pod) {
		// Finished pods keep no sandbox running.
		if sb := rt.readySandbox(); sb != nil {
			_ = a.killPod(ctx, pod, rt, nil)
		}
		return false, resyncInterval
	}
	if w.enforceActiveDeadline(ctx, pod, rt) {
		return false, resyncInterval
	}
	if a.volumes != nil {
		a.volumes.Track(pod, a.podDir(pod))
	}
	requeue = w.syncPod(ctx, pod, rt)
	return false, requeueForDeadline(pod, requeue)
}

// newSince reports whether pod was created after since, by more than the
// one-second resolution of API timestamps and some clock skew, and has no
// status from a node.
func newSince(pod *corev1.Pod, since time.Time) bool {
	return !since.IsZero() && pod.CreationTimestamp.Time.After(since.Add(2*time.Second)) &&
		len(pod.Status.ContainerStatuses) == 0 && len(pod.Status.InitContainerStatuses) == 0 &&
		(pod.Status.Phase == "" || pod.Status.Phase == corev1.PodPending)
}

// forgetPod drops what the agent kept in memory and on disk for a pod that
// is gone.
func (a *Agent) forgetPod(uid types.UID) {
	a.backoff.forget(string(uid))
	a.probes.Remove(uid)
	a.hooks.Forget(uid)
	a.records.do(func() {
		if err := envvars.RemoveRecords(a.cfg.DataDir, string(uid)); err != nil {
			a.log.Warn("removing a deleted pod's env records", "pod", string(uid), "err", err)
		}
	})
	a.mu.Lock()
	delete(a.secrets, uid)
	a.mu.Unlock()
	if f, ok := a.cfg.Images.(interface{ ForgetPod(types.UID) }); ok {
		f.ForgetPod(uid)
	}
}

// stopRemovedPod stops and removes what the runtime holds for a pod the API
// no longer has. last is the pod's last spec, if this agent saw it.
func (a *Agent) stopRemovedPod(ctx context.Context, uid string, last *corev1.Pod) error {
	rt, err := a.runtimeOf(ctx, uid)
	if err != nil {
		return err
	}
	var grace *int64
	if last != nil {
		last = last.DeepCopy()
		g := podGracePeriod(last)
		grace = &g
	}
	if err := a.killPod(ctx, last, rt, grace); err != nil {
		return err
	}
	return a.cleanupRuntime(ctx, uid)
}

func isTerminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

func podKey(pod *corev1.Pod) string { return pod.Namespace + "/" + pod.Name }

// syncPod carries out the plan of a running pod (planPod), then writes the
// status: sandbox, kills, starts, in that order.
func (w *podWorker) syncPod(ctx context.Context, pod *corev1.Pod, rt *podRuntime) time.Duration {
	a := w.a
	requeue := resyncInterval
	w.made = w.made[:0]
	if err := a.observe(ctx, pod, rt); err != nil {
		return 2 * time.Second
	}
	acts := planPod(pod, rt)
	fresh := acts.createSandbox
	sandboxCfg, cfgErr := a.sandboxConfig(pod, acts.attempt)
	if acts.killPod {
		if err := a.killPod(ctx, pod, rt, nil); err != nil {
			a.log.Warn("stopping a pod's old sandbox", "pod", podKey(pod), "err", err)
			return 2 * time.Second
		}
		if !acts.createSandbox {
			if rt2, err := a.runtimeOf(ctx, string(pod.UID)); err == nil {
				rt = rt2
			}
			a.updateStatus(ctx, pod, rt, nil, w.reasons)
			return resyncInterval
		}
	}
	if acts.createSandbox {
		if cfgErr != nil {
			a.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", cfgErr)
			a.updateStatus(ctx, pod, rt, nil, w.reasons)
			return 10 * time.Second
		}
		id, d := w.createSandbox(ctx, pod, sandboxCfg)
		if d > 0 {
			a.updateStatus(ctx, pod, rt, nil, w.reasons)
			return d
		}
		// Plan again against the new sandbox, which is ready and empty:
		// what the runtime would list, without asking it again.
		rt = withNewSandbox(rt, id, sandboxCfg)
		if acts = planPod(pod, rt); acts.sandboxID == "" {
			return time.Second
		}
	}
	if cfgErr != nil {
		a.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", cfgErr)
		a.updateStatus(ctx, pod, rt, nil, w.reasons)
		return 10 * time.Second
	}
	sbStatus, err := a.cfg.Runtime.PodSandboxStatus(ctx, acts.sandboxID)
	if err != nil {
		return 2 * time.Second
	}
	if acts.createSandbox || len(acts.start) > 0 {
		a.log.Debug("pod sandbox status", "pod", podKey(pod), "sinceSync", time.Since(w.syncBegan))
	}
	podIP := sbStatus.GetNetwork().GetIp()
	if pod.Spec.HostNetwork {
		podIP = a.nodeIP
	}
	for _, k := range acts.kill {
		err := a.killContainer(ctx, killRequest{pod: pod, id: k.id, name: k.spec.Name, spec: k.spec, message: k.message, grace: k.grace, podIP: podIP})
		if err != nil {
			a.log.Warn("stopping a container", "pod", podKey(pod), "container", k.spec.Name, "err", err)
			return time.Second
		}
		requeue = 100 * time.Millisecond
	}
	if d := w.startEphemeral(ctx, pod, rt, acts.sandboxID, sandboxCfg, podIP); d > 0 && d < requeue {
		requeue = d
	}
	for _, st := range acts.start {
		if ctx.Err() != nil {
			return time.Second
		}
		var d time.Duration
		if len(st.instances) == 0 {
			w.startContainer(ctx, pod, st.spec, acts.sandboxID, sandboxCfg, podIP, rt.nextAttempt(st.spec.Name), st.init)
			d = time.Second
			if _, failed := w.reasons[st.spec.Name]; failed && !st.init {
				d = startRetry
			}
		} else {
			d = w.startWithBackoff(ctx, pod, st.spec, acts.sandboxID, sandboxCfg, podIP, st.instances, st.init)
		}
		if d > 0 && d < requeue {
			requeue = d
		}
	}
	if ctx.Err() != nil {
		return time.Second
	}
	// Only containers changed since rt was read: the sandboxes did not.
	// In a sandbox this sync started, they are the ones it created (the
	// status asks the runtime for each one's state), so the runtime is
	// not listed again between StartContainer and the status write.
	if fresh {
		cs := make([]*runtimeapi.Container, 0, len(w.made)+len(rt.containers))
		for i := len(w.made) - 1; i >= 0; i-- {
			cs = append(cs, w.made[i])
		}
		rt = &podRuntime{sandboxes: rt.sandboxes, containers: append(cs, rt.containers...)}
	} else if cs, err := a.containersOf(ctx, string(pod.UID)); err == nil {
		rt = &podRuntime{sandboxes: rt.sandboxes, containers: cs}
	}
	st := time.Now()
	a.updateStatus(ctx, pod, rt, sbStatus, w.reasons)
	if len(acts.start) > 0 {
		a.log.Debug("pod status written", "pod", podKey(pod), "status", time.Since(st), "sinceSync", time.Since(w.syncBegan))
	}
	return requeue
}

// withNewSandbox is rt after RunPodSandbox returned id: the new sandbox,
// ready and newest, with no container in it; the older sandboxes and
// containers are kept for nextAttempt.
func withNewSandbox(rt *podRuntime, id string, cfg *runtimeapi.PodSandboxConfig) *podRuntime {
	sb := &runtimeapi.PodSandbox{Id: id, Metadata: cfg.GetMetadata(), State: runtimeapi.PodSandboxState_SANDBOX_READY,
		CreatedAt: time.Now().UnixNano(), Labels: cfg.GetLabels(), Annotations: cfg.GetAnnotations()}
	return &podRuntime{sandboxes: append([]*runtimeapi.PodSandbox{sb}, rt.sandboxes...), containers: rt.containers,
		status: map[string]*runtimeapi.ContainerStatus{}, probeKills: map[string]prober.KillDecision{}}
}

// createSandbox starts the pod's sandbox, pulling the first containers'
// images and setting up the pod's volumes meanwhile; it returns the
// sandbox's ID, or how soon to retry when that failed.
func (w *podWorker) createSandbox(ctx context.Context, pod *corev1.Pod, sandboxCfg *runtimeapi.PodSandboxConfig) (string, time.Duration) {
	a := w.a
	// Pull the first containers' images while the sandbox starts: the two
	// do not depend on each other, and a pull is often the longest step.
	// Events and results are the same as pulling afterwards.
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
		pctx := w.pullCtx
		go func() {
			ref, err := a.cfg.Images.EnsureImage(pctx, own, c, sandboxCfg, a.recorder)
			ch <- prepullResult{ref, err}
		}()
	}
	// The kubelet sets up volumes before the sandbox; they do not depend
	// on it either. A failure is reported when the container asks again.
	var vols sync.WaitGroup
	if vp, ok := a.volumes.(volumePreparer); ok && len(own.Spec.Volumes) > 0 {
		vols.Add(1)
		go func() {
			defer vols.Done()
			if err := vp.Prepare(ctx, own, a.podDir(own)); err != nil {
				a.log.Debug("setting up volumes with the sandbox", "pod", podKey(own), "err", err)
			}
		}()
	}
	cctx, cancel := context.WithTimeout(ctx, criTimeout)
	began := time.Now()
	id, err := a.cfg.Runtime.RunPodSandbox(cctx, sandboxCfg, "")
	cancel()
	ran := time.Now()
	vols.Wait()
	a.log.Debug("pod sandbox started", "pod", podKey(pod), "syncToRunPodSandbox", began.Sub(w.syncBegan),
		"runPodSandbox", ran.Sub(began), "volumesAfter", time.Since(ran))
	if err != nil {
		if ctx.Err() == nil {
			a.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", err)
		}
		return "", 5 * time.Second
	}
	return id, 0
}

// volumePreparer sets up a pod's volumes ahead of its containers
// (volumes.Manager).
type volumePreparer interface {
	Prepare(ctx context.Context, pod *corev1.Pod, podDir string) error
}

// startRetry is how soon a container whose start failed (a pull error,
// a config error) is tried again; the image back-off decides whether
// that try pulls or reports ImagePullBackOff.
const startRetry = 2 * time.Second

// startWithBackoff restarts an exited (or never-started) container unless
// it is in crash-loop back-off; it returns how long to wait otherwise.
func (w *podWorker) startWithBackoff(ctx context.Context, pod *corev1.Pod, c *corev1.Container, sandboxID string,
	sandboxCfg *runtimeapi.PodSandboxConfig, podIP string, inst []*runtimeapi.Container, init bool) time.Duration {
	a := w.a
	latest, err := a.cfg.Runtime.ContainerStatus(ctx, inst[0].Id) // fresh: a kill may just have stopped it
	if err != nil {
		return time.Second
	}
	attempt := restartCountOf(inst[0]) + 1
	if latest.State != runtimeapi.ContainerState_CONTAINER_EXITED {
		// Created but never started (e.g. an agent crash between create and
		// start): remove and start afresh with the same attempt number.
		_ = a.removeContainer(ctx, latest.Id)
		attempt = restartCountOf(inst[0])
	} else {
		key := backoffKey(pod, c)
		finished := time.Unix(0, latest.FinishedAt)
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
			_ = a.removeContainer(ctx, old.Id) // its log too
		}
	}
	w.startContainer(ctx, pod, c, sandboxID, sandboxCfg, podIP, attempt, init)
	return time.Second
}

func backoffKey(pod *corev1.Pod, c *corev1.Container) string {
	return string(pod.UID) + "_" + c.Name + "_" + containerHash(c)
}

// startContainer pulls, creates and starts one container and runs its
// postStart hook, recording the kubelet's events and, on failure, the
// waiting reason.
func (w *podWorker) startContainer(ctx context.Context, pod *corev1.Pod, c *corev1.Container, sandboxID string,
	sandboxCfg *runtimeapi.PodSandboxConfig, podIP string, attempt int, init bool) {
	a := w.a
	var ref string
	var err error
	t0 := time.Now()
	if ch, ok := w.prepulls[c.Name]; ok {
		select {
		case res := <-ch:
			delete(w.prepulls, c.Name)
			ref, err = res.ref, res.err
		case <-ctx.Done():
			return // the pull goes on; the next sync takes its result
		}
	} else {
		ref, err = a.cfg.Images.EnsureImage(ctx, pod, c, sandboxCfg, a.recorder)
	}
	if ctx.Err() != nil {
		return
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
	t1 := time.Now()
	cfg, err := a.containerConfig(ctx, pod, c, ref, attempt, podIP, init)
	t2 := time.Now()
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
	// Creating and starting are not cancelled by a deletion that arrives
	// meanwhile (the kill then stops the container): a start cut short
	// leaves a StartError ("context canceled") as the container's last
	// state, which a kubelet never reports.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), criTimeout)
	defer cancel()
	id, err := a.cfg.Runtime.CreateContainer(cctx, sandboxID, cfg, sandboxCfg)
	if err != nil {
		w.reasons[c.Name] = waitReason{"CreateContainerError", err.Error()}
		a.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
		return
	}
	w.made = append(w.made, &runtimeapi.Container{Id: id, PodSandboxId: sandboxID, Metadata: cfg.Metadata, Image: cfg.Image,
		ImageRef: ref, State: runtimeapi.ContainerState_CONTAINER_CREATED, CreatedAt: time.Now().UnixNano(),
		Labels: cfg.Labels, Annotations: cfg.Annotations})
	a.recorder.Eventf(pod, corev1.EventTypeNormal, "Created", "Created container: %s", c.Name)
	t3 := time.Now()
	err = a.cfg.Runtime.StartContainer(cctx, id)
	// Where a start's time went, for --log-level debug.
	a.log.Debug("container started", "pod", podKey(pod), "container", c.Name, "imageWait", t1.Sub(t0),
		"config", t2.Sub(t1), "create", t3.Sub(t2), "start", time.Since(t3))
	if err != nil {
		// The runtime records the failed start as an exited container
		// (StartError); the status shows its message.
		w.reasons[c.Name] = waitReason{"RunContainerError", err.Error()}
		a.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %v", cri.Message(err))
		return
	}
	delete(w.reasons, c.Name)
	a.recorder.Eventf(pod, corev1.EventTypeNormal, "Started", "Started container %s", c.Name)
	if c.Lifecycle != nil && c.Lifecycle.PostStart != nil {
		w.postStart(ctx, pod, c, id, podIP)
	}
}

// postStart runs the container's postStart hook. The worker waits for it,
// so the container is not reported Running before it returns; deleting
// the pod cancels it. A failed hook kills the container (its preStop
// runs); the restart policy and back-off then decide.
func (w *podWorker) postStart(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id, podIP string) {
	a := w.a
	res := a.hooks.Run(ctx, hooks.Request{Kind: hooks.PostStart, Pod: pod, Container: c, ContainerID: id, PodIP: podIP,
		Handler: c.Lifecycle.PostStart, Redact: a.secretsOf(pod.UID, c.Name)})
	if res.FallbackHost != "" {
		a.recorder.Eventf(pod, corev1.EventTypeWarning, "LifecycleHTTPFallback",
			"request to HTTPS lifecycle hook %s got HTTP response, retry with HTTP succeeded", res.FallbackHost)
	}
	if res.Err == nil || ctx.Err() != nil {
		return // cancelled: termination stops the container
	}
	a.recorder.Event(pod, corev1.EventTypeWarning, "FailedPostStartHook", hookEventMessage("PostStartHook failed", res))
	if err := a.killContainer(ctx, killRequest{pod: pod, id: id, name: c.Name, spec: c, message: "FailedPostStartHook", podIP: podIP}); err != nil {
		a.log.Warn("stopping a container whose postStart hook failed", "pod", podKey(pod), "container", c.Name, "err", err)
	}
	w.reasons[c.Name] = waitReason{"PostStartHookError", res.Err.Error()}
}

// terminate stops a pod being deleted within its grace period, writes its
// final status, removes its sandbox and then the pod itself from the API.
func (w *podWorker) terminate(ctx context.Context, pod *corev1.Pod) (bool, time.Duration) {
	a := w.a
	w.terminating()
	grace := podGracePeriod(pod)
	// After an agent restart part of the grace period is spent: no hook or
	// stop outlives the deadline the API server set.
	if pod.DeletionGracePeriodSeconds != nil && *pod.DeletionGracePeriodSeconds > 0 {
		left := int64(math.Ceil(time.Until(pod.DeletionTimestamp.Time).Seconds()))
		if left < 0 {
			left = 0
		}
		if left < grace {
			grace = left
		}
	}
	rt, err := a.runtimeOf(ctx, string(pod.UID))
	if err != nil {
		return false, time.Second
	}
	if err := w.killPodReporting(ctx, pod, rt, &grace); err != nil {
		a.log.Warn("stopping pod", "pod", podKey(pod), "err", err)
		return false, time.Second
	}
	w.writeFinalStatus(ctx, pod)
	if err := a.cleanupRuntime(ctx, string(pod.UID)); err != nil {
		return false, time.Second
	}
	a.removePodFiles(pod.Namespace, pod.Name, pod.UID)
	err = a.cfg.Client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0), Preconditions: &metav1.Preconditions{UID: &pod.UID}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		a.log.Warn("deleting pod", "pod", podKey(pod), "err", err)
		return false, time.Second
	}
	a.forgetPod(pod.UID)
	return true, 0
}

// cleanupRuntime removes everything the runtime holds for uid (a running
// container left is killed at once: stop it first with killPod).
func (a *Agent) cleanupRuntime(ctx context.Context, uid string) error {
	rt, err := a.runtimeOf(ctx, uid)
	if err != nil {
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
