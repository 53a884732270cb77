package prober

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc/codes"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	testclock "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/berth-dev/berth/internal/cri"
)

const podUID = types.UID("uid-1")

// event is one recorded event.
type event struct {
	Type, Reason, Message, FieldPath string
}

type fakeRecorder struct {
	mu     sync.Mutex
	events []event
}

func (r *fakeRecorder) Event(obj runtime.Object, eventtype, reason, message string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fp := ""
	if ref, ok := obj.(*corev1.ObjectReference); ok {
		fp = ref.FieldPath
	}
	r.events = append(r.events, event{eventtype, reason, message, fp})
}

func (r *fakeRecorder) Eventf(obj runtime.Object, eventtype, reason, messageFmt string, args ...any) {
	r.Event(obj, eventtype, reason, fmt.Sprintf(messageFmt, args...))
}

func (r *fakeRecorder) AnnotatedEventf(obj runtime.Object, _ map[string]string, eventtype, reason, messageFmt string, args ...any) {
	r.Eventf(obj, eventtype, reason, messageFmt, args...)
}

// take returns the events recorded since the last take.
func (r *fakeRecorder) take() []event {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := r.events
	r.events = nil
	return ev
}

// harness runs a Manager on a fake clock. Probes run when the test steps
// the clock; step waits until every worker has probed and is waiting
// again, so each step is one round of probes.
type harness struct {
	t       *testing.T
	clock   *testclock.FakeClock
	rt      *fakeRuntime
	rec     *fakeRecorder
	m       *Manager
	changes chan types.UID
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, clock: testclock.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		rt: newFakeRuntime(), rec: &fakeRecorder{}, changes: make(chan types.UID, 100)}
	m, err := New(Config{Runtime: h.rt, Recorder: h.rec, Clock: h.clock, KubeletVersion: "v1.35.0-berth",
		OnChange: func(uid types.UID) { h.changes <- uid }})
	if err != nil {
		t.Fatal(err)
	}
	h.m = m
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run() = %v", err)
		}
		if n := goroutines(m); n != 0 {
			t.Errorf("%d workers still running after Run returned", n)
		}
	})
	return h
}

// settle waits until the goroutines of stopped workers have ended and
// every other worker goroutine waits on the clock (a worker that probes
// has no timer).
func (h *harness) settle() {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !h.settled() {
		if time.Now().After(deadline) {
			h.t.Fatalf("workers did not settle: %d waiters, %d running", h.clock.Waiters(), h.running())
		}
		time.Sleep(time.Millisecond)
	}
}

func (h *harness) settled() bool {
	m := h.m
	m.mu.Lock()
	running, inMap := m.running, 0
	for _, w := range m.workers {
		if w.alive && w.ctx.Err() == nil {
			inMap++
		}
	}
	m.mu.Unlock()
	waiters := h.clock.Waiters()
	return running == inMap && waiters == running && h.running() == running
}

// running is the number of worker goroutines.
func (h *harness) running() int { return goroutines(h.m) }

func goroutines(m *Manager) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.running
}

// step advances the clock and lets the workers probe.
func (h *harness) step(d time.Duration) {
	h.t.Helper()
	h.settle()
	h.clock.Step(d)
	h.settle()
}

// eventually polls cond until it holds.
func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// changed reports whether OnChange was called since the last call.
func (h *harness) changed() bool {
	found := false
	for {
		select {
		case uid := <-h.changes:
			if uid != podUID {
				h.t.Errorf("OnChange(%q), want %q", uid, podUID)
			}
			found = true
		default:
			return found
		}
	}
}

func execProbe(cmd string, mod func(*corev1.Probe)) *corev1.Probe {
	p := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{cmd}}},
		PeriodSeconds: 10, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3}
	if mod != nil {
		mod(p)
	}
	return p
}

func testPod(containers ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", UID: podUID},
		Spec:       corev1.PodSpec{Containers: containers, RestartPolicy: corev1.RestartPolicyAlways},
	}
}

// running is a status with each named container running as
// containerd://<id>, started at startedAt.
func running(startedAt time.Time, nameID ...string) *corev1.PodStatus {
	st := &corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "127.0.0.1"}
	for i := 0; i < len(nameID); i += 2 {
		st.ContainerStatuses = append(st.ContainerStatuses, corev1.ContainerStatus{
			Name: nameID[i], ContainerID: "containerd://" + nameID[i+1],
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(startedAt)}},
		})
	}
	return st
}

func TestInitialDelayAndPeriod(t *testing.T) {
	h := newHarness(t)
	pod := testPod(corev1.Container{Name: "app", ReadinessProbe: execProbe("ready", func(p *corev1.Probe) { p.InitialDelaySeconds = 5 })})
	h.m.Sync(pod, running(h.clock.Now(), "app", "c1"))
	h.settle()
	if h.m.Ready(podUID, "app", "c1") {
		t.Fatal("ready before any probe")
	}
	h.step(4 * time.Second)
	if n := len(h.rt.commands()); n != 0 {
		t.Fatalf("%d probes during the initial delay", n)
	}
	h.step(time.Second) // 5 s after the start
	if n := len(h.rt.commands()); n != 1 {
		t.Fatalf("%d probes at the end of the initial delay, want 1", n)
	}
	if !h.m.Ready(podUID, "app", "c1") || !h.m.Ready(podUID, "app", "containerd://c1") {
		t.Error("not ready after a successful probe")
	}
	if !h.changed() {
		t.Error("OnChange not called when readiness flipped")
	}
	h.step(9 * time.Second)
	if n := len(h.rt.commands()); n != 1 {
		t.Fatalf("probed again before periodSeconds: %d probes", n)
	}
	h.step(time.Second)
	if n := len(h.rt.commands()); n != 2 {
		t.Fatalf("%d probes after one period, want 2", n)
	}
	if h.changed() {
		t.Error("OnChange called without a change")
	}
	if got := h.rt.calls[0]; got.id != "c1" || got.timeout != time.Second {
		t.Errorf("ExecSync(%q, timeout %v), want c1 and 1s", got.id, got.timeout)
	}
}

func TestContainerStartedLongAgoIsProbedAtOnce(t *testing.T) {
	h := newHarness(t)
	pod := testPod(corev1.Container{Name: "app", ReadinessProbe: execProbe("ready", func(p *corev1.Probe) { p.InitialDelaySeconds = 30 })})
	h.m.Sync(pod, running(h.clock.Now().Add(-time.Hour), "app", "c1")) // adopted after an agent restart
	h.settle()
	if !h.m.Ready(podUID, "app", "c1") {
		t.Error("an adopted container is not probed at once")
	}
}

func TestThresholds(t *testing.T) {
	tests := []struct {
		name      string
		kind      probeKind
		success   int32
		failure   int32
		exitCodes []int32
		// want is the result after each probe: readiness → Ready,
		// liveness → LivenessFailed.
		want []bool
		// wantProbes is how many probes ran (liveness stops at its failure).
		wantProbes int
	}{
		{"readiness needs successThreshold successes in a row", readiness, 2, 3,
			[]int32{0, 1, 0, 0, 0}, []bool{false, false, false, true, true}, 5},
		{"readiness drops after failureThreshold failures", readiness, 1, 3,
			[]int32{0, 1, 1, 0, 1, 1, 1}, []bool{true, true, true, true, true, true, false}, 7},
		{"readiness with failureThreshold 1", readiness, 1, 1,
			[]int32{0, 1, 0}, []bool{true, false, true}, 3},
		{"liveness fails after failureThreshold failures and stops", liveness, 1, 3,
			[]int32{1, 1, 0, 1, 1, 1, 0, 0}, []bool{false, false, false, false, false, true, true, true}, 6},
		{"liveness zero thresholds default to 1 and 3", liveness, 0, 0,
			[]int32{1, 1, 1}, []bool{false, false, true}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			p := execProbe("probe", func(p *corev1.Probe) { p.SuccessThreshold, p.FailureThreshold = tt.success, tt.failure })
			c := corev1.Container{Name: "app"}
			if tt.kind == readiness {
				c.ReadinessProbe = p
			} else {
				c.LivenessProbe = p
			}
			h.rt.set("c1", tt.exitCodes[0], "")
			h.m.Sync(testPod(c), running(h.clock.Now(), "app", "c1"))
			for i, code := range tt.exitCodes {
				if i == 0 {
					h.step(0) // the first probe runs at once
				} else {
					h.rt.set("c1", code, "")
					h.step(10 * time.Second)
				}
				got := h.m.Ready(podUID, "app", "c1")
				if tt.kind == liveness {
					got = h.m.LivenessFailed(podUID, "app", "c1")
				}
				if got != tt.want[i] {
					t.Fatalf("after probe %d (exit %d): %v, want %v", i+1, code, got, tt.want[i])
				}
			}
			if n := len(h.rt.commands()); n != tt.wantProbes {
				t.Errorf("%d probes, want %d", n, tt.wantProbes)
			}
		})
	}
}

func TestStartupProbeGatesLivenessAndReadiness(t *testing.T) {
	h := newHarness(t)
	c := corev1.Container{Name: "app",
		StartupProbe:   execProbe("startup", func(p *corev1.Probe) { p.PeriodSeconds, p.FailureThreshold = 1, 30 }),
		LivenessProbe:  execProbe("live", nil),
		ReadinessProbe: execProbe("ready", nil),
	}
	start := h.clock.Now()
	h.rt.set("c1", 1, "not yet")
	h.m.Sync(testPod(c), running(start, "app", "c1"))
	h.step(0)
	h.step(time.Second)
	h.step(time.Second)
	if got, want := h.rt.commands(), []string{"startup", "startup", "startup"}; !cmp.Equal(got, want) {
		t.Fatalf("probes before startup succeeded: %v, want %v", got, want)
	}
	if h.m.Started(podUID, "app", "c1") || h.m.Ready(podUID, "app", "c1") {
		t.Fatal("started or ready before the startup probe succeeded")
	}
	if diff := cmp.Diff([]event{
		{"Warning", "Unhealthy", "Startup probe failed: not yet", "spec.containers{app}"},
		{"Warning", "Unhealthy", "Startup probe failed: not yet", "spec.containers{app}"},
		{"Warning", "Unhealthy", "Startup probe failed: not yet", "spec.containers{app}"},
	}, h.rec.take()); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}

	h.rt.set("c1", 0, "")
	h.step(time.Second) // startup succeeds at 3 s; readiness is poked to run at once
	if !h.m.Started(podUID, "app", "c1") {
		t.Fatal("not started after the startup probe succeeded")
	}
	h.eventually("readiness runs right after startup", func() bool { return h.m.Ready(podUID, "app", "c1") })
	h.settle()
	if got, want := h.rt.commands()[3:], []string{"startup", "ready"}; !cmp.Equal(got, want) {
		t.Fatalf("probes once started: %v, want %v", got, want)
	}
	if !h.changed() {
		t.Error("OnChange not called")
	}
	h.step(7 * time.Second) // 10 s: liveness's first period
	if got, want := h.rt.commands()[5:], []string{"live"}; !cmp.Equal(got, want) {
		t.Fatalf("probes 10 s after start: %v, want %v", got, want)
	}
	h.step(3 * time.Second) // 13 s: readiness, a period after its early run
	if got, want := h.rt.commands()[6:], []string{"ready"}; !cmp.Equal(got, want) {
		t.Fatalf("probes 13 s after start: %v, want %v", got, want)
	}
	h.step(10 * time.Second)
	h.step(10 * time.Second)
	for _, c := range h.rt.commands()[7:] {
		if c == "startup" {
			t.Fatal("startup probe ran again after it succeeded")
		}
	}
}

func TestStartupFailureKills(t *testing.T) {
	h := newHarness(t)
	c := corev1.Container{Name: "app",
		StartupProbe:  execProbe("startup", func(p *corev1.Probe) { p.FailureThreshold = 2 }),
		LivenessProbe: execProbe("live", nil),
	}
	pod := testPod(c)
	h.rt.set("c1", 1, "")
	h.m.Sync(pod, running(h.clock.Now(), "app", "c1"))
	h.step(0)
	if _, kill := h.m.ShouldKill(pod, &c, "c1"); kill {
		t.Fatal("killed after one failure of two")
	}
	h.step(10 * time.Second)
	if !h.m.StartupFailed(podUID, "app", "c1") || h.m.Started(podUID, "app", "c1") {
		t.Fatal("startup probe did not fail after failureThreshold failures")
	}
	d, kill := h.m.ShouldKill(pod, &c, "containerd://c1")
	if want := (KillDecision{Probe: "startup", Message: "Container app failed startup probe, will be restarted", GracePeriodSeconds: 30}); !kill || d != want {
		t.Errorf("ShouldKill() = %+v, %v; want %+v", d, kill, want)
	}
	h.step(10 * time.Second)
	h.step(10 * time.Second)
	if got := h.rt.commands(); !cmp.Equal(got, []string{"startup", "startup"}) {
		t.Errorf("probes = %v: after a startup failure nothing runs until the restart", got)
	}
}

func TestRestartStartsOver(t *testing.T) {
	h := newHarness(t)
	delay := func(p *corev1.Probe) { p.InitialDelaySeconds, p.FailureThreshold = 5, 1 }
	c := corev1.Container{Name: "app", LivenessProbe: execProbe("live", delay), ReadinessProbe: execProbe("ready", delay)}
	pod := testPod(c)
	h.rt.set("c1", 1, "dead")
	h.m.Sync(pod, running(h.clock.Now(), "app", "c1"))
	h.step(5 * time.Second)
	if !h.m.LivenessFailed(podUID, "app", "c1") {
		t.Fatal("liveness did not fail")
	}
	d, kill := h.m.ShouldKill(pod, &c, "c1")
	if want := "Container app failed liveness probe, will be restarted"; !kill || d.Message != want || d.Probe != "liveness" {
		t.Fatalf("ShouldKill() = %+v, %v; want %q", d, kill, want)
	}
	h.changed()

	// The agent killed c1; while it is down there are no workers.
	down := running(h.clock.Now(), "app", "c1")
	down.ContainerStatuses[0].State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 137}}
	h.m.Sync(pod, down)
	h.settle()
	if n := h.running(); n != 0 {
		t.Fatalf("%d workers for an exited container", n)
	}
	if h.m.LivenessFailed(podUID, "app", "c1") || h.m.Ready(podUID, "app", "c1") {
		t.Error("results of the exited instance kept")
	}

	// The restarted instance starts healthy and not ready, and waits
	// its own initial delay.
	h.rt.set("c2", 0, "")
	h.m.Sync(pod, running(h.clock.Now(), "app", "c2"))
	h.step(4 * time.Second)
	if h.m.LivenessFailed(podUID, "app", "c2") || h.m.Ready(podUID, "app", "c2") {
		t.Fatal("new instance inherited results")
	}
	h.step(time.Second)
	if !h.m.Ready(podUID, "app", "c2") || h.m.LivenessFailed(podUID, "app", "c2") {
		t.Error("new instance not probed afresh")
	}
	if h.m.Ready(podUID, "app", "c1") {
		t.Error("Ready answers for an old instance")
	}
}

func TestSyncReplacesInstanceWorkers(t *testing.T) {
	h := newHarness(t)
	c := corev1.Container{Name: "app", ReadinessProbe: execProbe("ready", nil)}
	pod := testPod(c)
	h.m.Sync(pod, running(h.clock.Now(), "app", "c1"))
	h.step(0)
	// Same instance again: the worker keeps its result and schedule.
	h.m.Sync(pod, running(h.clock.Now(), "app", "c1"))
	h.settle()
	if n := h.running(); n != 1 || !h.m.Ready(podUID, "app", "c1") {
		t.Fatalf("resync: %d workers, ready %v", n, h.m.Ready(podUID, "app", "c1"))
	}
	if n := len(h.rt.commands()); n != 1 {
		t.Errorf("resync probed again: %d probes", n)
	}
	// A new instance replaces the old one's worker.
	h.m.Sync(pod, running(h.clock.Now(), "app", "c2"))
	h.settle()
	if n := h.running(); n != 1 {
		t.Fatalf("%d workers after a restart, want 1", n)
	}
}

func TestPodLifecycle(t *testing.T) {
	c := corev1.Container{Name: "app", LivenessProbe: execProbe("live", nil), ReadinessProbe: execProbe("ready", nil)}
	tests := []struct {
		name string
		end  func(h *harness, pod *corev1.Pod)
	}{
		{"pod succeeded", func(h *harness, pod *corev1.Pod) {
			st := running(h.clock.Now(), "app", "c1")
			st.Phase = corev1.PodSucceeded
			h.m.Sync(pod, st)
		}},
		{"pod failed", func(h *harness, pod *corev1.Pod) {
			st := running(h.clock.Now(), "app", "c1")
			st.Phase = corev1.PodFailed
			h.m.Sync(pod, st)
		}},
		{"pod removed", func(h *harness, pod *corev1.Pod) { h.m.Remove(pod.UID) }},
		{"container gone from the status", func(h *harness, pod *corev1.Pod) {
			h.m.Sync(pod, &corev1.PodStatus{Phase: corev1.PodRunning})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			pod := testPod(c)
			h.m.Sync(pod, running(h.clock.Now(), "app", "c1"))
			h.step(0)
			if n := h.running(); n != 2 {
				t.Fatalf("%d workers, want 2", n)
			}
			tt.end(h, pod)
			h.settle()
			if n := h.running(); n != 0 {
				t.Fatalf("%d workers left", n)
			}
			probes := len(h.rt.commands())
			h.step(time.Minute)
			if n := len(h.rt.commands()); n != probes {
				t.Errorf("probes ran after the end: %d → %d", probes, n)
			}
			if h.m.Ready(podUID, "app", "c1") {
				t.Error("still ready")
			}
		})
	}
}

func TestDeletionStopsLivenessAndStartup(t *testing.T) {
	h := newHarness(t)
	c := corev1.Container{Name: "app",
		StartupProbe:   execProbe("startup", nil),
		LivenessProbe:  execProbe("live", nil),
		ReadinessProbe: execProbe("ready", nil),
	}
	pod := testPod(c)
	h.rt.set("c1", 1, "")
	h.m.Sync(pod, running(h.clock.Now(), "app", "c1"))
	h.step(0)
	pod.DeletionTimestamp = ptr.To(metav1.NewTime(h.clock.Now()))
	pod.DeletionGracePeriodSeconds = ptr.To[int64](30)
	h.m.Sync(pod, running(h.clock.Now(), "app", "c1"))
	h.settle()
	if n := h.running(); n != 1 {
		t.Fatalf("%d workers while the pod terminates, want readiness only", n)
	}
	if !h.m.Started(podUID, "app", "c1") || h.m.StartupFailed(podUID, "app", "c1") || h.m.LivenessFailed(podUID, "app", "c1") {
		t.Error("startup/liveness do not count as passed during termination")
	}
	if _, kill := h.m.ShouldKill(pod, &c, "c1"); kill {
		t.Error("ShouldKill during termination")
	}
	h.rt.take()
	h.step(10 * time.Second)
	if got := h.rt.commands(); !cmp.Equal(got, []string{"ready"}) {
		t.Errorf("probes while terminating = %v, want [ready]", got)
	}
}

func (f *fakeRuntime) take() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = nil
}

func TestReadyAndStartedWithoutProbes(t *testing.T) {
	h := newHarness(t)
	pod := testPod(
		corev1.Container{Name: "plain"},
		corev1.Container{Name: "slow", StartupProbe: execProbe("startup", func(p *corev1.Probe) { p.InitialDelaySeconds = 60 })},
		corev1.Container{Name: "probed", ReadinessProbe: execProbe("ready", func(p *corev1.Probe) { p.InitialDelaySeconds = 60 })},
	)
	if h.m.Ready(podUID, "plain", "p1") || h.m.Started(podUID, "plain", "p1") {
		t.Error("answers for a pod Sync has not seen")
	}
	h.m.Sync(pod, running(h.clock.Now(), "plain", "p1", "slow", "s1", "probed", "r1"))
	tests := []struct {
		container, id string
		ready, start  bool
	}{
		{"plain", "p1", true, true},
		{"slow", "s1", false, false},  // startup probe pending
		{"probed", "r1", false, true}, // readiness pending
		{"probed", "r0", false, true}, // an instance not seen running
		{"unknown", "x1", false, false},
	}
	for _, tt := range tests {
		if got := h.m.Ready(podUID, tt.container, tt.id); got != tt.ready {
			t.Errorf("Ready(%s, %s) = %v, want %v", tt.container, tt.id, got, tt.ready)
		}
		if got := h.m.Started(podUID, tt.container, tt.id); got != tt.start {
			t.Errorf("Started(%s, %s) = %v, want %v", tt.container, tt.id, got, tt.start)
		}
	}
}

func TestEvents(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/redirect":
			w.Header().Set("Location", "http://localhost:1/")
			w.WriteHeader(http.StatusFound)
			_, _ = io.WriteString(w, "see other")
		default:
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	port := portOf(t, srv.URL)
	closed := closedPort(t)
	httpGet := func(path string) corev1.ProbeHandler {
		return corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromInt(port)}}
	}
	tests := []struct {
		name    string
		kind    probeKind
		handler corev1.ProbeHandler
		sidecar bool
		execErr error
		want    event
	}{
		{"readiness http 500", readiness, httpGet("/"), false, nil,
			event{"Warning", "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 500", "spec.containers{app}"}},
		{"liveness tcp refused", liveness, corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt(closed)}}, false, nil,
			event{"Warning", "Unhealthy", fmt.Sprintf("Liveness probe failed: dial tcp 127.0.0.1:%d: connect: connection refused", closed), "spec.containers{app}"}},
		{"liveness exec output", liveness, corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"check"}}}, false, nil,
			event{"Warning", "Unhealthy", "Liveness probe failed: boom\n", "spec.containers{app}"}},
		{"exec errored", readiness, corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"check"}}}, false,
			cri.NewError(codes.NotFound, "container c1 not found"),
			event{"Warning", "Unhealthy", "Readiness probe errored and resulted in unknown state: not found: container c1 not found", "spec.containers{app}"}},
		{"redirect elsewhere warns", readiness, httpGet("/redirect"), false, nil,
			event{"Warning", "ProbeWarning", "Readiness probe warning: Probe terminated redirects, Response body: see other", "spec.containers{app}"}},
		{"sidecar", readiness, httpGet("/"), true, nil,
			event{"Warning", "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 500", "spec.initContainers{app}"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			p := &corev1.Probe{ProbeHandler: tt.handler, TimeoutSeconds: 1}
			c := corev1.Container{Name: "app"}
			if tt.kind == readiness {
				c.ReadinessProbe = p
			} else {
				c.LivenessProbe = p
			}
			pod := testPod()
			st := running(h.clock.Now(), "app", "c1")
			if tt.sidecar {
				c.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
				pod.Spec.InitContainers = []corev1.Container{c}
				st.InitContainerStatuses, st.ContainerStatuses = st.ContainerStatuses, nil
			} else {
				pod.Spec.Containers = []corev1.Container{c}
			}
			h.rt.set("c1", 1, "boom\n")
			if tt.execErr != nil {
				h.rt.setErr("c1", tt.execErr)
			}
			h.m.Sync(pod, st)
			h.step(0)
			if diff := cmp.Diff([]event{tt.want}, h.rec.take()); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			if tt.want.Reason == "ProbeWarning" && !h.m.Ready(podUID, "app", "c1") {
				t.Error("a warning is not a success")
			}
		})
	}
}

func TestErroredProbeKeepsResult(t *testing.T) {
	h := newHarness(t)
	c := corev1.Container{Name: "app", LivenessProbe: execProbe("live", func(p *corev1.Probe) { p.FailureThreshold = 1 })}
	h.rt.setErr("c1", cri.NewError(codes.Unavailable, "connection refused"))
	h.m.Sync(testPod(c), running(h.clock.Now(), "app", "c1"))
	h.step(0)
	h.step(10 * time.Second)
	if h.m.LivenessFailed(podUID, "app", "c1") {
		t.Error("a runtime error counted as a liveness failure")
	}
	if n := len(h.rt.commands()); n != 2*maxProbeRetries {
		t.Errorf("%d exec calls, want %d (retries)", n, 2*maxProbeRetries)
	}
}

func TestKillDecision(t *testing.T) {
	h := newHarness(t)
	c := corev1.Container{Name: "app", LivenessProbe: execProbe("live", func(p *corev1.Probe) { p.FailureThreshold = 1 })}
	h.rt.set("c1", 1, "")
	h.m.Sync(testPod(c), running(h.clock.Now(), "app", "c1"))
	h.step(0)
	tests := []struct {
		name string
		mod  func(*corev1.Pod, *corev1.Container)
		want KillDecision
	}{
		{"defaults", nil, KillDecision{"liveness", "Container app failed liveness probe, will be restarted", 30}},
		{"restartPolicy Never", func(p *corev1.Pod, _ *corev1.Container) { p.Spec.RestartPolicy = corev1.RestartPolicyNever },
			KillDecision{"liveness", "Container app failed liveness probe", 30}},
		{"pod grace", func(p *corev1.Pod, _ *corev1.Container) { p.Spec.TerminationGracePeriodSeconds = ptr.To[int64](5) },
			KillDecision{"liveness", "Container app failed liveness probe, will be restarted", 5}},
		{"probe grace wins over the pod's", func(p *corev1.Pod, c *corev1.Container) {
			p.Spec.TerminationGracePeriodSeconds = ptr.To[int64](5)
			c.LivenessProbe.TerminationGracePeriodSeconds = ptr.To[int64](1)
		}, KillDecision{"liveness", "Container app failed liveness probe, will be restarted", 1}},
		{"deletion grace wins", func(p *corev1.Pod, c *corev1.Container) {
			p.DeletionGracePeriodSeconds = ptr.To[int64](0)
			c.LivenessProbe.TerminationGracePeriodSeconds = ptr.To[int64](1)
		}, KillDecision{"liveness", "Container app failed liveness probe, will be restarted", 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod, cc := testPod(c), c.DeepCopy()
			if tt.mod != nil {
				tt.mod(pod, cc)
			}
			got, kill := h.m.ShouldKill(pod, cc, "containerd://c1")
			if !kill || got != tt.want {
				t.Errorf("ShouldKill() = %+v, %v; want %+v", got, kill, tt.want)
			}
		})
	}
	if _, kill := h.m.ShouldKill(testPod(c), &c, "c2"); kill {
		t.Error("ShouldKill for another instance")
	}
}

func TestExecProbeCommand(t *testing.T) {
	h := newHarness(t)
	c := corev1.Container{Name: "app", Env: []corev1.EnvVar{{Name: "PORT", Value: "8080"}},
		ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{
			Command: []string{"sh", "-c", "wget -q localhost:$(PORT)"}}}, TimeoutSeconds: 3}}
	h.m.Sync(testPod(c), running(h.clock.Now(), "app", "c1"))
	h.step(0)
	h.rt.mu.Lock()
	defer h.rt.mu.Unlock()
	want := execCall{"c1", []string{"sh", "-c", "wget -q localhost:8080"}, 3 * time.Second}
	if diff := cmp.Diff(want, h.rt.calls[0], cmp.AllowUnexported(execCall{})); diff != "" {
		t.Errorf("ExecSync (-want +got):\n%s", diff)
	}
}

func TestPodIPFollowsStatus(t *testing.T) {
	var hits sync.Map
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Store(r.Host, true) }))
	defer srv.Close()
	port := portOf(t, srv.URL)
	h := newHarness(t)
	c := corev1.Container{Name: "app", ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
		HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt(port)}}, TimeoutSeconds: 1, PeriodSeconds: 10}}
	pod := testPod(c)
	st := running(h.clock.Now(), "app", "c1")
	st.PodIP = ""
	h.m.Sync(pod, st)
	h.step(0)
	if h.m.Ready(podUID, "app", "c1") {
		t.Fatal("ready without a pod IP")
	}
	if ev := h.rec.take(); len(ev) != 1 || !strings.Contains(ev[0].Message, "errored") {
		t.Errorf("events without a pod IP = %v", ev)
	}
	h.m.Sync(pod, running(h.clock.Now(), "app", "c1")) // now with 127.0.0.1
	h.step(10 * time.Second)
	if !h.m.Ready(podUID, "app", "c1") {
		t.Error("not ready once the pod IP is known")
	}
}

func TestRunStopsWorkers(t *testing.T) {
	m, err := New(Config{Runtime: newFakeRuntime(), Clock: testclock.NewFakeClock(time.Now())})
	if err != nil {
		t.Fatal(err)
	}
	c := corev1.Container{Name: "app", ReadinessProbe: execProbe("ready", func(p *corev1.Probe) { p.InitialDelaySeconds = 100 })}
	m.Sync(testPod(c), running(time.Now(), "app", "c1"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- m.Run(ctx) }()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run() = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	if n := goroutines(m); n != 0 {
		t.Errorf("%d workers after Run", n)
	}
	m.Sync(testPod(c), running(time.Now(), "app", "c1"))
	if n := goroutines(m); n != 0 {
		t.Errorf("Sync after Run started %d workers", n)
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New without a Runtime succeeded")
	}
	m := newTestManager(t, newFakeRuntime())
	if m.userAgent != "kube-probe/1.35" {
		t.Errorf("userAgent = %q", m.userAgent)
	}
	for v, want := range map[string]string{"v1.37.2": "1.37", "1.36": "1.36", "nonsense": "1.35"} {
		if got := majorMinor(v); got != want {
			t.Errorf("majorMinor(%q) = %q, want %q", v, got, want)
		}
	}
}
