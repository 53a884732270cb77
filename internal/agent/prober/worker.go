package prober

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// probeKind is a probe's type; its String is what events say.
type probeKind int8

const (
	liveness probeKind = iota
	readiness
	startup
)

func (k probeKind) String() string {
	switch k {
	case liveness:
		return "Liveness"
	case readiness:
		return "Readiness"
	case startup:
		return "Startup"
	}
	return "UNKNOWN"
}

// of returns the container's probe of this kind, or nil.
func (k probeKind) of(c *corev1.Container) *corev1.Probe {
	switch k {
	case liveness:
		return c.LivenessProbe
	case readiness:
		return c.ReadinessProbe
	case startup:
		return c.StartupProbe
	}
	return nil
}

// result is a container instance's probe state.
type result int8

const (
	resultUnknown result = iota
	resultSuccess
	resultFailure
)

// workerKey names one worker: one probe of one container instance.
type workerKey struct {
	pod         types.UID
	container   string
	kind        probeKind
	containerID string // the runtime's ID, without "containerd://"
}

// Probe defaults, as the API server sets them, for specs that skip
// defaulting.
const (
	defaultPeriod           = 10 * time.Second
	defaultTimeout          = 1 * time.Second
	defaultFailureThreshold = 3
	defaultSuccessThreshold = 1
)

// worker probes one container instance periodically. Its goroutine ends
// when its context is cancelled (stop) or when the probe goes on hold (a
// liveness failure, a startup result); the worker itself, and its result,
// stay until Sync sees the instance gone.
type worker struct {
	m             *Manager
	key           workerKey
	container     *corev1.Container
	spec          *corev1.Probe
	initContainer bool // a sidecar: events name spec.initContainers{…}
	startedAt     time.Time
	ctx           context.Context
	cancel        context.CancelFunc
	trigger       chan struct{} // probe now (readiness, once started)

	// Guarded by m.mu.
	result  result
	deleted bool // pod deleting: liveness/startup count as passed
	alive   bool // the goroutine runs

	// Owned by the worker goroutine.
	lastResult result
	resultRun  int
}

func (m *Manager) newWorker(k workerKey, c *corev1.Container, init bool, startedAt time.Time) *worker {
	c = c.DeepCopy()
	if startedAt.IsZero() {
		startedAt = m.clock.Now()
	}
	ctx, cancel := context.WithCancel(m.ctx)
	w := &worker{m: m, key: k, container: c, spec: k.kind.of(c), initContainer: init, startedAt: startedAt,
		ctx: ctx, cancel: cancel, trigger: make(chan struct{}, 1)}
	switch k.kind {
	case readiness:
		w.result = resultFailure // not ready until the probe succeeds
	case liveness:
		w.result = resultSuccess // alive until the probe fails
	case startup:
		w.result = resultUnknown
	}
	return w
}

// stop ends the worker's goroutine (and any probe in flight). Call with
// m.mu held.
func (w *worker) stop() { w.cancel() }

// poke asks the worker to probe now (if past its initial delay).
func (w *worker) poke() {
	select {
	case w.trigger <- struct{}{}:
	default:
	}
}

func (w *worker) period() time.Duration {
	if w.spec.PeriodSeconds > 0 {
		return time.Duration(w.spec.PeriodSeconds) * time.Second
	}
	return defaultPeriod
}

func (w *worker) due() time.Time {
	return w.startedAt.Add(time.Duration(w.spec.InitialDelaySeconds) * time.Second)
}

func thresholds(p *corev1.Probe) (success, failure int) {
	success, failure = int(p.SuccessThreshold), int(p.FailureThreshold)
	if success <= 0 {
		success = defaultSuccessThreshold
	}
	if failure <= 0 {
		failure = defaultFailureThreshold
	}
	return success, failure
}

// run probes first initialDelaySeconds after the container started (at
// once for a container that started long ago), then every periodSeconds,
// and when poked.
func (w *worker) run(ctx context.Context) {
	defer w.m.wg.Done()
	defer func() {
		w.m.mu.Lock()
		w.alive = false
		w.m.running--
		w.m.mu.Unlock()
	}()
	next := w.due()
	for {
		now := w.m.clock.Now()
		if wait := next.Sub(now); wait > 0 {
			t := w.m.clock.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C():
			case <-w.trigger:
				t.Stop()
				if now := w.m.clock.Now(); !now.Before(w.due()) {
					next = now
				}
			}
			continue
		}
		if !w.doProbe(ctx) {
			return
		}
		next = now.Add(w.period())
	}
}

// doProbe probes once and records the result, as the kubelet's worker
// does. It returns whether the worker should keep probing.
func (w *worker) doProbe(ctx context.Context) bool {
	m := w.m
	k := w.key
	m.mu.Lock()
	ps := m.pods[k.pod]
	if ctx.Err() != nil || ps == nil || w.deleted {
		m.mu.Unlock()
		return false
	}
	if k.kind != startup && !m.startedLocked(k.pod, k.container, k.containerID, w.container) {
		// Liveness and readiness wait for the startup probe.
		m.mu.Unlock()
		return true
	}
	podIP := ps.podIP
	ref := ps.ref(k.pod, k.container, w.initContainer)
	podDesc := fmt.Sprintf("%s_%s(%s)", ps.name, ps.namespace, k.pod)
	recorder := m.recorder
	m.mu.Unlock()

	out, output, err := m.runProbe(ctx, w.spec, w.container, podIP, k.containerID, podDesc)
	if ctx.Err() != nil {
		return false // stopped while probing: the result is moot
	}
	var r result
	switch {
	case err != nil:
		m.log.Debug("probe errored", "probe", k.kind.String(), "pod", podDesc, "container", k.container, "err", err)
		if recorder != nil {
			recorder.Eventf(ref, corev1.EventTypeWarning, "Unhealthy", "%s probe errored and resulted in %s state: %s", k.kind, out, err)
		}
		m.afterProbe(k)
		return true // a prober error: the result is thrown away
	case out == outcomeSuccess:
		r = resultSuccess
	case out == outcomeWarning:
		if recorder != nil {
			recorder.Eventf(ref, corev1.EventTypeWarning, "ProbeWarning", "%s probe warning: %s", k.kind, output)
		}
		r = resultSuccess
	case out == outcomeFailure:
		m.log.Debug("probe failed", "probe", k.kind.String(), "pod", podDesc, "container", k.container, "output", output)
		if recorder != nil {
			recorder.Eventf(ref, corev1.EventTypeWarning, "Unhealthy", "%s probe failed: %s", k.kind, output)
		}
		r = resultFailure
	default:
		r = resultFailure
	}

	if r == w.lastResult {
		w.resultRun++
	} else {
		w.lastResult, w.resultRun = r, 1
	}
	successThreshold, failureThreshold := thresholds(w.spec)
	if (r == resultFailure && w.resultRun < failureThreshold) || (r == resultSuccess && w.resultRun < successThreshold) {
		m.afterProbe(k)
		return true // below the threshold: the state stays
	}

	m.mu.Lock()
	if ctx.Err() != nil || w.deleted {
		m.mu.Unlock()
		return false
	}
	changed := w.result != r
	w.result = r
	// A failed liveness probe waits for the new instance; a startup probe
	// is done once it has a result either way.
	hold := (k.kind == liveness && r == resultFailure) || k.kind == startup
	if hold {
		w.resultRun = 0
	}
	if k.kind == startup && r == resultSuccess {
		// Readiness need not wait for its next period.
		if rw := m.workers[workerKey{k.pod, k.container, readiness, k.containerID}]; rw != nil {
			rw.poke()
		}
	}
	m.mu.Unlock()
	if changed {
		m.log.Debug("probe result changed", "probe", k.kind.String(), "pod", podDesc, "container", k.container, "success", r == resultSuccess)
		m.notify(k.pod)
	}
	m.afterProbe(k)
	return !hold
}

func (m *Manager) afterProbe(k workerKey) {
	if m.probed != nil {
		m.probed(k)
	}
}

// ref is the object events about a container are recorded on, as the
// kubelet's container reference.
func (ps *podState) ref(uid types.UID, container string, init bool) *corev1.ObjectReference {
	path := "spec.containers{" + container + "}"
	if init {
		path = "spec.initContainers{" + container + "}"
	}
	return &corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: ps.namespace, Name: ps.name,
		UID: uid, ResourceVersion: ps.resourceVersion, FieldPath: path}
}
