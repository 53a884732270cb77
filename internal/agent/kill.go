package agent

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/berth-dev/berth/internal/agent/hooks"
	"github.com/berth-dev/berth/internal/cri"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// minimumGracePeriod is the kubelet's minimumGracePeriodInSeconds: the stop
// signal always gets at least this long before SIGKILL.
const minimumGracePeriod = 2

// killRequest is one container to stop. Every kill the agent makes goes
// through killContainer: API deletion, probe failures, postStart failures,
// changed specs, sandbox replacement, finished pods, force deletion and
// orphans.
type killRequest struct {
	pod  *corev1.Pod // nil for an orphan: spec comes from the annotations
	id   string
	name string
	spec *corev1.Container // nil: restored from the container's annotations
	// message is the Killing event's; "" is "Stopping container <name>".
	message string
	// grace, when set, replaces the pod's grace period (pod termination,
	// probe kills).
	grace *int64
	// ordering, when set, holds the stop signal of sidecars until the
	// containers that depend on them stopped.
	ordering *terminationOrdering
	podIP    string
}

// killContainer stops one container as the kubelet's killContainer does:
// Killing event, the preStop hook bounded by the grace period, then the
// stop signal with what is left of it (never less than 2 s), SIGKILL at
// the deadline. A container that is not running gets no preStop.
func (a *Agent) killContainer(ctx context.Context, k killRequest) error {
	grace := int64(minimumGracePeriod)
	switch {
	case k.grace != nil:
		grace = *k.grace
	case k.pod != nil && k.pod.DeletionGracePeriodSeconds != nil:
		grace = *k.pod.DeletionGracePeriodSeconds
	case k.pod != nil && k.pod.Spec.TerminationGracePeriodSeconds != nil:
		grace = *k.pod.Spec.TerminationGracePeriodSeconds
	}
	if k.pod != nil {
		msg := k.message
		if msg == "" {
			msg = "Stopping container " + k.name
		}
		a.recorder.Event(k.pod, corev1.EventTypeNormal, "Killing", msg)
	}
	if k.spec != nil && k.spec.Lifecycle != nil && k.spec.Lifecycle.PreStop != nil && grace > 0 {
		grace -= a.runPreStop(ctx, k, grace)
	}
	if k.ordering != nil && grace > 0 {
		grace -= k.ordering.waitForTurn(ctx, k.name, grace)
	}
	if grace < minimumGracePeriod {
		grace = minimumGracePeriod
	}
	timeout := time.Duration(grace) * time.Second
	cctx, cancel := context.WithTimeout(ctx, timeout+criTimeout)
	defer cancel()
	err := a.cfg.Runtime.StopContainer(cctx, k.id, timeout)
	if k.ordering != nil {
		k.ordering.terminated(k.name)
	}
	if errors.Is(err, cri.ErrNotFound) {
		return nil
	}
	return err
}

// runPreStop runs the container's preStop hook if it is running and the
// hook did not already run for it (an agent restart during termination
// must not run it twice), waiting at most grace seconds; it returns the
// whole seconds spent, as the kubelet subtracts them.
func (a *Agent) runPreStop(ctx context.Context, k killRequest, grace int64) int64 {
	st, err := a.cfg.Runtime.ContainerStatus(ctx, k.id)
	if err != nil || st.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		return 0
	}
	uid := st.GetLabels()[labelPodUID]
	if a.preStopRan(uid, k.name, k.id) {
		return 0
	}
	pod := k.pod
	if pod == nil {
		pod = &corev1.Pod{}
		pod.UID, pod.Name, pod.Namespace = types.UID(uid), st.GetLabels()[labelPodName], st.GetLabels()[labelPodNamespace]
	}
	start := time.Now()
	hctx, cancel := context.WithTimeout(ctx, time.Duration(grace)*time.Second)
	defer cancel()
	done := make(chan hooks.Result, 1)
	go func() {
		done <- a.hooks.Run(hctx, hooks.Request{Kind: hooks.PreStop, Pod: pod, Container: k.spec, ContainerID: k.id,
			PodIP: k.podIP, Handler: k.spec.Lifecycle.PreStop, Redact: a.secretsOf(pod.UID, k.name)})
	}()
	select {
	case res := <-done:
		if res.Err != nil && k.pod != nil {
			a.recorder.Event(k.pod, corev1.EventTypeWarning, "FailedPreStopHook", hookEventMessage("PreStopHook failed", res))
		}
		if res.FallbackHost != "" && k.pod != nil {
			a.recorder.Eventf(k.pod, corev1.EventTypeWarning, "LifecycleHTTPFallback",
				"request to HTTPS lifecycle hook %s got HTTP response, retry with HTTP succeeded", res.FallbackHost)
		}
	case <-hctx.Done():
		a.log.Info("PreStop hook not completed in grace period", "pod", pod.Namespace+"/"+pod.Name, "container", k.name, "gracePeriod", grace)
	}
	return int64(time.Since(start).Seconds())
}

// hookEventMessage is Kubernetes' fixed event text followed by berth's
// short account of what the hook did (Kubernetes logs it only).
func hookEventMessage(fixed string, res hooks.Result) string {
	if res.Summary == "" {
		return fixed
	}
	return fixed + ": " + res.Summary
}

func (a *Agent) preStopRan(uid, container, id string) bool {
	if a.hooksDir == "" {
		return false
	}
	recs, err := hooks.Load(a.hooksDir, types.UID(uid), container)
	if err != nil {
		return false
	}
	for _, r := range recs {
		if string(r.Kind) == string(hooks.PreStop) && r.ContainerID == id {
			return true
		}
	}
	return false
}

// killPod stops every running container of the pod at once — regular
// containers first, sidecars after them in reverse order — and then its
// sandboxes. pod may be nil (an orphan or a force-deleted pod): each
// container's grace period and preStop hook then come from its
// annotations, as the kubelet restores them. grace overrides the grace
// period (pod termination).
func (a *Agent) killPod(ctx context.Context, pod *corev1.Pod, rt *podRuntime, grace *int64) error {
	var running []*runtimeapi.Container
	for _, c := range rt.containers {
		if c.State == runtimeapi.ContainerState_CONTAINER_RUNNING {
			running = append(running, c)
		}
	}
	podIP := ""
	if pod != nil {
		podIP = pod.Status.PodIP
	}
	ordering := newTerminationOrdering(pod, running)
	errc := make(chan error, len(running))
	for _, c := range running {
		k := killRequest{pod: pod, id: c.Id, name: c.GetLabels()[labelContainerName], grace: grace, ordering: ordering, podIP: podIP}
		if pod != nil {
			k.spec = specOf(pod, k.name)
		}
		if k.spec == nil {
			var tgps *int64
			k.spec, tgps = restoreSpec(c)
			if k.grace == nil && (pod == nil || pod.Spec.TerminationGracePeriodSeconds == nil) {
				k.grace = tgps
			}
		}
		go func() { errc <- a.killContainer(ctx, k) }()
	}
	var first error
	for range running {
		if err := <-errc; err != nil && first == nil {
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

func specOf(pod *corev1.Pod, name string) *corev1.Container {
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
	return nil
}

// killAnnotations keep what a kill needs on the container itself, so a
// pod that is gone from the API (force deletion, an agent restart) still
// gets its preStop hook and grace period, as the kubelet's annotations.
func killAnnotations(pod *corev1.Pod, c *corev1.Container) map[string]string {
	m := map[string]string{}
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		m[annoPodTerminationGracePeriod] = strconv.FormatInt(*g, 10)
	}
	if c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
		if b, err := json.Marshal(c.Lifecycle.PreStop); err == nil {
			m[annoPreStopHandler] = string(b)
		}
	}
	return m
}

// restoreSpec rebuilds the parts of a container's spec a kill needs from
// its annotations.
func restoreSpec(c *runtimeapi.Container) (*corev1.Container, *int64) {
	anno := c.GetAnnotations()
	spec := &corev1.Container{Name: c.GetLabels()[labelContainerName]}
	if h := anno[annoPreStopHandler]; h != "" {
		var pre corev1.LifecycleHandler
		if json.Unmarshal([]byte(h), &pre) == nil {
			spec.Lifecycle = &corev1.Lifecycle{PreStop: &pre}
		}
	}
	if g, err := strconv.ParseInt(anno[annoPodTerminationGracePeriod], 10, 64); err == nil {
		return spec, &g
	}
	return spec, nil
}

// terminationOrdering is the kubelet's: regular containers get their stop
// signal at once; a sidecar waits until every regular container and every
// sidecar started after it stopped.
type terminationOrdering struct {
	mu      sync.Mutex
	done    map[string]chan struct{}
	waitFor map[string][]string
}

func newTerminationOrdering(pod *corev1.Pod, running []*runtimeapi.Container) *terminationOrdering {
	if pod == nil {
		return nil
	}
	o := &terminationOrdering{done: map[string]chan struct{}{}, waitFor: map[string][]string{}}
	isRunning := map[string]bool{}
	for _, c := range running {
		n := c.GetLabels()[labelContainerName]
		isRunning[n] = true
		o.done[n] = make(chan struct{})
	}
	var regular []string
	for _, c := range pod.Spec.Containers {
		if isRunning[c.Name] {
			regular = append(regular, c.Name)
		}
	}
	var later []string // running sidecars after this one, in spec order
	for i := len(pod.Spec.InitContainers) - 1; i >= 0; i-- {
		c := &pod.Spec.InitContainers[i]
		if !isRestartable(c) || !isRunning[c.Name] {
			continue
		}
		o.waitFor[c.Name] = append(append([]string{}, regular...), later...)
		later = append(later, c.Name)
	}
	return o
}

// waitForTurn blocks until name may get its stop signal, at most grace
// seconds; it returns the whole seconds waited.
func (o *terminationOrdering) waitForTurn(ctx context.Context, name string, grace int64) int64 {
	start := time.Now()
	deadline := time.NewTimer(time.Duration(grace) * time.Second)
	defer deadline.Stop()
	for _, dep := range o.waitFor[name] {
		o.mu.Lock()
		ch := o.done[dep]
		o.mu.Unlock()
		if ch == nil {
			continue
		}
		select {
		case <-ch:
		case <-deadline.C:
			return int64(time.Since(start).Seconds())
		case <-ctx.Done():
			return int64(time.Since(start).Seconds())
		}
	}
	return int64(time.Since(start).Seconds())
}

func (o *terminationOrdering) terminated(name string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if ch, ok := o.done[name]; ok {
		close(ch)
		delete(o.done, name)
	}
}

// podGracePeriod is the kubelet's calculateEffectiveGracePeriod for a pod
// being deleted: deletionGracePeriodSeconds, or when that is 0 (a force
// deletion) the pod's terminationGracePeriodSeconds; at least 1.
func podGracePeriod(pod *corev1.Pod) int64 {
	var g int64
	if pod.DeletionGracePeriodSeconds != nil {
		g = *pod.DeletionGracePeriodSeconds
	}
	if g == 0 && pod.Spec.TerminationGracePeriodSeconds != nil {
		g = *pod.Spec.TerminationGracePeriodSeconds
	}
	if g < 1 {
		g = 1
	}
	return g
}

// rememberSecrets keeps the secret-sourced values of a container's
// environment, so that what its hooks print is masked in events and
// records (in memory only: after an agent restart hooks go unmasked until
// the container starts again).
func (a *Agent) rememberSecrets(uid types.UID, container string, values []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.secrets == nil {
		a.secrets = map[types.UID]map[string][]string{}
	}
	if a.secrets[uid] == nil {
		a.secrets[uid] = map[string][]string{}
	}
	a.secrets[uid][container] = values
}

func (a *Agent) secretsOf(uid types.UID, container string) []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.secrets[uid][container]
}
