package agent

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// TestEphemeralContainers: an ephemeral container added to a running pod
// starts once in its sandbox, shares its target's process namespace
// (NamespaceMode_TARGET), is reported in ephemeralContainerStatuses (never
// ready, no started) and is never restarted, whatever the pod's restart
// policy; the pod stays Running and its containers untouched.
func TestEphemeralContainers(t *testing.T) {
	w := newWorld(t)
	w.startAgent()
	pod := w.createPod(newTestPod("eph", corev1.RestartPolicyAlways))
	app := w.runningContainer(pod.UID, "app")
	w.waitPod(pod, "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })

	p, err := w.getPod(pod)
	if err != nil {
		t.Fatal(err)
	}
	p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{TargetContainerName: "app",
		EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "dbg", Image: testImage, Stdin: true, TTY: true}}}
	if _, err := w.cs.CoreV1().Pods("default").Update(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	dbg := w.runningContainer(pod.UID, "dbg")
	cfg, ok := w.rt.ContainerConfig(dbg.Id)
	if !ok {
		t.Fatal("no config recorded for the ephemeral container")
	}
	ns := cfg.GetLinux().GetSecurityContext().GetNamespaceOptions()
	if ns.GetPid() != runtimeapi.NamespaceMode_TARGET || ns.GetTargetId() != app.Id {
		t.Errorf("ephemeral container's pid namespace = %v target %q, want TARGET %q", ns.GetPid(), ns.GetTargetId(), app.Id)
	}
	if !cfg.Stdin || !cfg.Tty {
		t.Errorf("stdin %v tty %v, want both", cfg.Stdin, cfg.Tty)
	}
	got := w.waitPod(pod, "a running ephemeral container status", func(p *corev1.Pod) bool {
		return len(p.Status.EphemeralContainerStatuses) == 1 && p.Status.EphemeralContainerStatuses[0].State.Running != nil
	})
	if es := got.Status.EphemeralContainerStatuses[0]; es.Ready || es.Started != nil || es.Name != "dbg" {
		t.Errorf("ephemeral status = %+v, want not ready and no started", es)
	}

	if err := w.rt.ExitContainer(dbg.Id, 3, "Error", ""); err != nil {
		t.Fatal(err)
	}
	w.waitPod(pod, "the ephemeral container terminated", func(p *corev1.Pod) bool {
		es := p.Status.EphemeralContainerStatuses
		return len(es) == 1 && es[0].State.Terminated != nil && es[0].State.Terminated.ExitCode == 3
	})
	// Let a few syncs pass: it is not restarted, the pod runs on.
	w.waitPod(pod, "Running, app never restarted", func(p *corev1.Pod) bool {
		cs := containerStatus(p, "app")
		return p.Status.Phase == corev1.PodRunning && cs != nil && cs.RestartCount == 0 && cs.State.Running != nil
	})
	if n := len(w.containers(pod.UID, "dbg")); n != 1 {
		t.Errorf("%d instances of the ephemeral container, want 1 (never restarted)", n)
	}
}

// TestEphemeralTargetNotRunning: a target that does not run is a
// CreateContainerConfigError, as the kubelet's getTargetID.
func TestEphemeralTargetNotRunning(t *testing.T) {
	w := newWorld(t)
	a, _ := w.startAgent()
	pod := newTestPod("eph2", corev1.RestartPolicyAlways)
	pod.Spec.EphemeralContainers = []corev1.EphemeralContainer{{TargetContainerName: "app",
		EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "dbg", Image: testImage}}}
	cfg := &runtimeapi.ContainerConfig{Linux: &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{
		NamespaceOptions: &runtimeapi.NamespaceOption{Pid: runtimeapi.NamespaceMode_CONTAINER}}}}
	c := corev1.Container(pod.Spec.EphemeralContainers[0].EphemeralContainerCommon)
	if err := a.targetNamespaces(context.Background(), pod, &c, cfg); err == nil || err.Error() != "unable to find target container app" {
		t.Errorf("target not running: err %v", err)
	}
	// A pod sharing one process namespace keeps it.
	cfg.Linux.SecurityContext.NamespaceOptions.Pid = runtimeapi.NamespaceMode_POD
	app := corev1.Container{Name: "app"}
	if err := a.targetNamespaces(context.Background(), pod, &app, cfg); err != nil || cfg.Linux.SecurityContext.NamespaceOptions.Pid != runtimeapi.NamespaceMode_POD {
		t.Errorf("a regular container: err %v pid %v", err, cfg.Linux.SecurityContext.NamespaceOptions.Pid)
	}
}
