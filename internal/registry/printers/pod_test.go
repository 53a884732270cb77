package printers

import (
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) metav1.Time { return metav1.NewTime(now.Add(-d)) }

func ptr[T any](v T) *T { return &v }

// Small builders keep each case down to the state that decides it.

func waiting(reason string) corev1.ContainerState {
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}
}

func running() corev1.ContainerState {
	return corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: ago(time.Hour)}}
}

func terminated(reason string, code, signal int32) corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: reason, ExitCode: code, Signal: signal}}
}

func cstatus(name string, state corev1.ContainerState, ready bool) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, State: state, Ready: ready}
}

// restarted records restarts with the last termination finished d ago.
func restarted(cs corev1.ContainerStatus, n int32, d time.Duration) corev1.ContainerStatus {
	cs.RestartCount = n
	cs.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: ago(d), ExitCode: 1}}
	return cs
}

func started(cs corev1.ContainerStatus) corev1.ContainerStatus {
	cs.Started = ptr(true)
	return cs
}

func containers(names ...string) []corev1.Container {
	out := make([]corev1.Container, 0, len(names))
	for _, n := range names {
		out = append(out, corev1.Container{Name: n, Image: "busybox"})
	}
	return out
}

func sidecar(name string) corev1.Container {
	return corev1.Container{Name: name, Image: "busybox", RestartPolicy: ptr(corev1.ContainerRestartPolicyAlways)}
}

func cond(t corev1.PodConditionType, s corev1.ConditionStatus) corev1.PodCondition {
	return corev1.PodCondition{Type: t, Status: s}
}

func newPod(phase corev1.PodPhase, spec []corev1.Container, statuses ...corev1.ContainerStatus) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", CreationTimestamp: ago(10 * time.Minute)},
		Spec:       corev1.PodSpec{Containers: spec},
		Status:     corev1.PodStatus{Phase: phase, ContainerStatuses: statuses},
	}
}

func withInit(p *corev1.Pod, spec []corev1.Container, statuses ...corev1.ContainerStatus) *corev1.Pod {
	p.Spec.InitContainers = spec
	p.Status.InitContainerStatuses = statuses
	return p
}

func withConditions(p *corev1.Pod, c ...corev1.PodCondition) *corev1.Pod {
	p.Status.Conditions = c
	return p
}

func deleting(p *corev1.Pod) *corev1.Pod {
	p.DeletionTimestamp = ptr(ago(time.Second))
	return p
}

func withReason(p *corev1.Pod, reason string) *corev1.Pod {
	p.Status.Reason = reason
	return p
}

func TestPodStatusCells(t *testing.T) {
	two := containers("a", "b")
	one := containers("app")
	inits := containers("init1", "init2")

	cases := []struct {
		name                    string
		pod                     *corev1.Pod
		ready, status, restarts string
	}{
		{"pending without statuses", newPod(corev1.PodPending, one), "0/1", "Pending", "0"},
		{"container creating", newPod(corev1.PodPending, one, cstatus("app", waiting("ContainerCreating"), false)), "0/1", "ContainerCreating", "0"},
		{"err image pull", newPod(corev1.PodPending, one, cstatus("app", waiting("ErrImagePull"), false)), "0/1", "ErrImagePull", "0"},
		{"image pull back-off", newPod(corev1.PodPending, one, cstatus("app", waiting("ImagePullBackOff"), false)), "0/1", "ImagePullBackOff", "0"},
		{"crash loop back-off with restarts", newPod(corev1.PodRunning, one,
			restarted(cstatus("app", waiting("CrashLoopBackOff"), false), 3, 5*time.Minute)), "0/1", "CrashLoopBackOff", "3 (5m ago)"},
		{"running ready", withConditions(newPod(corev1.PodRunning, one, cstatus("app", running(), true)),
			cond(corev1.PodReady, corev1.ConditionTrue)), "1/1", "Running", "0"},
		{"running 1/2", newPod(corev1.PodRunning, two, cstatus("a", running(), true), cstatus("b", running(), false)), "1/2", "Running", "0"},
		{"completed", newPod(corev1.PodSucceeded, one, cstatus("app", terminated("Completed", 0, 0), false)), "0/1", "Completed", "0"},
		{"error", newPod(corev1.PodFailed, one, cstatus("app", terminated("Error", 1, 0), false)), "0/1", "Error", "0"},
		{"oom killed", newPod(corev1.PodRunning, one, cstatus("app", terminated("OOMKilled", 137, 0), false)), "0/1", "OOMKilled", "0"},
		{"signal without reason", newPod(corev1.PodFailed, one, cstatus("app", terminated("", 137, 9), false)), "0/1", "Signal:9", "0"},
		{"exit code without reason", newPod(corev1.PodFailed, one, cstatus("app", terminated("", 3, 0), false)), "0/1", "ExitCode:3", "0"},
		{"first container wins", newPod(corev1.PodRunning, two,
			cstatus("a", waiting("ImagePullBackOff"), false), cstatus("b", waiting("ErrImagePull"), false)), "0/2", "ImagePullBackOff", "0"},
		{"completed sidekick while other runs, not ready", newPod(corev1.PodRunning, two,
			cstatus("a", terminated("Completed", 0, 0), false), cstatus("b", running(), true)), "1/2", "NotReady", "0"},
		{"completed sidekick while other runs, ready", withConditions(newPod(corev1.PodRunning, two,
			cstatus("a", terminated("Completed", 0, 0), false), cstatus("b", running(), true)),
			cond(corev1.PodReady, corev1.ConditionTrue)), "1/2", "Running", "0"},
		{"init 0/2", withInit(newPod(corev1.PodPending, one, cstatus("app", waiting("PodInitializing"), false)), inits,
			cstatus("init1", running(), false), cstatus("init2", waiting("PodInitializing"), false)), "0/1", "Init:0/2", "0"},
		{"init 1/2", withInit(newPod(corev1.PodPending, one), inits,
			cstatus("init1", terminated("Completed", 0, 0), false), cstatus("init2", running(), false)), "0/1", "Init:1/2", "0"},
		{"init waiting PodInitializing counts as progress", withInit(newPod(corev1.PodPending, one), inits,
			cstatus("init1", waiting("PodInitializing"), false)), "0/1", "Init:0/2", "0"},
		{"init error", withInit(newPod(corev1.PodPending, one), inits,
			cstatus("init1", terminated("Error", 1, 0), false)), "0/1", "Init:Error", "0"},
		{"init crash loop with restarts", withInit(newPod(corev1.PodPending, one), inits,
			restarted(cstatus("init1", waiting("CrashLoopBackOff"), false), 4, 2*time.Minute)), "0/1", "Init:CrashLoopBackOff", "4 (2m ago)"},
		{"init exit code", withInit(newPod(corev1.PodPending, one), inits,
			cstatus("init1", terminated("", 2, 0), false)), "0/1", "Init:ExitCode:2", "0"},
		{"init signal", withInit(newPod(corev1.PodPending, one), inits,
			cstatus("init1", terminated("", 143, 15), false)), "0/1", "Init:Signal:15", "0"},
		{"init image pull back-off", withInit(newPod(corev1.PodPending, one), inits,
			cstatus("init1", waiting("ImagePullBackOff"), false)), "0/1", "Init:ImagePullBackOff", "0"},
		{"pod initializing", withInit(newPod(corev1.PodPending, one, cstatus("app", waiting("PodInitializing"), false)), inits,
			cstatus("init1", terminated("Completed", 0, 0), false), cstatus("init2", terminated("Completed", 0, 0), false)),
			"0/1", "PodInitializing", "0"},
		{"init restarts hidden once initialised", withInit(newPod(corev1.PodRunning, one, cstatus("app", running(), true)), inits,
			restarted(cstatus("init1", terminated("Completed", 0, 0), false), 2, time.Hour), cstatus("init2", terminated("Completed", 0, 0), false)),
			"1/1", "Running", "0"},
		// With Initialized=True the regular containers are counted, but a running container does
		// not replace the init reason already chosen (Kubernetes behaves the same way).
		{"initialized condition counts regular containers", withConditions(withInit(newPod(corev1.PodRunning, one,
			cstatus("app", running(), true)), inits, cstatus("init1", terminated("Error", 1, 0), false)),
			cond(corev1.PodInitialized, corev1.ConditionTrue)), "1/1", "Init:Error", "0"},
		{"initialized condition lets a waiting container win", withConditions(withInit(newPod(corev1.PodRunning, one,
			restarted(cstatus("app", waiting("CrashLoopBackOff"), false), 1, 30*time.Second)), inits,
			restarted(cstatus("init1", terminated("Error", 1, 0), false), 5, time.Minute)),
			cond(corev1.PodInitialized, corev1.ConditionTrue)), "0/1", "CrashLoopBackOff", "1 (30s ago)"},
		{"sidecar started and ready counts in READY", withInit(newPod(corev1.PodRunning, one, cstatus("app", running(), true)),
			[]corev1.Container{sidecar("proxy")}, started(cstatus("proxy", running(), true))), "2/2", "Running", "0"},
		{"sidecar started not ready", withInit(newPod(corev1.PodRunning, one, cstatus("app", running(), true)),
			[]corev1.Container{sidecar("proxy")}, started(cstatus("proxy", running(), false))), "1/2", "Running", "0"},
		{"sidecar not yet started holds init", withInit(newPod(corev1.PodPending, one, cstatus("app", waiting("PodInitializing"), false)),
			[]corev1.Container{sidecar("proxy"), {Name: "init"}}, cstatus("proxy", running(), false), cstatus("init", waiting("PodInitializing"), false)),
			"0/2", "Init:0/2", "0"},
		{"sidecar then init running", withInit(newPod(corev1.PodPending, one, cstatus("app", waiting("PodInitializing"), false)),
			[]corev1.Container{sidecar("proxy"), {Name: "init"}}, started(cstatus("proxy", running(), true)), cstatus("init", running(), false)),
			"1/2", "Init:1/2", "0"},
		{"sidecar and app restarts add up, newest wins", withInit(newPod(corev1.PodRunning, one,
			restarted(cstatus("app", running(), true), 1, 5*time.Minute)),
			[]corev1.Container{sidecar("proxy")}, restarted(started(cstatus("proxy", running(), true)), 2, time.Hour)),
			"2/2", "Running", "3 (5m ago)"},
		{"two sidecars, first running but not started", withConditions(withInit(newPod(corev1.PodPending, one, cstatus("app", waiting(""), false)),
			[]corev1.Container{sidecar("s1"), sidecar("s2")},
			restarted(cstatus("s1", running(), false), 3, 10*time.Second), cstatus("s2", waiting(""), false)),
			cond(corev1.PodInitialized, corev1.ConditionFalse)), "0/3", "Init:0/2", "3 (10s ago)"},
		{"failed sidecars of a completed pod", withConditions(withInit(newPod(corev1.PodSucceeded, one,
			restarted(cstatus("app", terminated("Completed", 0, 0), false), 4, 20*time.Second)),
			[]corev1.Container{sidecar("s1"), sidecar("s2")},
			restarted(cstatus("s1", terminated("Error", 137, 0), false), 3, 10*time.Second), cstatus("s2", terminated("Error", 137, 0), false)),
			cond(corev1.PodInitialized, corev1.ConditionTrue)), "0/3", "Completed", "7 (10s ago)"},
		{"statuses for unknown container names", withInit(newPod(corev1.PodRunning, one, corev1.ContainerStatus{Name: "ghost"}, corev1.ContainerStatus{Name: "app"}),
			[]corev1.Container{{Name: "init1"}, sidecar("s1")}, corev1.ContainerStatus{Name: "ghost"}, corev1.ContainerStatus{Name: "init1"}, corev1.ContainerStatus{Name: "s1"}),
			"0/2", "Init:0/2", "0"},
		{"restarts without termination time", newPod(corev1.PodRunning, one,
			corev1.ContainerStatus{Name: "app", State: running(), Ready: true, RestartCount: 2}), "1/1", "Running", "2"},
		{"terminating", deleting(newPod(corev1.PodRunning, one, cstatus("app", running(), true))), "1/1", "Terminating", "0"},
		{"terminating while pending", deleting(newPod(corev1.PodPending, one, cstatus("app", waiting("ContainerCreating"), false))), "0/1", "Terminating", "0"},
		{"deleted succeeded pod stays completed", deleting(newPod(corev1.PodSucceeded, one,
			cstatus("app", terminated("Completed", 0, 0), false))), "0/1", "Completed", "0"},
		{"node lost", withReason(deleting(newPod(corev1.PodRunning, one, cstatus("app", running(), true))), "NodeLost"), "1/1", "Unknown", "0"},
		{"pod reason evicted", withReason(newPod(corev1.PodFailed, one), "Evicted"), "0/1", "Evicted", "0"},
		{"scheduling gated", withConditions(newPod(corev1.PodPending, one), corev1.PodCondition{
			Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonSchedulingGated}), "0/1", "SchedulingGated", "0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			table, err := Convert(tc.pod, now)
			if err != nil {
				t.Fatal(err)
			}
			if len(table.Rows) != 1 {
				t.Fatalf("rows = %d, want 1", len(table.Rows))
			}
			cells := table.Rows[0].Cells
			got := [3]interface{}{cells[1], cells[2], cells[3]}
			want := [3]interface{}{tc.ready, tc.status, tc.restarts}
			if got != want {
				t.Errorf("READY/STATUS/RESTARTS = %q, want %q", got, want)
			}
		})
	}
}

func TestPodFullRowAndWideCells(t *testing.T) {
	p := newPod(corev1.PodRunning, containers("app"), cstatus("app", running(), true))
	p.Spec.NodeName = "node-1"
	p.Status.PodIPs = []corev1.PodIP{{IP: "10.88.0.5"}, {IP: "fd00::5"}}
	p.Status.NominatedNodeName = "node-2"
	p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/a"}, {ConditionType: "example.com/b"}}
	p.Status.Conditions = []corev1.PodCondition{
		cond("example.com/a", corev1.ConditionTrue),
		cond("example.com/b", corev1.ConditionFalse),
		cond("example.com/b", corev1.ConditionTrue), // only the first condition of a type counts
		cond(corev1.PodReady, corev1.ConditionTrue),
	}
	table, err := Convert(p, now)
	if err != nil {
		t.Fatal(err)
	}
	want := []interface{}{"p", "1/1", "Running", "0", "10m", "10.88.0.5", "node-1", "node-2", "1/2"}
	if got := table.Rows[0].Cells; !reflect.DeepEqual(got, want) {
		t.Errorf("cells = %#v\nwant    %#v", got, want)
	}
	if table.Rows[0].Conditions != nil {
		t.Errorf("running pod has row conditions %v", table.Rows[0].Conditions)
	}

	bare := newPod(corev1.PodPending, containers("app"))
	bare.CreationTimestamp = metav1.Time{}
	table, _ = Convert(bare, now)
	want = []interface{}{"p", "0/1", "Pending", "0", "<unknown>", "<none>", "<none>", "<none>", "<none>"}
	if got := table.Rows[0].Cells; !reflect.DeepEqual(got, want) {
		t.Errorf("cells = %#v\nwant    %#v", got, want)
	}

	// status.podIP is authoritative over podIPs, as in the v1 conversion.
	p.Status.PodIP = "10.88.0.9"
	table, _ = Convert(p, now)
	if got := table.Rows[0].Cells[5]; got != "10.88.0.9" {
		t.Errorf("IP = %v, want 10.88.0.9", got)
	}
}

func TestPodRowConditions(t *testing.T) {
	cases := []struct {
		phase corev1.PodPhase
		want  []metav1.TableRowCondition
	}{
		{corev1.PodSucceeded, []metav1.TableRowCondition{{Type: metav1.RowCompleted, Status: metav1.ConditionTrue, Reason: "Succeeded", Message: "The pod has completed successfully."}}},
		{corev1.PodFailed, []metav1.TableRowCondition{{Type: metav1.RowCompleted, Status: metav1.ConditionTrue, Reason: "Failed", Message: "The pod failed."}}},
		{corev1.PodRunning, nil},
		{corev1.PodPending, nil},
	}
	for _, tc := range cases {
		table, err := Convert(newPod(tc.phase, containers("app")), now)
		if err != nil {
			t.Fatal(err)
		}
		if got := table.Rows[0].Conditions; !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: conditions = %#v, want %#v", tc.phase, got, tc.want)
		}
	}
}
