// Package prober runs containers' startup, liveness and readiness probes
// the way the kubelet does (pkg/kubelet/prober), and keeps their results
// per container instance for the node agent.
//
// The agent calls Sync after every pod sync with the status it computed.
// Sync starts one worker goroutine per (pod, container, probe type,
// container ID) for each running container that has that probe, and stops
// the workers of instances that are gone (restarted, exited, pod finished).
// A restart therefore starts from scratch: readiness false, startup not
// passed, liveness healthy.
//
// Each worker waits initialDelaySeconds from the container's start, then
// probes every periodSeconds with timeoutSeconds. A result changes only
// after successThreshold successes or failureThreshold failures in a row.
// Liveness and readiness probes wait until the startup probe has
// succeeded. A liveness failure (or a startup failure) puts the worker on
// hold: the agent kills the container (ShouldKill) and the restarted instance
// gets new workers. Every failed probe records a Warning Unhealthy event,
// as the kubelet does; OnChange tells the agent that a result changed.
package prober

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/berth-dev/berth/internal/cri"
)

// Runtime is the part of the CRI runtime the prober uses; a cri.Runtime
// is one.
type Runtime interface {
	ExecSync(ctx context.Context, containerID string, cmd []string, timeout time.Duration) (cri.ExecResult, error)
}

var _ Runtime = cri.Runtime(nil)

// DefaultKubeletVersion is the version in the probes' User-Agent
// (kube-probe/<major>.<minor>) when Config.KubeletVersion is empty.
const DefaultKubeletVersion = "v1.35.0"

// Config is what a Manager needs. Runtime is required.
type Config struct {
	// Runtime runs exec probes (CRI ExecSync).
	Runtime Runtime
	// Recorder receives the Unhealthy and ProbeWarning events; nil: none
	// (see SetRecorder).
	Recorder record.EventRecorder
	// OnChange is called, from a worker goroutine and without locks held,
	// when a probe result of the pod changes (readiness flips, the startup
	// probe passes or fails, liveness fails). It should wake the pod's
	// worker and must not block.
	OnChange func(pod types.UID)
	// KubeletVersion sets the User-Agent kube-probe/<major>.<minor>
	// (e.g. "v1.35.0-berth"); default DefaultKubeletVersion.
	KubeletVersion string
	// Clock schedules the probes; default the real clock.
	Clock clock.WithTicker
	Log   *slog.Logger
}

// Manager runs the probe workers and keeps their results. Create it with
// New; its methods are safe for concurrent use.
type Manager struct {
	cfg       Config
	clock     clock.WithTicker
	log       *slog.Logger
	userAgent string
	http      *httpProber

	ctx    context.Context // parent of every worker; ends with Run
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	recorder record.EventRecorder
	closed   bool
	pods     map[types.UID]*podState
	workers  map[workerKey]*worker

	// running counts worker goroutines (guarded by mu); probed, when set,
	// is called after each probe is recorded. Both are for tests.
	running int
	probed  func(workerKey)
}

// podState is what the manager keeps of a pod from the last Sync.
type podState struct {
	namespace, name, resourceVersion string
	restartPolicy                    corev1.RestartPolicy
	podIP                            string
	deleting                         bool
	containers                       map[string]*corev1.Container // spec containers and sidecars
	initContainers                   map[string]bool              // names of sidecar (init) containers
}

// New returns a Manager. Workers start with Sync and stop when Run's
// context ends.
func New(cfg Config) (*Manager, error) {
	if cfg.Runtime == nil {
		return nil, fmt.Errorf("prober: Runtime is required")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.KubeletVersion == "" {
		cfg.KubeletVersion = DefaultKubeletVersion
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{
		cfg:       cfg,
		clock:     cfg.Clock,
		log:       cfg.Log,
		userAgent: "kube-probe/" + majorMinor(cfg.KubeletVersion),
		ctx:       ctx,
		cancel:    cancel,
		recorder:  cfg.Recorder,
		pods:      map[types.UID]*podState{},
		workers:   map[workerKey]*worker{},
	}
	m.http = newHTTPProber(m.userAgent)
	return m, nil
}

var versionRE = regexp.MustCompile(`^v?(\d+)\.(\d+)`)

// majorMinor turns "v1.35.0-berth" into "1.35".
func majorMinor(v string) string {
	if g := versionRE.FindStringSubmatch(v); g != nil {
		return g[1] + "." + g[2]
	}
	return majorMinor(DefaultKubeletVersion)
}

// SetRecorder sets the event recorder, for agents that create theirs
// only when they run.
func (m *Manager) SetRecorder(r record.EventRecorder) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recorder = r
}

// Run keeps the workers running until ctx ends, then stops them all and
// waits for them.
func (m *Manager) Run(ctx context.Context) error {
	<-ctx.Done()
	m.mu.Lock()
	m.closed = true
	for k, w := range m.workers {
		w.stop()
		delete(m.workers, k)
	}
	m.pods = map[types.UID]*podState{}
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
	return nil
}

// wanted is one worker Sync wants running.
type wanted struct {
	container *corev1.Container
	startedAt time.Time
}

// Sync reconciles the pod's probe workers with its status: one worker per
// probe of every running container instance (status containerID, state
// running); workers of instances no longer running are stopped and their
// results forgotten. A pod in phase Succeeded or Failed has no workers. A
// pod being deleted keeps only its readiness probes: liveness and startup
// count as passed from then on, as in the kubelet. status.podIP is the
// default host of httpGet and tcpSocket probes and the host of grpc ones.
func (m *Manager) Sync(pod *corev1.Pod, status *corev1.PodStatus) {
	if pod == nil {
		return
	}
	if status == nil {
		status = &pod.Status
	}
	uid := pod.UID
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	ps := newPodState(pod, status)
	m.pods[uid] = ps

	want := map[workerKey]wanted{}
	if status.Phase != corev1.PodSucceeded && status.Phase != corev1.PodFailed {
		add := func(c *corev1.Container, statuses []corev1.ContainerStatus) {
			cs := findStatus(statuses, c.Name)
			if cs == nil || cs.ContainerID == "" || cs.State.Running == nil {
				return
			}
			id := TrimContainerID(cs.ContainerID)
			for _, kind := range []probeKind{startup, liveness, readiness} {
				if kind.of(c) != nil {
					want[workerKey{uid, c.Name, kind, id}] = wanted{c, cs.State.Running.StartedAt.Time}
				}
			}
		}
		for i := range pod.Spec.Containers {
			add(&pod.Spec.Containers[i], status.ContainerStatuses)
		}
		for i := range pod.Spec.InitContainers {
			if c := &pod.Spec.InitContainers[i]; isSidecar(c) {
				add(c, status.InitContainerStatuses)
			}
		}
	}
	changed := false
	for k, w := range m.workers {
		if k.pod != uid {
			continue
		}
		if _, ok := want[k]; !ok {
			w.stop()
			delete(m.workers, k)
		}
	}
	for k, wt := range want {
		w, ok := m.workers[k]
		if !ok {
			w = m.newWorker(k, wt.container, ps.initContainers[k.container], wt.startedAt)
			m.workers[k] = w
			if !ps.deleting || k.kind == readiness {
				m.start(w)
			}
		}
		if ps.deleting && k.kind != readiness && !w.deleted {
			// Graceful termination: stop liveness and startup probing and
			// let them count as passed, so that nothing restarts the
			// container while it stops.
			w.deleted = true
			w.stop()
			if w.result != resultSuccess {
				w.result = resultSuccess
				changed = true
			}
		}
	}
	m.mu.Unlock()
	if changed {
		m.notify(uid)
	}
}

// start starts w's goroutine. Call with m.mu held.
func (m *Manager) start(w *worker) {
	m.wg.Add(1)
	m.running++
	w.alive = true
	go w.run(w.ctx)
}

func newPodState(pod *corev1.Pod, status *corev1.PodStatus) *podState {
	ps := &podState{
		namespace: pod.Namespace, name: pod.Name, resourceVersion: pod.ResourceVersion,
		restartPolicy:  pod.Spec.RestartPolicy,
		podIP:          status.PodIP,
		deleting:       pod.DeletionTimestamp != nil,
		containers:     map[string]*corev1.Container{},
		initContainers: map[string]bool{},
	}
	for i := range pod.Spec.Containers {
		c := pod.Spec.Containers[i].DeepCopy()
		ps.containers[c.Name] = c
	}
	for i := range pod.Spec.InitContainers {
		if c := &pod.Spec.InitContainers[i]; isSidecar(c) {
			ps.containers[c.Name] = c.DeepCopy()
			ps.initContainers[c.Name] = true
		}
	}
	return ps
}

func isSidecar(c *corev1.Container) bool {
	return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
}

func findStatus(statuses []corev1.ContainerStatus, name string) *corev1.ContainerStatus {
	for i := range statuses {
		if statuses[i].Name == name {
			return &statuses[i]
		}
	}
	return nil
}

// TrimContainerID returns the runtime's container ID from a status
// containerID ("containerd://<id>" → "<id>"); a bare ID is returned as is.
func TrimContainerID(id string) string {
	if i := strings.Index(id, "://"); i >= 0 {
		return id[i+3:]
	}
	return id
}

// Remove stops the pod's workers and forgets its results.
func (m *Manager) Remove(pod types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, w := range m.workers {
		if k.pod == pod {
			w.stop()
			delete(m.workers, k)
		}
	}
	delete(m.pods, pod)
}

// Ready reports the readiness of a container instance: true once its
// readiness probe has succeeded successThreshold times in a row after
// initialDelaySeconds (false again after failureThreshold failures), and
// for a container without a readiness probe true once it has started
// (see Started). The answer comes from the spec last given to Sync: for a
// pod Sync has not seen, or an instance it has not yet seen running,
// Ready is false, so the caller decides for containers without probes.
func (m *Manager) Ready(pod types.UID, container, containerID string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	id := TrimContainerID(containerID)
	if w := m.workers[workerKey{pod, container, readiness, id}]; w != nil {
		return w.result == resultSuccess
	}
	c := m.containerLocked(pod, container)
	if c == nil || c.ReadinessProbe != nil {
		return false
	}
	return m.startedLocked(pod, container, id, c)
}

// Started reports whether a container instance has passed its startup
// probe; true for a container without one (once Sync has seen the pod).
func (m *Manager) Started(pod types.UID, container, containerID string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.containerLocked(pod, container)
	if c == nil {
		return false
	}
	return m.startedLocked(pod, container, TrimContainerID(containerID), c)
}

// LivenessFailed reports whether a container instance failed its liveness
// probe failureThreshold times in a row: the agent must kill it (ShouldKill).
func (m *Manager) LivenessFailed(pod types.UID, container, containerID string) bool {
	return m.resultOf(workerKey{pod, container, liveness, TrimContainerID(containerID)}) == resultFailure
}

// StartupFailed reports whether a container instance failed its startup
// probe failureThreshold times in a row: the agent must kill it (ShouldKill).
func (m *Manager) StartupFailed(pod types.UID, container, containerID string) bool {
	return m.resultOf(workerKey{pod, container, startup, TrimContainerID(containerID)}) == resultFailure
}

func (m *Manager) resultOf(k workerKey) result {
	m.mu.Lock()
	defer m.mu.Unlock()
	if w := m.workers[k]; w != nil {
		return w.result
	}
	return resultUnknown
}

func (m *Manager) containerLocked(pod types.UID, name string) *corev1.Container {
	if ps := m.pods[pod]; ps != nil {
		return ps.containers[name]
	}
	return nil
}

func (m *Manager) startedLocked(pod types.UID, name, id string, c *corev1.Container) bool {
	if c.StartupProbe == nil {
		return true
	}
	w := m.workers[workerKey{pod, name, startup, id}]
	return w != nil && w.result == resultSuccess
}

// KillDecision says why and how the kubelet kills a running container
// that failed a probe.
type KillDecision struct {
	// Probe is "liveness" or "startup".
	Probe string
	// Message is the Normal Killing event's message: "Container <name>
	// failed liveness probe, will be restarted" (", will be restarted"
	// only when restartPolicy is not Never).
	Message string
	// GracePeriodSeconds is the kill's grace period: the pod's
	// deletionGracePeriodSeconds if set, else the probe's
	// terminationGracePeriodSeconds, else the pod's
	// terminationGracePeriodSeconds (default 30). The stop signal still
	// gets at least 2 s.
	GracePeriodSeconds int64
}

// ShouldKill reports whether a running container instance must be killed
// because it failed its liveness probe (checked first) or its startup
// probe, and how: the agent records a Normal Killing event with
// d.Message and stops the container with d.GracePeriodSeconds. The
// container then restarts per the pod's restartPolicy, with the usual
// crash-loop back-off, and the new instance gets fresh probes.
func (m *Manager) ShouldKill(pod *corev1.Pod, container *corev1.Container, containerID string) (KillDecision, bool) {
	var probe *corev1.Probe
	var d KillDecision
	switch {
	case m.LivenessFailed(pod.UID, container.Name, containerID):
		probe, d.Probe = container.LivenessProbe, "liveness"
	case m.StartupFailed(pod.UID, container.Name, containerID):
		probe, d.Probe = container.StartupProbe, "startup"
	default:
		return KillDecision{}, false
	}
	d.Message = fmt.Sprintf("Container %s failed %s probe", container.Name, d.Probe)
	if pod.Spec.RestartPolicy != corev1.RestartPolicyNever {
		d.Message += ", will be restarted"
	}
	d.GracePeriodSeconds = 30
	switch {
	case pod.DeletionGracePeriodSeconds != nil:
		d.GracePeriodSeconds = *pod.DeletionGracePeriodSeconds
	case probe != nil && probe.TerminationGracePeriodSeconds != nil:
		d.GracePeriodSeconds = *probe.TerminationGracePeriodSeconds
	case pod.Spec.TerminationGracePeriodSeconds != nil:
		d.GracePeriodSeconds = *pod.Spec.TerminationGracePeriodSeconds
	}
	return d, true
}

func (m *Manager) notify(pod types.UID) {
	if m.cfg.OnChange != nil {
		m.cfg.OnChange(pod)
	}
}
