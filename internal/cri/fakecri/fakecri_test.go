package fakecri_test

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berth-dev/berth/internal/cri"
	"github.com/berth-dev/berth/internal/cri/critest"
	"github.com/berth-dev/berth/internal/cri/fakecri"
)

const busybox = "berth.test/critest/busybox:1.35"

// newFake is the suite's runtime: a fake with the busybox image, where
// critest.MissingCommand does not exist.
func newFake(t *testing.T) (cri.Runtime, string) {
	f := fakecri.New()
	f.AddImage(busybox)
	f.MissingExecutable(critest.MissingCommand)
	return f, busybox
}

func TestConformance(t *testing.T) {
	critest.Run(t, newFake)
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func sandboxConfig(name string) *runtimeapi.PodSandboxConfig {
	return &runtimeapi.PodSandboxConfig{
		Metadata: &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "ns", Uid: "uid-" + name},
		Hostname: name,
	}
}

func containerConfig(name string, cmd ...string) *runtimeapi.ContainerConfig {
	return &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: name},
		Image:    &runtimeapi.ImageSpec{Image: busybox},
		Command:  cmd,
	}
}

// running returns a fake with a sandbox and a started container.
func running(t *testing.T, f *fakecri.Runtime, name string, cmd ...string) (sandboxID, containerID string) {
	t.Helper()
	if !f.HasImage(busybox) {
		f.AddImage(busybox)
	}
	sc := sandboxConfig("pod-" + name)
	sb, err := f.RunPodSandbox(ctx(t), sc, "")
	if err != nil {
		t.Fatal(err)
	}
	id, err := f.CreateContainer(ctx(t), sb, containerConfig(name, cmd...), sc)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.StartContainer(ctx(t), id); err != nil {
		t.Fatal(err)
	}
	return sb, id
}

func TestPullScriptsAndRecordsCredentials(t *testing.T) {
	f := fakecri.New()
	const private = "127.0.0.1:5055/team/app:v1"
	want := &runtimeapi.AuthConfig{Username: "robot", Password: "s3cret"}
	f.ScriptPull(private, fakecri.PullScript{Auth: want})
	f.ScriptPull("nginx", fakecri.PullScript{Err: cri.NewError(codes.NotFound, "failed to pull and unpack image \"docker.io/library/nginx:latest\": not found")})

	// Anonymous and wrong credentials: 401, as containerd says it.
	for _, auth := range []*runtimeapi.AuthConfig{nil, {Username: "robot", Password: "wrong"}} {
		_, err := f.PullImage(ctx(t), &runtimeapi.ImageSpec{Image: private}, auth, nil)
		if err == nil || !strings.Contains(err.Error(), "401 Unauthorized") || !strings.Contains(err.Error(), "127.0.0.1:5055") {
			t.Errorf("pull with %v: %v, want 401 Unauthorized from the registry", auth, err)
		}
	}
	// Auth (base64 user:password) is the same credential.
	auth := &runtimeapi.AuthConfig{Auth: base64.StdEncoding.EncodeToString([]byte("robot:s3cret")), ServerAddress: "127.0.0.1:5055"}
	ref, err := f.PullImage(ctx(t), &runtimeapi.ImageSpec{Image: private}, auth, sandboxConfig("p"))
	if err != nil || !strings.HasPrefix(ref, "sha256:") {
		t.Fatalf("pull with the right credentials = %q, %v", ref, err)
	}
	img, _ := f.ImageStatus(ctx(t), &runtimeapi.ImageSpec{Image: private})
	if img == nil || img.Id != ref || len(img.RepoDigests) != 1 {
		t.Errorf("after the pull ImageStatus = %v, want ID %s with a repo digest", img, ref)
	}

	_, err = f.PullImage(ctx(t), &runtimeapi.ImageSpec{Image: "nginx:latest"}, nil, nil)
	if !errors.Is(err, cri.ErrNotFound) {
		t.Errorf("scripted pull error = %v, want ErrNotFound", err)
	}
	// Unscripted pulls succeed.
	if _, err := f.PullImage(ctx(t), &runtimeapi.ImageSpec{Image: "busybox"}, nil, nil); err != nil || !f.HasImage("docker.io/library/busybox:latest") {
		t.Errorf("unscripted pull: %v, present %v", err, f.HasImage("docker.io/library/busybox:latest"))
	}

	calls := f.PullCalls()
	if len(calls) != 5 {
		t.Fatalf("PullCalls = %d, want 5", len(calls))
	}
	if calls[0].Auth != nil || calls[1].Auth.GetPassword() != "wrong" || calls[2].Auth.GetServerAddress() != "127.0.0.1:5055" || calls[2].SandboxConfig.GetMetadata().GetName() != "p" {
		t.Errorf("recorded credentials: %+v", calls)
	}
	if calls[0].Err == nil || calls[2].Err != nil {
		t.Errorf("recorded errors: %v, %v", calls[0].Err, calls[2].Err)
	}
	// The record is a copy.
	auth.Auth = "changed"
	if f.PullCalls()[2].Auth.GetAuth() == "changed" {
		t.Error("PullCalls shares the caller's AuthConfig")
	}
}

func TestPullScriptSequenceAndDelay(t *testing.T) {
	f := fakecri.New()
	boom := errors.New("boom")
	f.ScriptPull("app:v1", fakecri.PullScript{Err: boom}, fakecri.PullScript{})
	if _, err := f.PullImage(ctx(t), &runtimeapi.ImageSpec{Image: "app:v1"}, nil, nil); !errors.Is(err, boom) {
		t.Errorf("first pull: %v, want boom", err)
	}
	for i := 0; i < 2; i++ { // the last script repeats
		if _, err := f.PullImage(ctx(t), &runtimeapi.ImageSpec{Image: "docker.io/library/app:v1"}, nil, nil); err != nil {
			t.Errorf("pull %d: %v", i+2, err)
		}
	}

	f.ScriptPull("slow:1", fakecri.PullScript{Delay: time.Hour})
	c, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := f.PullImage(c, &runtimeapi.ImageSpec{Image: "slow:1"}, nil, nil)
	if !errors.Is(err, cri.ErrDeadline) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("slow pull past the deadline: %v, want ErrDeadline", err)
	}
	// Other calls are not blocked while a pull waits.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, _ = f.PullImage(c, &runtimeapi.ImageSpec{Image: "slow:1"}, nil, nil)
	}()
	time.Sleep(20 * time.Millisecond)
	if _, err := f.Version(ctx(t)); err != nil {
		t.Error(err)
	}
	wg.Wait()
}

func TestInjectError(t *testing.T) {
	f := fakecri.New()
	once := cri.NewError(codes.Unavailable, "connection refused")
	f.InjectErrorOnce("Version", once)
	if _, err := f.Version(ctx(t)); !errors.Is(err, cri.ErrUnavailable) {
		t.Errorf("first Version: %v", err)
	}
	if _, err := f.Version(ctx(t)); err != nil {
		t.Errorf("second Version: %v", err)
	}

	sb, id := running(t, f, "x", "sleep", "3600")
	sticky := errors.New("injected")
	f.InjectError("StopContainer", sticky)
	for i := 0; i < 2; i++ {
		if err := f.StopContainer(ctx(t), id, time.Second); !errors.Is(err, sticky) {
			t.Errorf("StopContainer %d: %v", i, err)
		}
	}
	// An injected error has no effect.
	if st, _ := f.ContainerStatus(ctx(t), id); st.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Errorf("after failed stops: %v", st.State)
	}
	f.InjectError("StopContainer", nil)
	if err := f.StopContainer(ctx(t), id, time.Second); err != nil {
		t.Error(err)
	}
	f.InjectError("RemovePodSandbox", sticky)
	f.ClearErrors()
	if err := f.RemovePodSandbox(ctx(t), sb); err != nil {
		t.Error(err)
	}

	// Every call is logged, failed ones with their error.
	var stops []fakecri.Call
	for _, c := range f.Calls() {
		if c.Method == "StopContainer" {
			stops = append(stops, c)
		}
	}
	if len(stops) != 3 || !errors.Is(stops[0].Err, sticky) || stops[2].Err != nil || stops[2].Timeout != time.Second || stops[2].ID != id {
		t.Errorf("StopContainer calls: %+v", stops)
	}
	if n := f.CallCount("RunPodSandbox"); n != 1 {
		t.Errorf("CallCount(RunPodSandbox) = %d", n)
	}
}

func TestExitContainer(t *testing.T) {
	f := fakecri.New()
	_, id := running(t, f, "app")
	if err := f.ExitContainer(id, 137, fakecri.ReasonOOMKilled, ""); err != nil {
		t.Fatal(err)
	}
	st, _ := f.ContainerStatus(ctx(t), id)
	if st.State != runtimeapi.ContainerState_CONTAINER_EXITED || st.ExitCode != 137 || st.Reason != "OOMKilled" || st.FinishedAt == 0 {
		t.Errorf("after ExitContainer: %v", st)
	}
	if err := f.ExitContainer(id, 0, "", ""); err == nil {
		t.Error("ExitContainer on an exited container succeeded")
	}

	_, id2 := running(t, f, "app2")
	_ = f.ExitContainer(id2, 0, "", "done")
	if st, _ := f.ContainerStatus(ctx(t), id2); st.Reason != "Completed" || st.Message != "done" {
		t.Errorf("exit 0: reason %q message %q", st.Reason, st.Message)
	}
}

func TestScriptContainerAndClock(t *testing.T) {
	f := fakecri.New()
	now := time.Unix(1_000_000, 0)
	var mu sync.Mutex
	f.SetClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	f.ScriptContainer("crasher", fakecri.Behaviour{Exits: true, ExitCode: 2, After: 10 * time.Second})
	_, id := running(t, f, "crasher", "/app/server")
	if st, _ := f.ContainerStatus(ctx(t), id); st.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		t.Fatalf("before 10s: %v", st.State)
	}
	advance(10 * time.Second)
	st, _ := f.ContainerStatus(ctx(t), id)
	if st.State != runtimeapi.ContainerState_CONTAINER_EXITED || st.ExitCode != 2 || st.Reason != "Error" ||
		st.FinishedAt-st.StartedAt != int64(10*time.Second) {
		t.Errorf("after 10s: %v", st)
	}

	f.ScriptContainer("graceful", fakecri.Behaviour{HandlesStop: true})
	_, id = running(t, f, "graceful", "/app/server")
	_ = f.StopContainer(ctx(t), id, 30*time.Second)
	if st, _ := f.ContainerStatus(ctx(t), id); st.ExitCode != 0 || st.Reason != "Completed" {
		t.Errorf("graceful stop: %d %q", st.ExitCode, st.Reason)
	}
}

func TestScriptExec(t *testing.T) {
	f := fakecri.New()
	_, id := running(t, f, "app", "sleep", "3600")
	_, other := running(t, f, "other", "sleep", "3600")
	f.ScriptExec("", []string{"/healthz"}, cri.ExecResult{Stdout: []byte("ok"), ExitCode: 0}, nil)
	f.ScriptExec(id, []string{"/healthz"}, cri.ExecResult{Stderr: []byte("unhealthy"), ExitCode: 1}, nil)
	f.ScriptExec(other, nil, cri.ExecResult{}, errors.New("exec broken"))

	r, err := f.ExecSync(ctx(t), id, []string{"/healthz"}, time.Second)
	if err != nil || r.ExitCode != 1 || string(r.Stderr) != "unhealthy" {
		t.Errorf("container-specific script: %+v %v", r, err)
	}
	if _, err := f.ExecSync(ctx(t), other, []string{"/healthz"}, time.Second); err != nil {
		t.Errorf("(\"\", cmd) is more specific than (id, nil): %v", err)
	}
	if _, err := f.ExecSync(ctx(t), other, []string{"true"}, time.Second); err == nil || err.Error() != "exec broken" {
		t.Errorf("(id, nil): %v", err)
	}
	// Unscripted commands are interpreted.
	r, err = f.ExecSync(ctx(t), id, []string{"sh", "-c", `printf '%s-%s\n' a b; echo "${HOSTNAME}" >&2; false`}, 0)
	if err != nil || string(r.Stdout) != "a-b\n" || string(r.Stderr) != "pod-app\n" || r.ExitCode != 1 {
		t.Errorf("interpreted: %q %q %d %v", r.Stdout, r.Stderr, r.ExitCode, err)
	}
	if calls := f.Calls(); calls[len(calls)-1].Method != "ExecSync" || calls[len(calls)-1].Cmd[0] != "sh" {
		t.Errorf("last call %+v", calls[len(calls)-1])
	}
}

func TestImagesNormalised(t *testing.T) {
	f := fakecri.New()
	id := f.AddImage("busybox")
	for _, ref := range []string{"busybox", "busybox:latest", "docker.io/library/busybox:latest", id, strings.TrimPrefix(id, "sha256:")} {
		if img, err := f.ImageStatus(ctx(t), &runtimeapi.ImageSpec{Image: ref}); err != nil || img == nil || img.Id != id {
			t.Errorf("ImageStatus(%s) = %v, %v", ref, img, err)
		}
	}
	if img, _ := f.ImageStatus(ctx(t), &runtimeapi.ImageSpec{Image: "busybox:1.36"}); img != nil {
		t.Errorf("another tag found %v", img)
	}
	if err := f.RemoveImage(ctx(t), &runtimeapi.ImageSpec{Image: "busybox"}); err != nil || f.HasImage(id) {
		t.Errorf("RemoveImage: %v, still present %v", err, f.HasImage(id))
	}
}

func TestConditionsAndClose(t *testing.T) {
	f := fakecri.New()
	f.SetCondition(runtimeapi.NetworkReady, false, "NetworkPluginNotReady", "cni config uninitialized")
	st, _ := f.Status(ctx(t))
	for _, c := range st.Conditions {
		if c.Type == runtimeapi.NetworkReady && (c.Status || c.Reason != "NetworkPluginNotReady") {
			t.Errorf("NetworkReady = %v", c)
		}
	}
	f.Close()
	if _, err := f.Version(ctx(t)); err == nil || !errors.Is(err, context.Canceled) {
		t.Errorf("Version after Close: %v", err)
	}
}

func TestConfigsRecorded(t *testing.T) {
	f := fakecri.New()
	f.AddImage(busybox)
	sc := sandboxConfig("p")
	sc.Linux = &runtimeapi.LinuxPodSandboxConfig{CgroupParent: "/berth"}
	sb, _ := f.RunPodSandbox(ctx(t), sc, "")
	cc := containerConfig("c", "true")
	cc.Envs = []*runtimeapi.KeyValue{{Key: "A", Value: []byte("1")}}
	id, _ := f.CreateContainer(ctx(t), sb, cc, sc)
	cc.Envs[0].Value = []byte("changed")
	got, ok := f.ContainerConfig(id)
	if !ok || string(got.Envs[0].Value) != "1" {
		t.Errorf("ContainerConfig = %v", got)
	}
	if s, ok := f.SandboxConfig(sb); !ok || s.GetLinux().GetCgroupParent() != "/berth" {
		t.Errorf("SandboxConfig = %v", s)
	}
	// Unique prefixes resolve, as in containerd.
	if st, err := f.ContainerStatus(ctx(t), id[:12]); err != nil || st.Id != id {
		t.Errorf("ContainerStatus(prefix) = %v, %v", st, err)
	}
}
