package agent

import (
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/agent/prober"
	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// planWorld builds a podRuntime by hand for planPod.
type planWorld struct {
	rt  *podRuntime
	pod *corev1.Pod
}

func newPlanWorld(pod *corev1.Pod) *planWorld {
	return &planWorld{pod: pod, rt: &podRuntime{status: map[string]*runtimeapi.ContainerStatus{}, probeKills: map[string]prober.KillDecision{}}}
}

func (p *planWorld) sandbox(id string, ready bool) *planWorld {
	st := runtimeapi.PodSandboxState_SANDBOX_NOTREADY
	if ready {
		st = runtimeapi.PodSandboxState_SANDBOX_READY
	}
	p.rt.sandboxes = append(p.rt.sandboxes, &runtimeapi.PodSandbox{Id: id, State: st})
	return p
}

// container adds an instance (newest first: add the newest first) of the
// named spec container, with the hash of the spec unless hash is given.
func (p *planWorld) container(id, sandbox, name string, state runtimeapi.ContainerState, exitCode int32, hash ...string) *planWorld {
	h := ""
	if spec := specOf(p.pod, name); spec != nil {
		h = containerHash(spec)
	}
	if len(hash) > 0 {
		h = hash[0]
	}
	p.rt.containers = append(p.rt.containers, &runtimeapi.Container{Id: id, PodSandboxId: sandbox, State: state,
		Labels: map[string]string{labelContainerName: name}, Annotations: map[string]string{annoContainerHash: h}})
	if state == runtimeapi.ContainerState_CONTAINER_EXITED {
		p.rt.status[id] = &runtimeapi.ContainerStatus{Id: id, State: state, ExitCode: exitCode}
	}
	return p
}

func (p *planWorld) probeKill(id, msg string) *planWorld {
	p.rt.probeKills[id] = prober.KillDecision{Probe: "liveness", Message: msg, GracePeriodSeconds: 7}
	return p
}

const (
	crRunning = runtimeapi.ContainerState_CONTAINER_RUNNING
	crExited  = runtimeapi.ContainerState_CONTAINER_EXITED
	crCreated = runtimeapi.ContainerState_CONTAINER_CREATED
)

func podWith(policy corev1.RestartPolicy, inits []corev1.Container, containers ...string) *corev1.Pod {
	var cs []corev1.Container
	for _, n := range containers {
		cs = append(cs, corev1.Container{Name: n, Image: testImage})
	}
	pod := newTestPod("p", policy, cs...)
	pod.Spec.InitContainers = inits
	return pod
}

func sidecar(name string) corev1.Container {
	always := corev1.ContainerRestartPolicyAlways
	return corev1.Container{Name: name, Image: testImage, RestartPolicy: &always}
}

// summary renders actions compactly: "killPod", "sandbox(N)", "kill(name)",
// "start(name)", "restart(name)" (start after a kill).
func summary(a podActions) string {
	var out []string
	if a.killPod {
		out = append(out, "killPod")
	}
	if a.createSandbox {
		out = append(out, "sandbox("+string(rune('0'+a.attempt))+")")
	}
	for _, k := range a.kill {
		out = append(out, "kill("+k.spec.Name+")")
	}
	for _, s := range a.start {
		if s.afterKill {
			out = append(out, "restart("+s.spec.Name+")")
		} else {
			out = append(out, "start("+s.spec.Name+")")
		}
	}
	return strings.Join(out, " ")
}

func TestPlanPod(t *testing.T) {
	changed := podWith(corev1.RestartPolicyNever, nil, "app")
	changed.Spec.Containers[0].Image = "busybox:new"
	initPod := func(policy corev1.RestartPolicy) *corev1.Pod {
		return podWith(policy, []corev1.Container{{Name: "init1", Image: testImage}, {Name: "init2", Image: testImage}}, "app")
	}
	sidecarPod := podWith(corev1.RestartPolicyAlways, []corev1.Container{sidecar("side"), {Name: "init1", Image: testImage}}, "app")
	tests := []struct {
		name  string
		world *planWorld
		want  string
	}{
		{"new pod: a sandbox", newPlanWorld(podWith(corev1.RestartPolicyAlways, nil, "app")), "sandbox(0)"},
		{"empty sandbox: start every container in order",
			newPlanWorld(podWith(corev1.RestartPolicyAlways, nil, "a", "b")).sandbox("s1", true), "start(a) start(b)"},
		{"lost sandbox: kill the rest, new sandbox with the next attempt",
			newPlanWorld(podWith(corev1.RestartPolicyAlways, nil, "app")).sandbox("s1", false).container("c1", "s1", "app", crExited, 137),
			"killPod sandbox(1)"},
		{"Never pod that lost its sandbox after running: no new sandbox",
			newPlanWorld(podWith(corev1.RestartPolicyNever, nil, "app")).sandbox("s1", false).container("c1", "s1", "app", crExited, 0),
			"killPod"},
		{"running and unchanged: nothing",
			newPlanWorld(podWith(corev1.RestartPolicyAlways, nil, "app")).sandbox("s1", true).container("c1", "s1", "app", crRunning, 0), ""},
		{"changed spec restarts even with Never",
			newPlanWorld(changed).sandbox("s1", true).container("c1", "s1", "app", crRunning, 0, "oldhash"), "kill(app) restart(app)"},
		{"changed spec of an exited container: restart policy decides",
			newPlanWorld(changed).sandbox("s1", true).container("c1", "s1", "app", crExited, 1, "oldhash"), ""},
		{"failed liveness probe, Always: kill and restart",
			newPlanWorld(podWith(corev1.RestartPolicyAlways, nil, "app")).sandbox("s1", true).container("c1", "s1", "app", crRunning, 0).
				probeKill("c1", "Container app failed liveness probe, will be restarted"), "kill(app) restart(app)"},
		{"failed liveness probe, Never: kill only",
			newPlanWorld(podWith(corev1.RestartPolicyNever, nil, "app")).sandbox("s1", true).container("c1", "s1", "app", crRunning, 0).
				probeKill("c1", "Container app failed liveness probe"), "kill(app)"},
		{"exited, Always: start", newPlanWorld(podWith(corev1.RestartPolicyAlways, nil, "app")).sandbox("s1", true).
			container("c1", "s1", "app", crExited, 0), "start(app)"},
		{"exited 0, OnFailure: nothing", newPlanWorld(podWith(corev1.RestartPolicyOnFailure, nil, "app")).sandbox("s1", true).
			container("c1", "s1", "app", crExited, 0), ""},
		{"exited 2, OnFailure: start", newPlanWorld(podWith(corev1.RestartPolicyOnFailure, nil, "app")).sandbox("s1", true).
			container("c1", "s1", "app", crExited, 2), "start(app)"},
		{"created, never started: start again", newPlanWorld(podWith(corev1.RestartPolicyNever, nil, "app")).sandbox("s1", true).
			container("c1", "s1", "app", crCreated, 0), "start(app)"},
		{"instances of an old sandbox do not count", newPlanWorld(podWith(corev1.RestartPolicyNever, nil, "app")).
			sandbox("s2", true).sandbox("s1", false).container("c1", "s1", "app", crExited, 0), "start(app)"},
		{"init: the first one alone", newPlanWorld(initPod(corev1.RestartPolicyAlways)).sandbox("s1", true), "start(init1)"},
		{"init: a running one holds the rest", newPlanWorld(initPod(corev1.RestartPolicyAlways)).sandbox("s1", true).
			container("i1", "s1", "init1", crRunning, 0), ""},
		{"init: the next after success", newPlanWorld(initPod(corev1.RestartPolicyAlways)).sandbox("s1", true).
			container("i1", "s1", "init1", crExited, 0), "start(init2)"},
		{"init: a failure is retried", newPlanWorld(initPod(corev1.RestartPolicyOnFailure)).sandbox("s1", true).
			container("i1", "s1", "init1", crExited, 1), "start(init1)"},
		{"init: a failure with Never fails the pod", newPlanWorld(initPod(corev1.RestartPolicyNever)).sandbox("s1", true).
			container("i1", "s1", "init1", crExited, 1), ""},
		{"init done: the containers", newPlanWorld(initPod(corev1.RestartPolicyAlways)).sandbox("s1", true).
			container("i2", "s1", "init2", crExited, 0).container("i1", "s1", "init1", crExited, 0), "start(app)"},
		{"sidecar first, then the init container", newPlanWorld(sidecarPod).sandbox("s1", true).
			container("sc", "s1", "side", crRunning, 0), "start(init1)"},
		{"a sidecar that exited restarts; before initialization it holds the rest", newPlanWorld(sidecarPod).sandbox("s1", true).
			container("sc", "s1", "side", crExited, 1), "start(side)"},
		{"after initialization a restarting sidecar does not hold the containers", newPlanWorld(sidecarPod).sandbox("s1", true).
			container("a1", "s1", "app", crExited, 0).container("i1", "s1", "init1", crExited, 0).container("sc", "s1", "side", crExited, 1),
			"start(side) start(app)"},
		{"a sidecar with a changed spec restarts", newPlanWorld(sidecarPod).sandbox("s1", true).
			container("a1", "s1", "app", crRunning, 0).container("i1", "s1", "init1", crExited, 0).container("sc", "s1", "side", crRunning, 0, "old"),
			"kill(side) restart(side)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := planPod(tt.world.pod, tt.world.rt)
			if s := summary(got); s != tt.want {
				t.Errorf("plan = %q, want %q\n(%s)", s, tt.want, got)
			}
		})
	}
}

func TestPlanPodProbeKillCarriesTheProbesGrace(t *testing.T) {
	w := newPlanWorld(podWith(corev1.RestartPolicyAlways, nil, "app")).sandbox("s1", true).container("c1", "s1", "app", crRunning, 0).
		probeKill("c1", "Container app failed liveness probe, will be restarted")
	got := planPod(w.pod, w.rt)
	if len(got.kill) != 1 || got.kill[0].grace == nil || *got.kill[0].grace != 7 || got.kill[0].message != "Container app failed liveness probe, will be restarted" {
		t.Fatalf("kill = %+v", got.kill)
	}
}

func TestPlanPodChangedSpecMessage(t *testing.T) {
	pod := podWith(corev1.RestartPolicyAlways, nil, "app")
	w := newPlanWorld(pod).sandbox("s1", true).container("c1", "s1", "app", crRunning, 0, "old")
	got := planPod(pod, w.rt)
	if len(got.kill) != 1 || got.kill[0].message != "Container app definition changed, will be restarted" {
		t.Fatalf("kill = %+v", got.kill)
	}
}
