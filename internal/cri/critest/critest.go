// Package critest is the conformance suite for cri.Runtime: the contract
// berth's node agent relies on, run against the fake (fakecri) and against
// a real containerd through cri.Client, so that the fake stays honest.
//
// The expectations are containerd 1.6's (runc, CNI bridge): the reasons
// "Completed", "Error" and "StartError", exit code 137 for a container
// killed after its stop timeout and 128 for one that could not start.
package critest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berth-dev/berth/internal/cri"
)

// CgroupParent is the cgroupfs parent of the suite's sandboxes. The
// runtime creates it in every hierarchy; whoever started the runtime
// removes it afterwards.
const CgroupParent = "/berth-critest"

// MissingCommand is an executable the suite expects to be absent from the
// image (the fake must be told: fakecri.Runtime.MissingExecutable).
const MissingCommand = "berth-critest-nosuchcmd"

// Labels the agent puts on every sandbox and container (kubelet's keys).
const (
	LabelPodName       = "io.kubernetes.pod.name"
	LabelPodNamespace  = "io.kubernetes.pod.namespace"
	LabelPodUID        = "io.kubernetes.pod.uid"
	LabelContainerName = "io.kubernetes.container.name"
	labelRun           = "berth.dev/critest-run"
)

// Per-call and polling bounds. They are generous: the suite must pass on a
// loaded 2-core machine.
const (
	callTimeout = 30 * time.Second
	waitTimeout = 15 * time.Second
	slack       = 5 * time.Second
)

// Run runs the suite. newRuntime is called once per subtest with the
// subtest's t and returns the runtime to test and an image present in it:
// a busybox image (BuildBusyboxOCI builds one) with sh, sleep, echo, env
// and true on PATH and without MissingCommand. newRuntime may return the
// same runtime each time: every subtest labels what it creates with its
// own run ID, filters on it, and removes it all (t.Cleanup) at the end.
func Run(t *testing.T, newRuntime func(t *testing.T) (rt cri.Runtime, image string)) {
	tests := []struct {
		name string
		fn   func(*env)
	}{
		{"Version", testVersion},
		{"Status", testStatus},
		{"SandboxLifecycle", testSandboxLifecycle},
		{"SandboxNameReserved", testSandboxNameReserved},
		{"ListPodSandbox", testListPodSandbox},
		{"ContainerLifecycle", testContainerLifecycle},
		{"ContainerExits", testContainerExits},
		{"StopSignalHandled", testStopSignalHandled},
		{"StartError", testStartError},
		{"CreateContainerErrors", testCreateContainerErrors},
		{"ListContainers", testListContainers},
		{"ExecSync", testExecSync},
		{"ExecSyncTimeout", testExecSyncTimeout},
		{"StopPodSandboxKillsContainers", testStopPodSandboxKillsContainers},
		{"RemovePodSandboxRemovesContainers", testRemovePodSandboxRemovesContainers},
		{"RemoveRunningContainer", testRemoveRunningContainer},
		{"Images", testImages},
		{"NotFound", testNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rt, image := newRuntime(t)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			t.Cleanup(cancel)
			tc.fn(&env{T: t, ctx: ctx, rt: rt, image: image, run: randHex(6)})
		})
	}
}

// env is one subtest's view of the runtime.
type env struct {
	*testing.T
	ctx   context.Context
	rt    cri.Runtime
	image string
	run   string // this subtest's run ID (label value)
}

// call returns a context for one runtime call.
func (e *env) call() context.Context {
	ctx, cancel := context.WithTimeout(e.ctx, callTimeout)
	e.Cleanup(cancel)
	return ctx
}

type pod struct {
	id     string
	uid    string
	config *runtimeapi.PodSandboxConfig
}

// sandboxConfig is what the agent sends: metadata, hostname, log
// directory, kubelet labels, cgroup parent and namespace options.
func (e *env) sandboxConfig(name string) *runtimeapi.PodSandboxConfig {
	uid := randHex(8)
	return &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Namespace: "critest", Uid: uid},
		Hostname:     name,
		LogDirectory: e.TempDir(),
		Labels: map[string]string{
			LabelPodName: name, LabelPodNamespace: "critest", LabelPodUID: uid, labelRun: e.run,
		},
		Annotations: map[string]string{"critest/annotation": "a-" + uid},
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent: CgroupParent,
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
				NamespaceOptions: namespaces(),
			},
		},
	}
}

func namespaces() *runtimeapi.NamespaceOption {
	return &runtimeapi.NamespaceOption{
		Network: runtimeapi.NamespaceMode_POD,
		Pid:     runtimeapi.NamespaceMode_CONTAINER,
		Ipc:     runtimeapi.NamespaceMode_POD,
	}
}

// runPod runs a sandbox and removes it when the test ends.
func (e *env) runPod(name string) *pod {
	e.Helper()
	cfg := e.sandboxConfig(name)
	id, err := e.rt.RunPodSandbox(e.call(), cfg, "")
	if err != nil {
		e.Fatalf("RunPodSandbox(%s): %v", name, err)
	}
	e.Cleanup(func() { e.removePod(id) })
	return &pod{id: id, uid: cfg.Metadata.Uid, config: cfg}
}

func (e *env) removePod(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	if err := e.rt.StopPodSandbox(ctx, id); err != nil {
		e.Errorf("cleanup: StopPodSandbox(%s): %v", id, err)
	}
	if err := e.rt.RemovePodSandbox(ctx, id); err != nil {
		e.Errorf("cleanup: RemovePodSandbox(%s): %v", id, err)
	}
}

// containerConfig is what the agent sends for one container.
func (e *env) containerConfig(p *pod, name string, cmd ...string) *runtimeapi.ContainerConfig {
	return &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: name},
		Image:    &runtimeapi.ImageSpec{Image: e.image, UserSpecifiedImage: e.image},
		Command:  cmd,
		Envs:     []*runtimeapi.KeyValue{{Key: "CRITEST_GREETING", Value: []byte("hello from " + name)}},
		Labels: map[string]string{
			LabelPodName: p.config.Metadata.Name, LabelPodNamespace: "critest", LabelPodUID: p.uid,
			LabelContainerName: name, labelRun: e.run,
		},
		Annotations: map[string]string{"critest/container": name},
		LogPath:     name + "_0.log",
		Linux: &runtimeapi.LinuxContainerConfig{
			SecurityContext: &runtimeapi.LinuxContainerSecurityContext{NamespaceOptions: namespaces()},
		},
	}
}

func (e *env) create(p *pod, name string, cmd ...string) string {
	e.Helper()
	id, err := e.rt.CreateContainer(e.call(), p.id, e.containerConfig(p, name, cmd...), p.config)
	if err != nil {
		e.Fatalf("CreateContainer(%s): %v", name, err)
	}
	return id
}

func (e *env) start(id string) {
	e.Helper()
	if err := e.rt.StartContainer(e.call(), id); err != nil {
		e.Fatalf("StartContainer(%s): %v", id, err)
	}
}

func (e *env) containerStatus(id string) *runtimeapi.ContainerStatus {
	e.Helper()
	st, err := e.rt.ContainerStatus(e.call(), id)
	if err != nil {
		e.Fatalf("ContainerStatus(%s): %v", id, err)
	}
	return st
}

func (e *env) sandboxStatus(id string) *runtimeapi.PodSandboxStatus {
	e.Helper()
	st, err := e.rt.PodSandboxStatus(e.call(), id)
	if err != nil {
		e.Fatalf("PodSandboxStatus(%s): %v", id, err)
	}
	return st
}

// waitState polls the container until it is in state.
func (e *env) waitState(id string, state runtimeapi.ContainerState) *runtimeapi.ContainerStatus {
	e.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		st := e.containerStatus(id)
		if st.State == state {
			return st
		}
		if time.Now().After(deadline) {
			e.Fatalf("container %s: state %v after %v, want %v (reason %q, message %q)", id, st.State, waitTimeout, state, st.Reason, st.Message)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (e *env) exec(id string, cmd ...string) cri.ExecResult {
	e.Helper()
	r, err := e.rt.ExecSync(e.call(), id, cmd, 10*time.Second)
	if err != nil {
		e.Fatalf("ExecSync(%q): %v", cmd, err)
	}
	return r
}

func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, cri.ErrNotFound) {
		t.Errorf("%s: error %v, want cri.ErrNotFound", what, err)
	}
}

func unknownID() string { return randHex(32) }

// ---- tests ---------------------------------------------------------------

func testVersion(e *env) {
	v, err := e.rt.Version(e.call())
	if err != nil {
		e.Fatal(err)
	}
	if v.RuntimeApiVersion != "v1" || v.RuntimeName == "" || v.RuntimeVersion == "" {
		e.Errorf("Version = %v, want runtime_api_version v1 and a runtime name and version", v)
	}
}

func testStatus(e *env) {
	st, err := e.rt.Status(e.call())
	if err != nil {
		e.Fatal(err)
	}
	for _, typ := range []string{runtimeapi.RuntimeReady, runtimeapi.NetworkReady} {
		i := slices.IndexFunc(st.Conditions, func(c *runtimeapi.RuntimeCondition) bool { return c.Type == typ })
		if i < 0 || !st.Conditions[i].Status {
			e.Errorf("Status: condition %s not true: %v", typ, st.Conditions)
		}
	}
}

func testSandboxLifecycle(e *env) {
	p := e.runPod("lifecycle")
	st := e.sandboxStatus(p.id)
	if st.Id != p.id || st.State != runtimeapi.PodSandboxState_SANDBOX_READY {
		e.Errorf("after RunPodSandbox: id %q state %v, want %q READY", st.Id, st.State, p.id)
	}
	md := st.GetMetadata()
	if md.GetName() != "lifecycle" || md.GetNamespace() != "critest" || md.GetUid() != p.uid || md.GetAttempt() != 0 {
		e.Errorf("metadata = %v, want the config's %v", md, p.config.Metadata)
	}
	if st.CreatedAt <= 0 || time.Since(time.Unix(0, st.CreatedAt)).Abs() > time.Hour {
		e.Errorf("CreatedAt = %d, want about now", st.CreatedAt)
	}
	if st.GetNetwork().GetIp() == "" {
		e.Errorf("a pod-network sandbox has no IP: %v", st.GetNetwork())
	}
	for k, v := range p.config.Labels {
		if st.Labels[k] != v {
			e.Errorf("label %s = %q, want %q", k, st.Labels[k], v)
		}
	}
	for k, v := range p.config.Annotations {
		if st.Annotations[k] != v {
			e.Errorf("annotation %s = %q, want %q", k, st.Annotations[k], v)
		}
	}

	if err := e.rt.StopPodSandbox(e.call(), p.id); err != nil {
		e.Fatalf("StopPodSandbox: %v", err)
	}
	if st := e.sandboxStatus(p.id); st.State != runtimeapi.PodSandboxState_SANDBOX_NOTREADY {
		e.Errorf("after StopPodSandbox: state %v, want NOTREADY", st.State)
	}
	if err := e.rt.StopPodSandbox(e.call(), p.id); err != nil {
		e.Errorf("StopPodSandbox twice: %v, want nil", err)
	}
	if err := e.rt.RemovePodSandbox(e.call(), p.id); err != nil {
		e.Fatalf("RemovePodSandbox: %v", err)
	}
	_, err := e.rt.PodSandboxStatus(e.call(), p.id)
	wantNotFound(e.T, "PodSandboxStatus after RemovePodSandbox", err)
	if err := e.rt.RemovePodSandbox(e.call(), p.id); err != nil {
		e.Errorf("RemovePodSandbox twice: %v, want nil", err)
	}
	if err := e.rt.StopPodSandbox(e.call(), p.id); err != nil {
		e.Errorf("StopPodSandbox after RemovePodSandbox: %v, want nil", err)
	}
	list, err := e.rt.ListPodSandbox(e.call(), &runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{labelRun: e.run}})
	if err != nil || len(list) != 0 {
		e.Errorf("ListPodSandbox after remove = %v, %v; want none", list, err)
	}
}

func testSandboxNameReserved(e *env) {
	p := e.runPod("reserved")
	if id, err := e.rt.RunPodSandbox(e.call(), p.config, ""); err == nil {
		e.removePod(id)
		e.Fatalf("RunPodSandbox with the metadata of a sandbox that exists succeeded, want an error")
	}
	e.removePod(p.id)
	// Removing the sandbox frees its name.
	id, err := e.rt.RunPodSandbox(e.call(), p.config, "")
	if err != nil {
		e.Fatalf("RunPodSandbox after the first was removed: %v", err)
	}
	e.removePod(id)
}

func testListPodSandbox(e *env) {
	a, b := e.runPod("list-a"), e.runPod("list-b")
	ids := func(filter *runtimeapi.PodSandboxFilter) []string {
		e.Helper()
		list, err := e.rt.ListPodSandbox(e.call(), filter)
		if err != nil {
			e.Fatalf("ListPodSandbox(%v): %v", filter, err)
		}
		var out []string
		for _, s := range list {
			out = append(out, s.Id)
		}
		slices.Sort(out)
		return out
	}
	sorted := func(s ...string) []string { slices.Sort(s); return s }
	run := map[string]string{labelRun: e.run}
	state := func(s runtimeapi.PodSandboxState) *runtimeapi.PodSandboxStateValue {
		return &runtimeapi.PodSandboxStateValue{State: s}
	}

	if got := ids(&runtimeapi.PodSandboxFilter{LabelSelector: run}); !slices.Equal(got, sorted(a.id, b.id)) {
		e.Errorf("by run label: %v, want %v", got, sorted(a.id, b.id))
	}
	if got := ids(&runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{LabelPodUID: a.uid}}); !slices.Equal(got, []string{a.id}) {
		e.Errorf("by %s: %v, want [%s]", LabelPodUID, got, a.id)
	}
	if got := ids(&runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{LabelPodUID: a.uid, LabelPodNamespace: "other"}}); len(got) != 0 {
		e.Errorf("by uid and a wrong namespace: %v, want none", got)
	}
	if got := ids(&runtimeapi.PodSandboxFilter{Id: b.id}); !slices.Equal(got, []string{b.id}) {
		e.Errorf("by ID: %v, want [%s]", got, b.id)
	}
	all := ids(nil)
	if !slices.Contains(all, a.id) || !slices.Contains(all, b.id) {
		e.Errorf("no filter: %v lacks %s or %s", all, a.id, b.id)
	}

	list, err := e.rt.ListPodSandbox(e.call(), &runtimeapi.PodSandboxFilter{Id: a.id})
	if err != nil || len(list) != 1 {
		e.Fatalf("ListPodSandbox by ID = %v, %v", list, err)
	}
	s := list[0]
	if s.State != runtimeapi.PodSandboxState_SANDBOX_READY || s.GetMetadata().GetUid() != a.uid || s.CreatedAt <= 0 ||
		s.Labels[LabelPodUID] != a.uid || s.Annotations["critest/annotation"] != a.config.Annotations["critest/annotation"] {
		e.Errorf("listed sandbox = %v, want READY with the config's metadata, labels and annotations", s)
	}

	if err := e.rt.StopPodSandbox(e.call(), b.id); err != nil {
		e.Fatal(err)
	}
	if got := ids(&runtimeapi.PodSandboxFilter{LabelSelector: run, State: state(runtimeapi.PodSandboxState_SANDBOX_READY)}); !slices.Equal(got, []string{a.id}) {
		e.Errorf("READY: %v, want [%s]", got, a.id)
	}
	if got := ids(&runtimeapi.PodSandboxFilter{LabelSelector: run, State: state(runtimeapi.PodSandboxState_SANDBOX_NOTREADY)}); !slices.Equal(got, []string{b.id}) {
		e.Errorf("NOTREADY: %v, want [%s]", got, b.id)
	}
}

func testContainerLifecycle(e *env) {
	p := e.runPod("ctr-lifecycle")
	before := time.Now()
	id := e.create(p, "sleeper", "sleep", "3600")

	st := e.containerStatus(id)
	if st.Id != id || st.State != runtimeapi.ContainerState_CONTAINER_CREATED {
		e.Errorf("after CreateContainer: id %q state %v, want %q CREATED", st.Id, st.State, id)
	}
	if st.CreatedAt <= 0 || st.StartedAt != 0 || st.FinishedAt != 0 {
		e.Errorf("created container: CreatedAt %d StartedAt %d FinishedAt %d, want only CreatedAt", st.CreatedAt, st.StartedAt, st.FinishedAt)
	}
	if st.GetMetadata().GetName() != "sleeper" || st.Labels[LabelContainerName] != "sleeper" || st.Annotations["critest/container"] != "sleeper" {
		e.Errorf("status metadata %v labels %v annotations %v, want the config's", st.Metadata, st.Labels, st.Annotations)
	}
	if st.GetImage().GetImage() == "" || st.ImageRef == "" {
		e.Errorf("status image %v ref %q, want both", st.Image, st.ImageRef)
	}
	if !strings.HasSuffix(st.LogPath, "sleeper_0.log") {
		e.Errorf("LogPath = %q, want it under the sandbox log directory", st.LogPath)
	}

	e.start(id)
	st = e.containerStatus(id)
	if st.State != runtimeapi.ContainerState_CONTAINER_RUNNING || st.StartedAt < st.CreatedAt || st.FinishedAt != 0 {
		e.Errorf("after StartContainer: state %v CreatedAt %d StartedAt %d FinishedAt %d, want RUNNING, started after created",
			st.State, st.CreatedAt, st.StartedAt, st.FinishedAt)
	}
	if err := e.rt.StartContainer(e.call(), id); err == nil || errors.Is(err, cri.ErrNotFound) {
		e.Errorf("StartContainer on a running container: %v, want an error (not NotFound)", err)
	}

	// sleep as PID 1 ignores SIGTERM: the stop ends in SIGKILL after the timeout.
	t0 := time.Now()
	if err := e.rt.StopContainer(e.call(), id, time.Second); err != nil {
		e.Fatalf("StopContainer: %v", err)
	}
	if d := time.Since(t0); d > time.Second+slack {
		e.Errorf("StopContainer(timeout 1s) took %v", d)
	}
	st = e.containerStatus(id)
	if st.State != runtimeapi.ContainerState_CONTAINER_EXITED || st.ExitCode != 137 || st.Reason != "Error" {
		e.Errorf("after StopContainer: state %v exit %d reason %q, want EXITED 137 Error", st.State, st.ExitCode, st.Reason)
	}
	if st.FinishedAt < st.StartedAt || time.Unix(0, st.FinishedAt).Before(before.Add(-time.Hour)) {
		e.Errorf("FinishedAt %d, StartedAt %d: want finished after started", st.FinishedAt, st.StartedAt)
	}
	if err := e.rt.StopContainer(e.call(), id, time.Second); err != nil {
		e.Errorf("StopContainer on an exited container: %v, want nil", err)
	}
	if err := e.rt.StartContainer(e.call(), id); err == nil {
		e.Errorf("StartContainer on an exited container succeeded, want an error")
	}

	if err := e.rt.RemoveContainer(e.call(), id); err != nil {
		e.Fatalf("RemoveContainer: %v", err)
	}
	_, err := e.rt.ContainerStatus(e.call(), id)
	wantNotFound(e.T, "ContainerStatus after RemoveContainer", err)
	if err := e.rt.RemoveContainer(e.call(), id); err != nil {
		e.Errorf("RemoveContainer twice: %v, want nil", err)
	}

	// A created container that is stopped stays created.
	id2 := e.create(p, "never-started", "sleep", "3600")
	if err := e.rt.StopContainer(e.call(), id2, time.Second); err != nil {
		e.Errorf("StopContainer on a created container: %v, want nil", err)
	}
	if st := e.containerStatus(id2); st.State != runtimeapi.ContainerState_CONTAINER_CREATED {
		e.Errorf("created container after StopContainer: %v, want CREATED", st.State)
	}
}

func testContainerExits(e *env) {
	p := e.runPod("exits")
	for _, tc := range []struct {
		name   string
		cmd    []string
		code   int32
		reason string
	}{
		{"exit3", []string{"sh", "-c", "exit 3"}, 3, "Error"},
		{"true", []string{"true"}, 0, "Completed"},
		{"sleep-exit", []string{"sh", "-c", "sleep 0.2; exit 5"}, 5, "Error"},
	} {
		id := e.create(p, tc.name, tc.cmd...)
		e.start(id)
		st := e.waitState(id, runtimeapi.ContainerState_CONTAINER_EXITED)
		if st.ExitCode != tc.code || st.Reason != tc.reason {
			e.Errorf("%q: exit %d reason %q, want %d %q", tc.cmd, st.ExitCode, st.Reason, tc.code, tc.reason)
		}
		// A process that ends at once may be reaped "before" its start is
		// stamped (containerd): only require both stamps, after creation.
		if st.StartedAt <= 0 || st.FinishedAt <= 0 || st.FinishedAt < st.CreatedAt {
			e.Errorf("%q: CreatedAt %d StartedAt %d FinishedAt %d, want all set", tc.cmd, st.CreatedAt, st.StartedAt, st.FinishedAt)
		}
	}
}

func testStopSignalHandled(e *env) {
	p := e.runPod("graceful")
	id := e.create(p, "trapper", "sh", "-c", "trap 'exit 0' TERM; touch /tmp/trapped; while true; do sleep 0.1; done")
	e.start(id)
	// Wait until the trap is installed.
	deadline := time.Now().Add(waitTimeout)
	for e.exec(id, "test", "-e", "/tmp/trapped").ExitCode != 0 {
		if time.Now().After(deadline) {
			e.Fatal("the container never installed its trap")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t0 := time.Now()
	if err := e.rt.StopContainer(e.call(), id, 30*time.Second); err != nil {
		e.Fatalf("StopContainer: %v", err)
	}
	if d := time.Since(t0); d > slack {
		e.Errorf("StopContainer of a process that handles SIGTERM took %v", d)
	}
	st := e.containerStatus(id)
	if st.State != runtimeapi.ContainerState_CONTAINER_EXITED || st.ExitCode != 0 || st.Reason != "Completed" {
		e.Errorf("after StopContainer: state %v exit %d reason %q, want EXITED 0 Completed", st.State, st.ExitCode, st.Reason)
	}
}

func testStartError(e *env) {
	p := e.runPod("start-error")
	id := e.create(p, "missing", MissingCommand)
	err := e.rt.StartContainer(e.call(), id)
	if err == nil {
		e.Fatalf("StartContainer(%s) succeeded, want an error", MissingCommand)
	}
	if errors.Is(err, cri.ErrNotFound) {
		e.Errorf("StartContainer: %v is ErrNotFound; the container exists", err)
	}
	const want = "the OCI runtime's executable-not-found message"
	if msg := cri.Message(err); !missingExecutable(msg) {
		e.Errorf("StartContainer error message %q, want %s", msg, want)
	}
	st := e.containerStatus(id)
	if st.State != runtimeapi.ContainerState_CONTAINER_EXITED || st.Reason != "StartError" || st.ExitCode != 128 || !missingExecutable(st.Message) {
		e.Errorf("after a failed start: state %v reason %q exit %d message %q; want EXITED StartError 128 with %s",
			st.State, st.Reason, st.ExitCode, st.Message, want)
	}
	if st.FinishedAt <= 0 {
		e.Errorf("FinishedAt = %d, want set", st.FinishedAt)
	}
}

func testCreateContainerErrors(e *env) {
	p := e.runPod("create-errors")
	_, err := e.rt.CreateContainer(e.call(), unknownID(), e.containerConfig(p, "x", "true"), p.config)
	wantNotFound(e.T, "CreateContainer in an unknown sandbox", err)

	cfg := e.containerConfig(p, "noimage", "true")
	cfg.Image = &runtimeapi.ImageSpec{Image: "berth.test/critest/absent:0"}
	_, err = e.rt.CreateContainer(e.call(), p.id, cfg, p.config)
	wantNotFound(e.T, "CreateContainer with an absent image", err)

	e.create(p, "dup", "true")
	if _, err := e.rt.CreateContainer(e.call(), p.id, e.containerConfig(p, "dup", "true"), p.config); err == nil || errors.Is(err, cri.ErrNotFound) {
		e.Errorf("CreateContainer with a name in use: %v, want an error (not NotFound)", err)
	}
	dup2 := e.containerConfig(p, "dup", "true")
	dup2.Metadata.Attempt = 1
	if _, err := e.rt.CreateContainer(e.call(), p.id, dup2, p.config); err != nil {
		e.Errorf("CreateContainer with the next attempt: %v", err)
	}

	if err := e.rt.StopPodSandbox(e.call(), p.id); err != nil {
		e.Fatal(err)
	}
	if _, err := e.rt.CreateContainer(e.call(), p.id, e.containerConfig(p, "late", "true"), p.config); err == nil {
		e.Errorf("CreateContainer in a stopped sandbox succeeded, want an error")
	}
}

func testListContainers(e *env) {
	p, q := e.runPod("list-p"), e.runPod("list-q")
	c1 := e.create(p, "c1", "sleep", "3600")
	c2 := e.create(p, "c2", "sleep", "3600")
	c3 := e.create(q, "c3", "sleep", "3600")
	e.start(c2)
	e.start(c3)

	ids := func(filter *runtimeapi.ContainerFilter) []string {
		e.Helper()
		list, err := e.rt.ListContainers(e.call(), filter)
		if err != nil {
			e.Fatalf("ListContainers(%v): %v", filter, err)
		}
		var out []string
		for _, c := range list {
			out = append(out, c.Id)
		}
		slices.Sort(out)
		return out
	}
	sorted := func(s ...string) []string { slices.Sort(s); return s }
	run := map[string]string{labelRun: e.run}
	running := &runtimeapi.ContainerStateValue{State: runtimeapi.ContainerState_CONTAINER_RUNNING}

	if got := ids(&runtimeapi.ContainerFilter{LabelSelector: run}); !slices.Equal(got, sorted(c1, c2, c3)) {
		e.Errorf("by run label: %v, want %v", got, sorted(c1, c2, c3))
	}
	if got := ids(&runtimeapi.ContainerFilter{PodSandboxId: p.id}); !slices.Equal(got, sorted(c1, c2)) {
		e.Errorf("by sandbox: %v, want %v", got, sorted(c1, c2))
	}
	if got := ids(&runtimeapi.ContainerFilter{LabelSelector: map[string]string{LabelPodUID: p.uid, LabelContainerName: "c1"}}); !slices.Equal(got, []string{c1}) {
		e.Errorf("by pod uid and container name: %v, want [%s]", got, c1)
	}
	if got := ids(&runtimeapi.ContainerFilter{LabelSelector: run, State: running}); !slices.Equal(got, sorted(c2, c3)) {
		e.Errorf("RUNNING: %v, want %v", got, sorted(c2, c3))
	}
	if got := ids(&runtimeapi.ContainerFilter{PodSandboxId: p.id, State: running}); !slices.Equal(got, []string{c2}) {
		e.Errorf("RUNNING in sandbox p: %v, want [%s]", got, c2)
	}
	if got := ids(&runtimeapi.ContainerFilter{Id: c3}); !slices.Equal(got, []string{c3}) {
		e.Errorf("by ID: %v, want [%s]", got, c3)
	}
	if got := ids(&runtimeapi.ContainerFilter{PodSandboxId: unknownID()}); len(got) != 0 {
		e.Errorf("by an unknown sandbox: %v, want none", got)
	}

	list, err := e.rt.ListContainers(e.call(), &runtimeapi.ContainerFilter{Id: c2})
	if err != nil || len(list) != 1 {
		e.Fatalf("ListContainers by ID = %v, %v", list, err)
	}
	c := list[0]
	if c.PodSandboxId != p.id || c.GetMetadata().GetName() != "c2" || c.State != runtimeapi.ContainerState_CONTAINER_RUNNING ||
		c.CreatedAt <= 0 || c.ImageRef == "" || c.GetImage().GetImage() == "" ||
		c.Labels[LabelPodUID] != p.uid || c.Annotations["critest/container"] != "c2" {
		e.Errorf("listed container = %v, want its sandbox, metadata, RUNNING, image, labels and annotations", c)
	}
}

func testExecSync(e *env) {
	p := e.runPod("exec")
	id := e.create(p, "target", "sleep", "3600")

	if _, err := e.rt.ExecSync(e.call(), id, []string{"true"}, 0); err == nil || errors.Is(err, cri.ErrNotFound) {
		e.Errorf("ExecSync in a created container: %v, want an error (not NotFound)", err)
	}
	e.start(id)

	r := e.exec(id, "echo", "hello")
	if string(r.Stdout) != "hello\n" || len(r.Stderr) != 0 || r.ExitCode != 0 {
		e.Errorf("echo hello = %q %q %d", r.Stdout, r.Stderr, r.ExitCode)
	}
	r = e.exec(id, "sh", "-c", "echo out; echo err >&2; exit 7")
	if string(r.Stdout) != "out\n" || string(r.Stderr) != "err\n" || r.ExitCode != 7 {
		e.Errorf("sh -c '…; exit 7' = %q %q %d, want out, err, 7", r.Stdout, r.Stderr, r.ExitCode)
	}
	r = e.exec(id, "sh", "-c", `echo "$CRITEST_GREETING"`)
	if string(r.Stdout) != "hello from target\n" {
		e.Errorf("the container env is not the exec env: $CRITEST_GREETING = %q", r.Stdout)
	}
	r = e.exec(id, "hostname")
	if string(r.Stdout) != "exec\n" {
		e.Errorf("hostname = %q, want the sandbox hostname", r.Stdout)
	}
	r = e.exec(id, "sh", "-c", MissingCommand)
	if r.ExitCode != 127 || !strings.Contains(string(r.Stderr), "not found") {
		e.Errorf("sh -c %s = %q %q %d, want 127 and \"not found\"", MissingCommand, r.Stdout, r.Stderr, r.ExitCode)
	}
	_, err := e.rt.ExecSync(e.call(), id, []string{MissingCommand}, 10*time.Second)
	if err == nil || errors.Is(err, cri.ErrNotFound) || !missingExecutable(cri.Message(err)) {
		e.Errorf("ExecSync(%s) = %v, want the runtime's \"executable file not found\" error", MissingCommand, err)
	}

	_, err = e.rt.ExecSync(e.call(), unknownID(), []string{"true"}, 0)
	wantNotFound(e.T, "ExecSync in an unknown container", err)

	if err := e.rt.StopContainer(e.call(), id, 0); err != nil {
		e.Fatal(err)
	}
	if _, err := e.rt.ExecSync(e.call(), id, []string{"true"}, 0); err == nil || errors.Is(err, cri.ErrNotFound) {
		e.Errorf("ExecSync in an exited container: %v, want an error (not NotFound)", err)
	}
}

func testExecSyncTimeout(e *env) {
	p := e.runPod("exec-timeout")
	id := e.create(p, "target", "sleep", "3600")
	e.start(id)
	t0 := time.Now()
	_, err := e.rt.ExecSync(e.call(), id, []string{"sleep", "30"}, time.Second)
	if !errors.Is(err, cri.ErrDeadline) {
		e.Errorf("ExecSync(sleep 30, timeout 1s) = %v, want cri.ErrDeadline", err)
	}
	if d := time.Since(t0); d > time.Second+slack {
		e.Errorf("ExecSync with a 1s timeout took %v", d)
	}
	// The container lives on.
	if st := e.containerStatus(id); st.State != runtimeapi.ContainerState_CONTAINER_RUNNING {
		e.Errorf("after an exec timeout the container is %v", st.State)
	}
}

func testStopPodSandboxKillsContainers(e *env) {
	p := e.runPod("stop-kills")
	id := e.create(p, "victim", "sleep", "3600")
	e.start(id)
	if err := e.rt.StopPodSandbox(e.call(), p.id); err != nil {
		e.Fatal(err)
	}
	st := e.containerStatus(id)
	if st.State != runtimeapi.ContainerState_CONTAINER_EXITED || st.ExitCode != 137 {
		e.Errorf("container after StopPodSandbox: state %v exit %d, want EXITED 137", st.State, st.ExitCode)
	}
	if err := e.rt.RemoveContainer(e.call(), id); err != nil {
		e.Errorf("RemoveContainer in a stopped sandbox: %v", err)
	}
}

func testRemovePodSandboxRemovesContainers(e *env) {
	p := e.runPod("remove-all")
	running := e.create(p, "running", "sleep", "3600")
	created := e.create(p, "created", "sleep", "3600")
	e.start(running)
	// Removing a READY sandbox stops it first.
	if err := e.rt.RemovePodSandbox(e.call(), p.id); err != nil {
		e.Fatalf("RemovePodSandbox of a ready sandbox: %v", err)
	}
	_, err := e.rt.PodSandboxStatus(e.call(), p.id)
	wantNotFound(e.T, "PodSandboxStatus after RemovePodSandbox", err)
	for _, id := range []string{running, created} {
		_, err := e.rt.ContainerStatus(e.call(), id)
		wantNotFound(e.T, "ContainerStatus after RemovePodSandbox", err)
	}
	list, err := e.rt.ListContainers(e.call(), &runtimeapi.ContainerFilter{LabelSelector: map[string]string{labelRun: e.run}})
	if err != nil || len(list) != 0 {
		e.Errorf("ListContainers after RemovePodSandbox = %v, %v; want none", list, err)
	}
}

func testRemoveRunningContainer(e *env) {
	p := e.runPod("remove-running")
	id := e.create(p, "running", "sleep", "3600")
	e.start(id)
	if err := e.rt.RemoveContainer(e.call(), id); err != nil {
		e.Fatalf("RemoveContainer of a running container: %v", err)
	}
	_, err := e.rt.ContainerStatus(e.call(), id)
	wantNotFound(e.T, "ContainerStatus after RemoveContainer", err)
	// The name is free again.
	e.create(p, "running", "true")
}

func testImages(e *env) {
	img, err := e.rt.ImageStatus(e.call(), &runtimeapi.ImageSpec{Image: e.image})
	if err != nil || img == nil {
		e.Fatalf("ImageStatus(%s) = %v, %v; want the image", e.image, img, err)
	}
	if img.Id == "" || !slices.ContainsFunc(img.RepoTags, func(t string) bool { return t == e.image || strings.HasSuffix(t, "/"+e.image) }) {
		e.Errorf("ImageStatus(%s) = id %q tags %v", e.image, img.Id, img.RepoTags)
	}
	if img.Size == 0 {
		e.Errorf("ImageStatus(%s): size 0", e.image)
	}
	byID, err := e.rt.ImageStatus(e.call(), &runtimeapi.ImageSpec{Image: img.Id})
	if err != nil || byID == nil || byID.Id != img.Id {
		e.Errorf("ImageStatus(by ID %s) = %v, %v", img.Id, byID, err)
	}
	absent, err := e.rt.ImageStatus(e.call(), &runtimeapi.ImageSpec{Image: "berth.test/critest/absent:0"})
	if absent != nil || err != nil {
		e.Errorf("ImageStatus(absent) = %v, %v; want nil, nil", absent, err)
	}
	all, err := e.rt.ListImages(e.call(), nil)
	if err != nil || !slices.ContainsFunc(all, func(i *runtimeapi.Image) bool { return i.Id == img.Id }) {
		e.Errorf("ListImages = %v, %v; want it to contain %s", all, err, img.Id)
	}
	// containerd 1.6 ignores ListImages' filter: callers must not rely on
	// it (ImageStatus looks one image up).
	some, err := e.rt.ListImages(e.call(), &runtimeapi.ImageFilter{Image: &runtimeapi.ImageSpec{Image: e.image}})
	if err != nil || !slices.ContainsFunc(some, func(i *runtimeapi.Image) bool { return i.Id == img.Id }) {
		e.Errorf("ListImages(filter %s) = %v, %v; want it to contain %s", e.image, some, err, img.Id)
	}
	if err := e.rt.RemoveImage(e.call(), &runtimeapi.ImageSpec{Image: "berth.test/critest/absent:0"}); err != nil {
		e.Errorf("RemoveImage(absent) = %v, want nil", err)
	}
}

func testNotFound(e *env) {
	id := unknownID()
	_, err := e.rt.PodSandboxStatus(e.call(), id)
	wantNotFound(e.T, "PodSandboxStatus", err)
	_, err = e.rt.ContainerStatus(e.call(), id)
	wantNotFound(e.T, "ContainerStatus", err)
	wantNotFound(e.T, "StartContainer", e.rt.StartContainer(e.call(), id))
	wantNotFound(e.T, "StopContainer", e.rt.StopContainer(e.call(), id, time.Second))
	_, err = e.rt.ExecSync(e.call(), id, []string{"true"}, 0)
	wantNotFound(e.T, "ExecSync", err)
	for name, err := range map[string]error{
		"StopPodSandbox":   e.rt.StopPodSandbox(e.call(), id),
		"RemovePodSandbox": e.rt.RemovePodSandbox(e.call(), id),
		"RemoveContainer":  e.rt.RemoveContainer(e.call(), id),
	} {
		if err != nil {
			e.Errorf("%s(unknown ID) = %v, want nil (idempotent)", name, err)
		}
	}
	// The runtime's message is kept behind the typed error.
	_, err = e.rt.ContainerStatus(e.call(), id)
	if msg := cri.Message(err); msg == "" || msg == cri.ErrNotFound.Error() {
		e.Errorf("ContainerStatus(unknown) message %q: the runtime's message is lost", msg)
	}
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// missingExecutable reports whether msg is the OCI runtime's account of
// MissingCommand not being found: runc says `exec: "CMD": executable file
// not found in $PATH`, crun "executable file `CMD` not found in $PATH".
func missingExecutable(msg string) bool {
	return strings.Contains(msg, MissingCommand) && strings.Contains(msg, "executable file") && strings.Contains(msg, "not found in $PATH")
}
