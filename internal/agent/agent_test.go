package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/cri"
	"github.com/berth-dev/berth/internal/cri/fakecri"
	"google.golang.org/grpc/codes"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestNewRequiresConfig(t *testing.T) {
	w := newWorld(t)
	for name, cfg := range map[string]Config{
		"no client":   {Runtime: w.rt, NodeName: "n", DataDir: "d"},
		"no runtime":  {Client: w.cs, NodeName: "n", DataDir: "d"},
		"no node":     {Client: w.cs, Runtime: w.rt, DataDir: "d"},
		"no data dir": {Client: w.cs, Runtime: w.rt, NodeName: "n"},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}

func TestAgentRunsPod(t *testing.T) {
	w := newWorld(t)
	a, _ := w.startAgent()
	pod := w.createPod(newTestPod("web", corev1.RestartPolicyAlways))

	c := w.runningContainer(pod.UID, "app")
	got := w.waitPod(pod, "phase Running and Ready", func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodRunning && condition(p, corev1.PodReady) == corev1.ConditionTrue
	})

	sbs := w.sandboxes(pod.UID)
	if len(sbs) != 1 || sbs[0].State != runtimeapi.PodSandboxState_SANDBOX_READY {
		t.Fatalf("sandboxes = %v, want one ready", sbs)
	}
	if c.PodSandboxId != sbs[0].Id {
		t.Errorf("container in sandbox %s, want %s", c.PodSandboxId, sbs[0].Id)
	}
	for _, ct := range []corev1.PodConditionType{corev1.PodReadyToStartContainers, corev1.PodInitialized,
		corev1.ContainersReady, corev1.PodReady, corev1.PodScheduled} {
		if s := condition(got, ct); s != corev1.ConditionTrue {
			t.Errorf("condition %s = %q, want True", ct, s)
		}
	}
	cs := containerStatus(got, "app")
	if cs == nil {
		t.Fatalf("no status for app: %s", describeStatus(got.Status))
	}
	if want := "fakecri://" + c.Id; cs.ContainerID != want {
		t.Errorf("containerID = %q, want %q", cs.ContainerID, want)
	}
	if cs.State.Running == nil || !cs.Ready || cs.Started == nil || !*cs.Started || cs.RestartCount != 0 {
		t.Errorf("container status = %s ready=%v started=%v", describeStatus(got.Status), cs.Ready, cs.Started)
	}
	if cs.Image != testImage || cs.ImageID == "" {
		t.Errorf("image %q imageID %q", cs.Image, cs.ImageID)
	}
	sbStatus, err := w.rt.PodSandboxStatus(context.Background(), sbs[0].Id)
	if err != nil {
		t.Fatal(err)
	}
	if ip := sbStatus.GetNetwork().GetIp(); ip == "" || got.Status.PodIP != ip || len(got.Status.PodIPs) != 1 || got.Status.PodIPs[0].IP != ip {
		t.Errorf("podIP %q podIPs %v, want the sandbox's %q", got.Status.PodIP, got.Status.PodIPs, ip)
	}
	if got.Status.HostIP != "192.0.2.10" || got.Status.StartTime == nil {
		t.Errorf("hostIP %q startTime %v", got.Status.HostIP, got.Status.StartTime)
	}

	// What the runtime was asked for.
	sbCfg, _ := w.rt.SandboxConfig(sbs[0].Id)
	if sbCfg.Hostname != "web" || sbCfg.Metadata.Uid != string(pod.UID) || sbCfg.Labels[labelManaged] != "true" {
		t.Errorf("sandbox config: hostname %q metadata %v labels %v", sbCfg.Hostname, sbCfg.Metadata, sbCfg.Labels)
	}
	cCfg, _ := w.rt.ContainerConfig(c.Id)
	if cCfg.Metadata.Name != "app" || cCfg.Metadata.Attempt != 0 || cCfg.Annotations[annoRestartCount] != "0" ||
		cCfg.Labels[labelContainerName] != "app" || cCfg.Labels[labelPodUID] != string(pod.UID) {
		t.Errorf("container config: metadata %v labels %v annotations %v", cCfg.Metadata, cCfg.Labels, cCfg.Annotations)
	}
	hosts := ""
	for _, m := range cCfg.Mounts {
		if m.ContainerPath == "/etc/hosts" {
			hosts = m.HostPath
		}
	}
	if b, err := os.ReadFile(hosts); err != nil || !strings.HasSuffix(string(b), sbStatus.Network.Ip+"\tweb\n") {
		t.Errorf("/etc/hosts mount %q: %q, %v", hosts, b, err)
	}

	// The node is registered, and GetPod serves the pod.
	node, err := w.cs.CoreV1().Nodes().Get(context.Background(), "node1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ready := false
	for _, c := range node.Status.Conditions {
		ready = ready || (c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue)
	}
	if !ready {
		t.Errorf("node conditions %v: not Ready", node.Status.Conditions)
	}
	if p, err := a.GetPod("default", "web"); err != nil || p.UID != pod.UID {
		t.Errorf("GetPod = %v, %v", p, err)
	}
}

func TestAgentNeverPodSucceeds(t *testing.T) {
	w := newWorld(t)
	w.startAgent()
	pod := w.createPod(newTestPod("job", corev1.RestartPolicyNever))
	c := w.runningContainer(pod.UID, "app")
	w.waitPod(pod, "phase Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })

	if err := w.rt.ExitContainer(c.Id, 0, "", ""); err != nil {
		t.Fatal(err)
	}
	got := w.waitPod(pod, "phase Succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
	cs := containerStatus(got, "app")
	if term := cs.State.Terminated; term == nil || term.ExitCode != 0 || term.Reason != "Completed" || term.ContainerID != "fakecri://"+c.Id {
		t.Errorf("state = %s, want terminated 0 Completed", describeStatus(got.Status))
	}
	if cs.Ready || cs.RestartCount != 0 {
		t.Errorf("ready %v restartCount %d", cs.Ready, cs.RestartCount)
	}
	if s := condition(got, corev1.PodReady); s != corev1.ConditionFalse {
		t.Errorf("Ready = %s, want False", s)
	}
	// A finished pod keeps no sandbox running, and nothing restarts.
	eventually(t, "the sandbox to be stopped", func() (bool, string) {
		sbs := w.sandboxes(pod.UID)
		return len(sbs) == 1 && sbs[0].State == runtimeapi.PodSandboxState_SANDBOX_NOTREADY, fmt.Sprint(sbs)
	})
	if n := len(w.containers(pod.UID, "app")); n != 1 {
		t.Errorf("%d app containers, want 1 (no restart)", n)
	}
}

func TestAgentCrashLoopBackOff(t *testing.T) {
	w := newWorld(t)
	w.startAgent()
	pod := w.createPod(newTestPod("crash", corev1.RestartPolicyAlways))
	first := w.runningContainer(pod.UID, "app")
	w.waitPod(pod, "phase Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })

	// The first failure restarts at once.
	if err := w.rt.ExitContainer(first.Id, 1, "", ""); err != nil {
		t.Fatal(err)
	}
	got := w.waitPod(pod, "a restart", func(p *corev1.Pod) bool {
		cs := containerStatus(p, "app")
		return cs != nil && cs.RestartCount == 1 && cs.State.Running != nil
	})
	cs := containerStatus(got, "app")
	second := strings.TrimPrefix(cs.ContainerID, "fakecri://")
	if second == first.Id {
		t.Fatalf("restarted container has the old ID %s", second)
	}
	if last := cs.LastTerminationState.Terminated; last == nil || last.ExitCode != 1 || last.Reason != "Error" || last.ContainerID != "fakecri://"+first.Id {
		t.Errorf("lastState = %s, want terminated 1 Error of the first container", describeState(cs.LastTerminationState))
	}
	if got.Status.Phase != corev1.PodRunning {
		t.Errorf("phase %s, want Running", got.Status.Phase)
	}
	if cfg, _ := w.rt.ContainerConfig(second); cfg.Metadata.Attempt != 1 {
		t.Errorf("attempt %d, want 1", cfg.Metadata.Attempt)
	}

	// The second failure is within the 10 s back-off.
	if err := w.rt.ExitContainer(second, 1, "", ""); err != nil {
		t.Fatal(err)
	}
	got = w.waitPod(pod, "CrashLoopBackOff", func(p *corev1.Pod) bool {
		cs := containerStatus(p, "app")
		return cs != nil && cs.State.Waiting != nil && cs.State.Waiting.Reason == "CrashLoopBackOff"
	})
	cs = containerStatus(got, "app")
	wantMsg := "back-off 10s restarting failed container=app pod=crash_default(uid-crash)"
	if cs.State.Waiting.Message != wantMsg {
		t.Errorf("message %q, want %q", cs.State.Waiting.Message, wantMsg)
	}
	if last := cs.LastTerminationState.Terminated; last == nil || last.ExitCode != 1 || last.ContainerID != "fakecri://"+second {
		t.Errorf("lastState = %s, want the second container's exit 1", describeState(cs.LastTerminationState))
	}
	if cs.RestartCount != 1 || cs.Ready || cs.ContainerID != "fakecri://"+second {
		t.Errorf("restartCount %d ready %v containerID %s", cs.RestartCount, cs.Ready, cs.ContainerID)
	}
	if got.Status.Phase != corev1.PodRunning || condition(got, corev1.PodReady) != corev1.ConditionFalse {
		t.Errorf("phase %s Ready %s, want Running and False", got.Status.Phase, condition(got, corev1.PodReady))
	}
	if n := len(w.calls("CreateContainer")); n != 2 {
		t.Errorf("%d containers created, want 2 (the third waits for the back-off)", n)
	}
}

// TestAgentCrashLoopBackOffWithSecurityContext is TestAgentCrashLoopBackOff
// for a container with a securityContext (any pointer field will do): the
// back-off key includes containerHash, which hashes pointer addresses, so
// it changes with every sync and the second failure restarts at once.
func TestAgentCrashLoopBackOffWithSecurityContext(t *testing.T) {
	w := newWorld(t)
	w.startAgent()
	pod := w.createPod(newTestPod("crashsc", corev1.RestartPolicyAlways, corev1.Container{Name: "app", Image: testImage,
		SecurityContext: &corev1.SecurityContext{RunAsUser: ptrInt64(1000)}}))
	first := w.runningContainer(pod.UID, "app")
	if err := w.rt.ExitContainer(first.Id, 1, "", ""); err != nil {
		t.Fatal(err)
	}
	got := w.waitPod(pod, "a restart", func(p *corev1.Pod) bool {
		cs := containerStatus(p, "app")
		return cs != nil && cs.RestartCount == 1 && cs.State.Running != nil
	})
	second := strings.TrimPrefix(containerStatus(got, "app").ContainerID, "fakecri://")
	if err := w.rt.ExitContainer(second, 1, "", ""); err != nil {
		t.Fatal(err)
	}
	got = w.waitPod(pod, "CrashLoopBackOff (or a second restart)", func(p *corev1.Pod) bool {
		cs := containerStatus(p, "app")
		return cs != nil && (cs.RestartCount >= 2 || cs.State.Waiting != nil && cs.State.Waiting.Reason == "CrashLoopBackOff")
	})
	if cs := containerStatus(got, "app"); cs.RestartCount != 1 || cs.State.Waiting == nil {
		t.Errorf("after the second failure within 10 s: %s; want waiting CrashLoopBackOff with restartCount 1", describeStatus(got.Status))
	}
}

func TestAgentTerminatesDeletedPod(t *testing.T) {
	w := newWorld(t)
	w.startAgent()
	pod := w.createPod(newTestPod("del", corev1.RestartPolicyAlways))
	c := w.runningContainer(pod.UID, "app")
	w.waitPod(pod, "phase Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	sb := w.sandboxes(pod.UID)[0]
	podDir := filepath.Join(w.dataDir, "pods", "default_del_"+string(pod.UID))
	if _, err := os.Stat(podDir); err != nil {
		t.Fatalf("pod directory: %v", err)
	}

	// What the API server does on a graceful delete.
	p, err := w.getPod(pod)
	if err != nil {
		t.Fatal(err)
	}
	p.DeletionTimestamp = &metav1.Time{Time: time.Now().Add(30 * time.Second)}
	p.DeletionGracePeriodSeconds = ptrInt64(30)
	if _, err := w.cs.CoreV1().Pods("default").Update(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	eventually(t, "the pod to be deleted from the API", func() (bool, string) {
		p, err := w.getPod(pod)
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		if err != nil {
			return false, err.Error()
		}
		return false, describeStatus(p.Status)
	})
	var stop *fakecri.Call
	for _, call := range w.calls("StopContainer") {
		if call.ID == c.Id {
			stop = &call
		}
	}
	if stop == nil {
		t.Fatalf("StopContainer(%s) not called; calls: %v", c.Id, w.calls("StopContainer"))
	}
	if stop.Timeout <= 28*time.Second || stop.Timeout > 30*time.Second {
		t.Errorf("StopContainer timeout %s, want the remaining grace period (~30s)", stop.Timeout)
	}
	if !w.calledWith("StopPodSandbox", sb.Id) || !w.calledWith("RemovePodSandbox", sb.Id) {
		t.Errorf("sandbox %s: StopPodSandbox %v RemovePodSandbox %v", sb.Id, w.calledWith("StopPodSandbox", sb.Id), w.calledWith("RemovePodSandbox", sb.Id))
	}
	if sbs, cs := w.sandboxes(pod.UID), w.containers(pod.UID, ""); len(sbs)+len(cs) != 0 {
		t.Errorf("left in the runtime: sandboxes %v containers %v", sbs, cs)
	}
	if _, err := os.Stat(podDir); !os.IsNotExist(err) {
		t.Errorf("pod directory %s not removed: %v", podDir, err)
	}
	// The last status before the deletion is a terminal one.
	h := w.history(pod.UID)
	if last := h[len(h)-1]; last.Phase != corev1.PodFailed {
		t.Errorf("last status %s, want phase Failed (killed, exit 137)", describeStatus(last))
	}
}

// TestAgentDeletedPodWhoseContainersExitZeroSucceeds: the kubelet computes
// the final status of a deleted pod with podIsTerminal=true, so when every
// container stopped with exit 0 the phase is Succeeded whatever the
// restart policy (SyncTerminatingPod → getPhase). updateStatus turns it
// into Failed for restartPolicy Always.
func TestAgentDeletedPodWhoseContainersExitZeroSucceeds(t *testing.T) {
	w := newWorld(t)
	w.rt.ScriptContainer("app", fakecri.Behaviour{HandlesStop: true}) // exits 0 on SIGTERM
	w.startAgent()
	pod := w.createPod(newTestPod("graceful", corev1.RestartPolicyAlways))
	w.runningContainer(pod.UID, "app")
	w.waitPod(pod, "phase Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	p, err := w.getPod(pod)
	if err != nil {
		t.Fatal(err)
	}
	p.DeletionTimestamp = &metav1.Time{Time: time.Now().Add(30 * time.Second)}
	p.DeletionGracePeriodSeconds = ptrInt64(30)
	if _, err := w.cs.CoreV1().Pods("default").Update(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the pod to be deleted from the API", func() (bool, string) {
		_, err := w.getPod(pod)
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	h := w.history(pod.UID)
	if last := h[len(h)-1]; last.Phase != corev1.PodSucceeded {
		t.Errorf("last status %s, want phase Succeeded (all containers exited 0)", describeStatus(last))
	}
}

func TestAgentCleansUpPodGoneFromAPI(t *testing.T) {
	w := newWorld(t)
	w.startAgent()
	pod := w.createPod(newTestPod("gone", corev1.RestartPolicyAlways))
	w.runningContainer(pod.UID, "app")
	// A pod of another UID keeps running.
	other := w.createPod(newTestPod("stays", corev1.RestartPolicyAlways))
	w.runningContainer(other.UID, "app")
	podDir := filepath.Join(w.dataDir, "pods", "default_gone_"+string(pod.UID))

	if err := w.cs.CoreV1().Pods("default").Delete(context.Background(), "gone", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the runtime objects to be removed", func() (bool, string) {
		sbs, cs := w.sandboxes(pod.UID), w.containers(pod.UID, "")
		return len(sbs)+len(cs) == 0, fmt.Sprintf("sandboxes %v containers %v", sbs, cs)
	})
	eventually(t, "the pod directory to be removed", func() (bool, string) {
		_, err := os.Stat(podDir)
		return os.IsNotExist(err), fmt.Sprint(err)
	})
	if cs := w.containers(other.UID, "app"); len(cs) != 1 || cs[0].State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Errorf("the other pod's containers: %v", cs)
	}
}

func TestAgentCleansUpOrphansAtStartup(t *testing.T) {
	w := newWorld(t)
	_, stop := w.startAgent()
	pod := w.createPod(newTestPod("orphan", corev1.RestartPolicyAlways))
	w.runningContainer(pod.UID, "app")
	stop()

	// Deleted while no agent ran.
	if err := w.cs.CoreV1().Pods("default").Delete(context.Background(), "orphan", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	w.startAgent()
	eventually(t, "the orphan's runtime objects to be removed", func() (bool, string) {
		sbs, cs := w.sandboxes(pod.UID), w.containers(pod.UID, "")
		return len(sbs)+len(cs) == 0, fmt.Sprintf("sandboxes %v containers %v", sbs, cs)
	})
}

func TestAgentImagePullBackOff(t *testing.T) {
	w := newWorld(t)
	const image = "registry.test/team/app:1"
	pullErr := cri.NewError(codes.NotFound, `failed to pull and unpack image "registry.test/team/app:1": not found`)
	w.rt.ScriptPull(image, fakecri.PullScript{Err: pullErr})
	w.startAgent()
	pod := w.createPod(newTestPod("pull", corev1.RestartPolicyAlways, corev1.Container{Name: "app", Image: image}))

	got := w.waitPod(pod, "ImagePullBackOff", func(p *corev1.Pod) bool {
		cs := containerStatus(p, "app")
		return cs != nil && cs.State.Waiting != nil && cs.State.Waiting.Reason == "ImagePullBackOff"
	})
	reasons := w.waitingReasons(pod.UID, "app")
	iPull := -1
	for i, r := range reasons {
		if r == "ErrImagePull" {
			iPull = i
			break
		}
	}
	if iPull < 0 || reasons[len(reasons)-1] != "ImagePullBackOff" {
		t.Errorf("waiting reasons %v, want ErrImagePull then ImagePullBackOff", reasons)
	}
	for _, s := range w.history(pod.UID) {
		for _, cs := range s.ContainerStatuses {
			if wt := cs.State.Waiting; wt != nil && wt.Reason == "ErrImagePull" && wt.Message != pullErr.Error() {
				t.Errorf("ErrImagePull message %q, want %q", wt.Message, pullErr.Error())
			}
		}
	}
	cs := containerStatus(got, "app")
	wantMsg := fmt.Sprintf("Back-off pulling image %q: ErrImagePull: %s", image, pullErr.Error())
	if cs.State.Waiting.Message != wantMsg {
		t.Errorf("ImagePullBackOff message %q, want %q", cs.State.Waiting.Message, wantMsg)
	}
	if got.Status.Phase != corev1.PodPending || cs.ContainerID != "" || cs.Ready {
		t.Errorf("status %s", describeStatus(got.Status))
	}
	if n := len(w.calls("CreateContainer")); n != 0 {
		t.Errorf("%d containers created without an image", n)
	}
	if n := len(w.rt.PullCalls()); n != 1 {
		t.Errorf("%d pulls, want 1 (the next waits for the back-off)", n)
	}
}

func TestAgentStartErrorNever(t *testing.T) {
	w := newWorld(t)
	w.rt.MissingExecutable("nosuchcmd")
	w.startAgent()
	pod := w.createPod(newTestPod("starterr", corev1.RestartPolicyNever, corev1.Container{Name: "app", Image: testImage,
		Command: []string{"nosuchcmd", "--flag"}}))

	got := w.waitPod(pod, "phase Failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
	cs := containerStatus(got, "app")
	term := cs.State.Terminated
	if term == nil {
		t.Fatalf("state %s, want terminated StartError", describeStatus(got.Status))
	}
	if term.Reason != "StartError" || term.ExitCode != 128 ||
		!strings.Contains(term.Message, `exec: "nosuchcmd": executable file not found in $PATH`) {
		t.Errorf("terminated = %d %s %q", term.ExitCode, term.Reason, term.Message)
	}
	if !term.StartedAt.IsZero() {
		t.Errorf("startedAt %v, want unset for a container that never started", term.StartedAt)
	}
	if cs.RestartCount != 0 || len(w.calls("CreateContainer")) != 1 {
		t.Errorf("restartCount %d, %d containers created; want 0 and 1", cs.RestartCount, len(w.calls("CreateContainer")))
	}
	// The kubelet's event carries the runtime's message, never "<nil>".
	eventually(t, "a Failed event with the runtime's message", func() (bool, string) {
		evs := w.events(pod)
		for _, e := range evs {
			if strings.HasPrefix(e, "Failed: Error: ") && strings.Contains(e, "executable file not found") && !strings.Contains(e, "<nil>") {
				return true, ""
			}
		}
		return false, strings.Join(evs, "; ")
	})
}

func TestAgentAdoptsRunningPod(t *testing.T) {
	w := newWorld(t)
	_, stop := w.startAgent()
	pod := w.createPod(newTestPod("adopt", corev1.RestartPolicyAlways))
	c := w.runningContainer(pod.UID, "app")
	before := w.waitPod(pod, "phase Running", func(p *corev1.Pod) bool {
		return p.Status.Phase == corev1.PodRunning && condition(p, corev1.PodReady) == corev1.ConditionTrue
	})
	stop()
	if cs := w.containers(pod.UID, "app"); len(cs) != 1 || cs[0].State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Fatalf("containers after the agent stopped: %v; want the running one kept", cs)
	}
	w.rt.ResetCalls()
	nStatuses := len(w.history(pod.UID))

	w.startAgent()
	// Wait until the new agent synced the pod: it read the container's
	// status for the pod status after the sync.
	eventually(t, "the new agent to sync the pod", func() (bool, string) {
		return w.calledWith("ContainerStatus", c.Id) && w.calledWith("PodSandboxStatus", c.PodSandboxId), fmt.Sprint(len(w.rt.Calls()), " calls")
	})
	for _, m := range []string{"RunPodSandbox", "CreateContainer", "StartContainer", "StopContainer", "StopPodSandbox", "RemoveContainer", "PullImage"} {
		if n := len(w.calls(m)); n != 0 {
			t.Errorf("the new agent called %s %d times", m, n)
		}
	}
	after, err := w.getPod(pod)
	if err != nil {
		t.Fatal(err)
	}
	cs := containerStatus(after, "app")
	if cs.ContainerID != "fakecri://"+c.Id || cs.RestartCount != 0 || cs.State.Running == nil ||
		after.Status.Phase != corev1.PodRunning || condition(after, corev1.PodReady) != corev1.ConditionTrue {
		t.Errorf("after adoption: %s; before: %s", describeStatus(after.Status), describeStatus(before.Status))
	}
	for _, s := range w.history(pod.UID)[nStatuses:] {
		if cs := s.ContainerStatuses; len(cs) != 1 || cs[0].ContainerID != "fakecri://"+c.Id || cs[0].State.Running == nil {
			t.Errorf("the new agent wrote %s", describeStatus(s))
		}
	}
}

// TestAgentRecreatesLostSandbox: when a pod's sandbox dies (node reboot,
// runtime restart) the kubelet creates a new one and restarts the
// containers, numbering the attempt after the previous container
// (restartCount+1). syncPod starts them in the new sandbox with attempt 0,
// whose CRI name ("app_<pod>_<ns>_<uid>_0") is still held by the exited
// container of the old sandbox, so CreateContainer fails for ever.
func TestAgentRecreatesLostSandbox(t *testing.T) {
	w := newWorld(t)
	w.startAgent()
	pod := w.createPod(newTestPod("lost", corev1.RestartPolicyAlways))
	c := w.runningContainer(pod.UID, "app")
	w.waitPod(pod, "phase Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	if err := w.rt.StopPodSandbox(context.Background(), c.PodSandboxId); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a new sandbox", func() (bool, string) {
		sbs := w.sandboxes(pod.UID)
		return len(sbs) == 2, fmt.Sprint(sbs)
	})
	var last string
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		p, err := w.getPod(pod)
		if err != nil {
			t.Fatal(err)
		}
		last = describeStatus(p.Status)
		if cs := containerStatus(p, "app"); cs != nil && cs.State.Running != nil && cs.ContainerID != "fakecri://"+c.Id {
			if cs.RestartCount != 1 {
				t.Errorf("restartCount %d, want 1", cs.RestartCount)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	var errs []string
	for _, call := range w.calls("CreateContainer") {
		if call.Err != nil {
			errs = append(errs, call.Err.Error())
		}
	}
	t.Fatalf("the container was not restarted in the new sandbox; status %s; CreateContainer errors %q", last, errs)
}

// TestAgentNeverPodWithLostSandboxFails: with restartPolicy Never the
// kubelet does not create a new sandbox for a pod whose containers have
// run (computePodActions); the killed container makes the pod Failed. The
// agent creates a new sandbox, tries to run the container again and leaves
// the pod Pending.
func TestAgentNeverPodWithLostSandboxFails(t *testing.T) {
	w := newWorld(t)
	w.startAgent()
	pod := w.createPod(newTestPod("lostnever", corev1.RestartPolicyNever))
	c := w.runningContainer(pod.UID, "app")
	w.waitPod(pod, "phase Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	if err := w.rt.StopPodSandbox(context.Background(), c.PodSandboxId); err != nil {
		t.Fatal(err)
	}
	var got *corev1.Pod
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		p, err := w.getPod(pod)
		if err != nil {
			t.Fatal(err)
		}
		got = p
		if p.Status.Phase == corev1.PodFailed {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got.Status.Phase != corev1.PodFailed {
		t.Errorf("status %s, want phase Failed (the container was killed, exit 137)", describeStatus(got.Status))
	}
	if n := len(w.calls("RunPodSandbox")); n != 1 {
		t.Errorf("%d sandboxes created, want 1 (no new sandbox for a Never pod that ran)", n)
	}
}

// TestAgentSurvivesRuntimeErrors: a failing RunPodSandbox is retried and
// reported as an event, not a crash.
func TestAgentSurvivesRuntimeErrors(t *testing.T) {
	w := newWorld(t)
	w.rt.InjectErrorOnce("RunPodSandbox", errors.New("network not ready"))
	w.startAgent()
	pod := w.createPod(newTestPod("retry", corev1.RestartPolicyAlways))
	w.runningContainer(pod.UID, "app")
	w.waitPod(pod, "phase Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	if n := len(w.calls("RunPodSandbox")); n != 2 {
		t.Errorf("RunPodSandbox called %d times, want 2", n)
	}
	eventually(t, "a FailedCreatePodSandBox event", func() (bool, string) {
		evs, err := w.cs.CoreV1().Events("default").List(context.Background(), metav1.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		var reasons []string
		for _, e := range evs.Items {
			if e.Reason == "FailedCreatePodSandBox" && strings.Contains(e.Message, "network not ready") && e.InvolvedObject.UID == types.UID("uid-retry") {
				return true, ""
			}
			reasons = append(reasons, e.Reason)
		}
		return false, fmt.Sprint(reasons)
	})
}
