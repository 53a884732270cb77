package cri_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berth-dev/berth/internal/cri"
	"github.com/berth-dev/berth/internal/cri/critest"
)

func TestProbe(t *testing.T) {
	if os.Getenv("PROBE") == "" {
		t.Skip()
	}
	tc := startContainerd(t)
	c := tc.dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	show := func(what string, err error) {
		var e *cri.Error
		if errors.As(err, &e) {
			t.Logf("%s: code=%v msg=%q", what, e.Code, e.Message)
		} else {
			t.Logf("%s: %v", what, err)
		}
	}
	v, err := c.Version(ctx)
	t.Logf("version %v %v", v, err)
	logdir := t.TempDir()
	sbc := &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{Name: "p", Namespace: "ns", Uid: "u1"},
		Hostname: "p", LogDirectory: logdir,
		Labels: map[string]string{"a": "b"},
		Linux:  &runtimeapi.LinuxPodSandboxConfig{CgroupParent: critest.CgroupParent, SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_POD, Pid: runtimeapi.NamespaceMode_CONTAINER, Ipc: runtimeapi.NamespaceMode_POD}}},
	}
	t0 := time.Now()
	sb, err := c.RunPodSandbox(ctx, sbc, "")
	t.Logf("runp %v %v %v", sb, err, time.Since(t0))
	_, err = c.RunPodSandbox(ctx, sbc, "")
	show("runp dup", err)
	st, err := c.PodSandboxStatus(ctx, sb)
	t.Logf("sbstatus %v %v", st, err)
	_, err = c.PodSandboxStatus(ctx, "nosuch")
	show("sbstatus unknown", err)
	cc := func(name string, cmd ...string) *runtimeapi.ContainerConfig {
		return &runtimeapi.ContainerConfig{Metadata: &runtimeapi.ContainerMetadata{Name: name}, Image: &runtimeapi.ImageSpec{Image: testImage}, Command: cmd, LogPath: name + ".log",
			Linux: &runtimeapi.LinuxContainerConfig{SecurityContext: &runtimeapi.LinuxContainerSecurityContext{NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_POD, Pid: runtimeapi.NamespaceMode_CONTAINER, Ipc: runtimeapi.NamespaceMode_POD}}}}
	}
	id, err := c.CreateContainer(ctx, sb, cc("bad", "nosuchcmd"), sbc)
	t.Logf("create %v %v", id, err)
	_, err = c.CreateContainer(ctx, sb, cc("bad", "nosuchcmd"), sbc)
	show("create dup", err)
	_, err = c.CreateContainer(ctx, "nosuch", cc("x", "true"), sbc)
	show("create nosandbox", err)
	x := cc("noimg", "true")
	x.Image.Image = "berth.test/none:1"
	_, err = c.CreateContainer(ctx, sb, x, sbc)
	show("create noimage", err)
	err = c.StartContainer(ctx, id)
	show("start bad", err)
	cs, err := c.ContainerStatus(ctx, id)
	t.Logf("status bad: %v %v", cs, err)
	err = c.StartContainer(ctx, id)
	show("start bad again", err)
	_, err = c.ContainerStatus(ctx, "nosuch")
	show("cstatus unknown", err)
	err = c.StartContainer(ctx, "nosuch")
	show("start unknown", err)
	err = c.StopContainer(ctx, "nosuch", time.Second)
	show("stop unknown", err)
	_, err = c.ExecSync(ctx, "nosuch", []string{"true"}, 0)
	show("exec unknown", err)

	id2, _ := c.CreateContainer(ctx, sb, cc("sleeper", "sleep", "3600"), sbc)
	err = c.StopContainer(ctx, id2, time.Second)
	show("stop created", err)
	cs, _ = c.ContainerStatus(ctx, id2)
	t.Logf("after stop created: %v", cs.State)
	_, err = c.ExecSync(ctx, id2, []string{"true"}, 0)
	show("exec created", err)
	t0 = time.Now()
	err = c.StartContainer(ctx, id2)
	t.Logf("start %v %v", err, time.Since(t0))
	err = c.StartContainer(ctx, id2)
	show("start running", err)
	r, err := c.ExecSync(ctx, id2, []string{"sh", "-c", "echo out; echo err >&2; exit 7"}, 0)
	t.Logf("exec %q %q %d %v", r.Stdout, r.Stderr, r.ExitCode, err)
	r, err = c.ExecSync(ctx, id2, []string{"nosuchcmd"}, 0)
	t.Logf("exec nosuch %q %q %d", r.Stdout, r.Stderr, r.ExitCode)
	show("exec nosuch err", err)
	r, err = c.ExecSync(ctx, id2, []string{"sh", "-c", "nosuchcmd"}, 0)
	t.Logf("exec sh nosuch %q %q %d", r.Stdout, r.Stderr, r.ExitCode)
	show("exec sh nosuch err", err)
	t0 = time.Now()
	r, err = c.ExecSync(ctx, id2, []string{"sleep", "5"}, time.Second)
	t.Logf("exec timeout %q %q %d %v", r.Stdout, r.Stderr, r.ExitCode, time.Since(t0))
	show("exec timeout err", err)
	r, err = c.ExecSync(ctx, id2, []string{"env"}, 0)
	t.Logf("env %s", r.Stdout)
	err = c.ReopenContainerLog(ctx, id2)
	show("reopen", err)
	cs, _ = c.ContainerStatus(ctx, id2)
	t.Logf("running: %v", cs)
	t0 = time.Now()
	err = c.StopContainer(ctx, id2, time.Second)
	t.Logf("stop %v %v", err, time.Since(t0))
	cs, _ = c.ContainerStatus(ctx, id2)
	t.Logf("stopped: %v", cs)
	err = c.StopContainer(ctx, id2, time.Second)
	show("stop exited", err)
	err = c.StartContainer(ctx, id2)
	show("start exited", err)
	_, err = c.ExecSync(ctx, id2, []string{"true"}, 0)
	show("exec exited", err)
	err = c.ReopenContainerLog(ctx, id2)
	show("reopen exited", err)

	id3, _ := c.CreateContainer(ctx, sb, cc("ok", "true"), sbc)
	c.StartContainer(ctx, id3)
	time.Sleep(300 * time.Millisecond)
	cs, _ = c.ContainerStatus(ctx, id3)
	t.Logf("true: %v", cs)
	id4, _ := c.CreateContainer(ctx, sb, cc("trap", "sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.1; done"), sbc)
	c.StartContainer(ctx, id4)
	t0 = time.Now()
	err = c.StopContainer(ctx, id4, 10*time.Second)
	t.Logf("stop trap %v %v", err, time.Since(t0))
	cs, _ = c.ContainerStatus(ctx, id4)
	t.Logf("trap: %v %v %v", cs.State, cs.ExitCode, cs.Reason)
	id5, _ := c.CreateContainer(ctx, sb, cc("running", "sleep", "3600"), sbc)
	c.StartContainer(ctx, id5)
	t0 = time.Now()
	err = c.RemoveContainer(ctx, id5)
	show("remove running", err)
	t.Logf("took %v", time.Since(t0))
	id6, _ := c.CreateContainer(ctx, sb, cc("running2", "sleep", "3600"), sbc)
	c.StartContainer(ctx, id6)
	t0 = time.Now()
	err = c.StopPodSandbox(ctx, sb)
	t.Logf("stop sb %v %v", err, time.Since(t0))
	cs, _ = c.ContainerStatus(ctx, id6)
	t.Logf("after sb stop: %v %v %v", cs.State, cs.ExitCode, cs.Reason)
	st, _ = c.PodSandboxStatus(ctx, sb)
	t.Logf("sb stopped: %v", st)
	_, err = c.CreateContainer(ctx, sb, cc("late", "true"), sbc)
	show("create in stopped sb", err)
	_, err = c.ExecSync(ctx, id6, []string{"true"}, 0)
	show("exec in stopped", err)
	err = c.StopPodSandbox(ctx, sb)
	show("stop sb twice", err)
	sb2, _ := c.RunPodSandbox(ctx, &runtimeapi.PodSandboxConfig{Metadata: &runtimeapi.PodSandboxMetadata{Name: "p2", Namespace: "ns", Uid: "u2"}, Linux: sbc.Linux}, "")
	t0 = time.Now()
	err = c.RemovePodSandbox(ctx, sb2)
	show("remove ready sb", err)
	t.Logf("took %v", time.Since(t0))
	err = c.RemovePodSandbox(ctx, sb)
	show("remove sb", err)
	_, err = c.ContainerStatus(ctx, id6)
	show("container after sb remove", err)
	err = c.RemovePodSandbox(ctx, sb)
	show("remove sb twice", err)
	err = c.StopPodSandbox(ctx, "nosuch")
	show("stop sb unknown", err)
	img, err := c.ImageStatus(ctx, &runtimeapi.ImageSpec{Image: testImage})
	t.Logf("img %v %v", img, err)
	img, err = c.ImageStatus(ctx, &runtimeapi.ImageSpec{Image: img.Id})
	t.Logf("img by id %v %v", img, err)
	img, err = c.ImageStatus(ctx, &runtimeapi.ImageSpec{Image: "berth.test/none:1"})
	t.Logf("img none %v %v", img, err)
	ref, err := c.PullImage(ctx, &runtimeapi.ImageSpec{Image: "127.0.0.1:1/none:1"}, &runtimeapi.AuthConfig{Username: "u", Password: "p"}, nil)
	t.Logf("pull %v", ref)
	show("pull", err)
	err = c.RemoveImage(ctx, &runtimeapi.ImageSpec{Image: "berth.test/none:1"})
	show("rmi none", err)
	l, err := c.ListImages(ctx, nil)
	t.Logf("images %v %v", l, err)
}
