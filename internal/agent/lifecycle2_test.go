package agent

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestAgentInitContainers(t *testing.T) {
	w := newWorld(t)
	w.startAgent()
	pod := newTestPod("init", corev1.RestartPolicyAlways)
	pod.Spec.InitContainers = []corev1.Container{
		{Name: "init1", Image: testImage, Command: []string{"sh", "-c", "echo one"}},
		{Name: "init2", Image: testImage, Command: []string{"true"}},
	}
	pod = w.createPod(pod)
	main := w.runningContainer(pod.UID, "app")
	got := w.waitPod(pod, "phase Running", func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodRunning && condition(p, corev1.PodReady) == corev1.ConditionTrue
	})
	if condition(got, corev1.PodInitialized) != corev1.ConditionTrue {
		t.Errorf("Initialized = %s", condition(got, corev1.PodInitialized))
	}
	for _, name := range []string{"init1", "init2"} {
		cs := containerStatus(got, name)
		if cs == nil || cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 0 || cs.State.Terminated.Reason != "Completed" {
			t.Errorf("%s: %s", name, describeStatus(got.Status))
		}
	}
	// In order: init1, init2, then app, each created after the previous ended.
	var order []string
	for _, c := range w.rt.Calls() {
		if c.Method == "StartContainer" {
			cfg, _ := w.rt.ContainerConfig(c.ID)
			order = append(order, cfg.GetMetadata().GetName())
		}
	}
	if strings.Join(order, ",") != "init1,init2,app" {
		t.Errorf("started %v, want init1, init2, app", order)
	}
	// The statuses written while initializing said so.
	sawInit := false
	for _, s := range w.history(pod.UID) {
		if s.Phase == corev1.PodPending && len(s.ContainerStatuses) == 1 && s.ContainerStatuses[0].State.Waiting != nil &&
			s.ContainerStatuses[0].State.Waiting.Reason == "PodInitializing" {
			sawInit = true
		}
	}
	if !sawInit {
		t.Error("no Pending status with app waiting PodInitializing")
	}
	if cfg, _ := w.rt.ContainerConfig(main.Id); cfg.Annotations[annoInitContainer] != "false" {
		t.Errorf("app annotations %v", cfg.Annotations)
	}
}

func TestAgentFailedInitContainerNever(t *testing.T) {
	w := newWorld(t)
	w.startAgent()
	pod := newTestPod("initfail", corev1.RestartPolicyNever)
	pod.Spec.InitContainers = []corev1.Container{{Name: "init1", Image: testImage, Command: []string{"sh", "-c", "exit 3"}}}
	pod = w.createPod(pod)
	got := w.waitPod(pod, "phase Failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
	cs := containerStatus(got, "init1")
	if cs == nil || cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 3 || cs.State.Terminated.Reason != "Error" {
		t.Errorf("init1: %s", describeStatus(got.Status))
	}
	if condition(got, corev1.PodInitialized) != corev1.ConditionFalse {
		t.Errorf("Initialized = %s, want False", condition(got, corev1.PodInitialized))
	}
	if n := len(w.containers(pod.UID, "app")); n != 0 {
		t.Errorf("app created %d times after a failed init container", n)
	}
}

func TestAgentSidecar(t *testing.T) {
	w := newWorld(t)
	w.startAgent()
	always := corev1.ContainerRestartPolicyAlways
	pod := newTestPod("sidecar", corev1.RestartPolicyAlways)
	pod.Spec.InitContainers = []corev1.Container{{Name: "proxy", Image: testImage, RestartPolicy: &always}}
	pod = w.createPod(pod)
	proxy := w.runningContainer(pod.UID, "proxy")
	app := w.runningContainer(pod.UID, "app")
	got := w.waitPod(pod, "phase Running and Ready", func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodRunning && condition(p, corev1.PodReady) == corev1.ConditionTrue
	})
	cs := containerStatus(got, "proxy")
	if cs == nil || cs.State.Running == nil || !cs.Ready || cs.Started == nil || !*cs.Started || cs.ContainerID != "fakecri://"+proxy.Id {
		t.Errorf("proxy: %s", describeStatus(got.Status))
	}
	if proxy.CreatedAt > app.CreatedAt {
		t.Error("the sidecar was created after the main container")
	}
}

func TestAgentOnFailureSucceeds(t *testing.T) {
	w := newWorld(t)
	w.startAgent()
	pod := w.createPod(newTestPod("onfail", corev1.RestartPolicyOnFailure, corev1.Container{Name: "app", Image: testImage,
		Command: []string{"sh", "-c", "echo done; exit 0"}}))
	got := w.waitPod(pod, "phase Succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
	if cs := containerStatus(got, "app"); cs.RestartCount != 0 || cs.State.Terminated == nil || cs.State.Terminated.Reason != "Completed" {
		t.Errorf("status %s", describeStatus(got.Status))
	}
}

func TestAgentCreateContainerConfigError(t *testing.T) {
	w := newWorld(t)
	w.startAgent()
	pod := w.createPod(newTestPod("cfgerr", corev1.RestartPolicyAlways, corev1.Container{Name: "app", Image: testImage,
		Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "settings"}, Key: "x"}}}}}))
	got := w.waitPod(pod, "CreateContainerConfigError", func(p *corev1.Pod) bool {
		cs := containerStatus(p, "app")
		return cs != nil && cs.State.Waiting != nil && cs.State.Waiting.Reason == "CreateContainerConfigError"
	})
	if msg := containerStatus(got, "app").State.Waiting.Message; msg != `configmap "settings" not found` {
		t.Errorf("message %q", msg)
	}
	if got.Status.Phase != corev1.PodPending || len(w.calls("CreateContainer")) != 0 {
		t.Errorf("phase %s, %d containers created", got.Status.Phase, len(w.calls("CreateContainer")))
	}
	// The sandbox is up: the pod only waits for its configuration.
	if sbs := w.sandboxes(pod.UID); len(sbs) != 1 || sbs[0].State != runtimeapi.PodSandboxState_SANDBOX_READY {
		t.Errorf("sandboxes %v", sbs)
	}
}

func TestAgentRecordsEvents(t *testing.T) {
	w := newWorld(t)
	w.startAgent()
	pod := w.createPod(newTestPod("events", corev1.RestartPolicyAlways))
	w.runningContainer(pod.UID, "app")
	want := map[string]string{
		"Pulled":  fmt.Sprintf("Container image %q already present on machine", testImage),
		"Created": "Created container: app",
		"Started": "Started container app",
	}
	eventually(t, "Pulled, Created and Started events", func() (bool, string) {
		evs, err := w.cs.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		seen := map[string]bool{}
		var all []string
		for _, e := range evs.Items {
			all = append(all, e.Reason+": "+e.Message)
			if e.InvolvedObject.UID == pod.UID && want[e.Reason] == e.Message && e.Source.Component == "kubelet" && e.Type == corev1.EventTypeNormal {
				seen[e.Reason] = true
			}
		}
		return len(seen) == len(want), strings.Join(all, "; ")
	})
}

// TestAgentSidecarBackOffDoesNotHoldBackContainers: once a pod has
// initialized, a sidecar that is restarting (even in crash-loop back-off)
// must not stop the agent from restarting the pod's other containers, as
// in the kubelet. syncPod's init loop marks the pod not initialized and
// stops at an exited sidecar. (Today the unstable containerHash keeps
// sidecars out of back-off and hides this.)
func TestAgentSidecarBackOffDoesNotHoldBackContainers(t *testing.T) {
	w := newWorld(t)
	w.startAgent()
	always := corev1.ContainerRestartPolicyAlways
	pod := newTestPod("sidecarbo", corev1.RestartPolicyAlways)
	pod.Spec.InitContainers = []corev1.Container{{Name: "proxy", Image: testImage, RestartPolicy: &always}}
	pod = w.createPod(pod)
	app := w.runningContainer(pod.UID, "app")
	// Crash the sidecar twice: the second exit is within its back-off.
	for i := 0; i < 2; i++ {
		p := w.runningContainer(pod.UID, "proxy")
		if err := w.rt.ExitContainer(p.Id, 1, "", ""); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			eventually(t, "the sidecar's restart", func() (bool, string) {
				return len(w.containers(pod.UID, "proxy")) == 2, ""
			})
		}
	}
	// Now the main container fails for the first time: it restarts at once.
	if err := w.rt.ExitContainer(app.Id, 1, "", ""); err != nil {
		t.Fatal(err)
	}
	var last string
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, c := range w.containers(pod.UID, "app") {
			if c.Id != app.Id && c.State == runtimeapi.ContainerState_CONTAINER_RUNNING {
				return
			}
		}
		if p, err := w.getPod(pod); err == nil {
			last = describeStatus(p.Status)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the main container was not restarted while the sidecar was restarting; status %s", last)
}
