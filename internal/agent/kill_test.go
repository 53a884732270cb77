package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/agent/hooks"
	"github.com/berth-dev/berth/internal/cri"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// timeline is one ordered log shared by the fake hooks and the runtime
// wrapper, so tests can check what happened before what.
type timeline struct {
	mu    sync.Mutex
	lines []string
}

func (l *timeline) add(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *timeline) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

func (l *timeline) index(prefix string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, s := range l.lines {
		if strings.HasPrefix(s, prefix) {
			return i
		}
	}
	return -1
}

// fakeHooks runs hooks by script: behave[kind/container] decides the
// result; the default succeeds at once.
type fakeHooks struct {
	log    *timeline
	mu     sync.Mutex
	behave map[string]func(ctx context.Context) hooks.Result
	forgot []types.UID
}

func (f *fakeHooks) Run(ctx context.Context, req hooks.Request) hooks.Result {
	key := string(req.Kind) + "/" + req.Container.Name
	f.log.add("hook %s start", key)
	f.mu.Lock()
	b := f.behave[key]
	f.mu.Unlock()
	res := hooks.Result{}
	if b != nil {
		res = b(ctx)
	}
	f.log.add("hook %s end err=%v", key, res.Err)
	return res
}

func (f *fakeHooks) Forget(uid types.UID) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.forgot = append(f.forgot, uid)
}

func (f *fakeHooks) set(key string, b func(ctx context.Context) hooks.Result) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.behave[key] = b
}

// loggedRuntime records StopContainer calls on the timeline.
type loggedRuntime struct {
	cri.Runtime
	log *timeline
}

func (r *loggedRuntime) StopContainer(ctx context.Context, id string, timeout time.Duration) error {
	r.log.add("stop %s %s", id, timeout)
	return r.Runtime.StopContainer(ctx, id, timeout)
}

// hookWorld is a world whose agent runs fake hooks.
func hookWorld(t *testing.T) (*world, *fakeHooks, *timeline) {
	w := newWorld(t)
	log := &timeline{}
	fh := &fakeHooks{log: log, behave: map[string]func(ctx context.Context) hooks.Result{}}
	a, err := New(Config{Client: w.cs, Runtime: &loggedRuntime{Runtime: w.rt, log: log}, NodeName: "node1", DataDir: w.dataDir, NodeIP: "192.0.2.10"})
	if err != nil {
		t.Fatal(err)
	}
	a.hooks = fh
	runAgent(t, a)
	return w, fh, log
}

// runAgent runs a until the test ends.
func runAgent(t *testing.T, a *Agent) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case _ = <-done:
		case <-time.After(waitTimeout):
			t.Errorf("Run did not return")
		}
	})
	select {
	case <-a.Ready():
	case <-time.After(waitTimeout):
		t.Fatal("the agent did not become ready")
	}
}

func withPreStop(c corev1.Container) corev1.Container {
	if c.Lifecycle == nil {
		c.Lifecycle = &corev1.Lifecycle{}
	}
	c.Lifecycle.PreStop = &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "true"}}}
	return c
}

func withPostStart(c corev1.Container) corev1.Container {
	if c.Lifecycle == nil {
		c.Lifecycle = &corev1.Lifecycle{}
	}
	c.Lifecycle.PostStart = &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "true"}}}
	return c
}

// deleteGracefully does what the API server does on a graceful delete.
func (w *world) deleteGracefully(pod *corev1.Pod, grace int64) {
	w.t.Helper()
	p, err := w.getPod(pod)
	if err != nil {
		w.t.Fatal(err)
	}
	p.DeletionTimestamp = &metav1.Time{Time: time.Now().Add(time.Duration(grace) * time.Second)}
	p.DeletionGracePeriodSeconds = ptrInt64(grace)
	if _, err := w.cs.CoreV1().Pods(p.Namespace).Update(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) waitGone(pod *corev1.Pod) {
	w.t.Helper()
	eventually(w.t, "the pod to be deleted from the API", func() (bool, string) {
		p, err := w.getPod(pod)
		if apierrors.IsNotFound(err) {
			return true, ""
		}
		if err != nil {
			return false, err.Error()
		}
		return false, describeStatus(p.Status)
	})
}

func (w *world) events(pod *corev1.Pod) []string {
	evs, err := w.cs.CoreV1().Events(pod.Namespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range evs.Items {
		if e.InvolvedObject.UID == pod.UID {
			out = append(out, e.Reason+": "+e.Message)
		}
	}
	return out
}

func (w *world) waitEvent(pod *corev1.Pod, want string) {
	w.t.Helper()
	eventually(w.t, "event "+want, func() (bool, string) {
		evs := w.events(pod)
		for _, e := range evs {
			if e == want {
				return true, ""
			}
		}
		return false, strings.Join(evs, "; ")
	})
}

func TestAgentPreStopRunsBeforeTheStopSignal(t *testing.T) {
	w, fh, log := hookWorld(t)
	fh.set("PreStop/app", func(ctx context.Context) hooks.Result {
		time.Sleep(1100 * time.Millisecond)
		return hooks.Result{}
	})
	pod := w.createPod(newTestPod("prestop", corev1.RestartPolicyAlways, withPreStop(corev1.Container{Name: "app", Image: testImage})))
	c := w.runningContainer(pod.UID, "app")
	w.waitPod(pod, "phase Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	w.deleteGracefully(pod, 30)
	w.waitGone(pod)
	hook, stop := log.index("hook PreStop/app end"), log.index("stop "+c.Id)
	if hook < 0 || stop < 0 || hook > stop {
		t.Fatalf("want the preStop hook to end before the stop signal:\n%s", log)
	}
	// 30 s less the whole second the hook took.
	if !strings.Contains(log.String(), "stop "+c.Id+" 29s") {
		t.Errorf("stop timeout: want 29s (grace less the hook's whole seconds):\n%s", log)
	}
	w.waitEvent(pod, "Killing: Stopping container app")
}

func TestAgentPreStopBoundedByTheGracePeriod(t *testing.T) {
	w, fh, log := hookWorld(t)
	fh.set("PreStop/app", func(ctx context.Context) hooks.Result {
		<-ctx.Done() // a hook that never returns by itself
		return hooks.Result{Err: ctx.Err()}
	})
	pod := w.createPod(newTestPod("slowhook", corev1.RestartPolicyAlways, withPreStop(corev1.Container{Name: "app", Image: testImage})))
	c := w.runningContainer(pod.UID, "app")
	w.waitPod(pod, "phase Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	start := time.Now()
	w.deleteGracefully(pod, 3)
	w.waitGone(pod)
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("termination took %s, want the 3 s grace period (+ the 2 s minimum for the signal is not waited: the fake stops at once)", d)
	}
	// The hook used the grace period up: the signal gets the 2 s minimum.
	if !strings.Contains(log.String(), "stop "+c.Id+" 2s") {
		t.Errorf("want the stop signal with the 2 s minimum after the hook ran out the grace period:\n%s", log)
	}
}

func TestAgentNoPreStopForAnExitedContainer(t *testing.T) {
	w, _, log := hookWorld(t)
	pod := w.createPod(newTestPod("exited", corev1.RestartPolicyNever, withPreStop(corev1.Container{Name: "app", Image: testImage, Command: []string{"true"}})))
	w.waitPod(pod, "phase Succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
	w.deleteGracefully(pod, 30)
	w.waitGone(pod)
	if log.index("hook PreStop") >= 0 {
		t.Errorf("preStop ran for a container that had exited:\n%s", log)
	}
}

func TestAgentPostStartFailureKillsAndRestarts(t *testing.T) {
	w, fh, log := hookWorld(t)
	fh.set("PostStart/app", func(ctx context.Context) hooks.Result {
		return hooks.Result{Err: errors.New("Exec lifecycle hook ([false]) for Container \"app\" in Pod \"poststart_default(uid-poststart)\" failed - error: command 'false' exited with 1: , message: \"\""),
			Summary: "exec [false] exited with code 1"}
	})
	pod := w.createPod(newTestPod("poststart", corev1.RestartPolicyAlways,
		withPreStop(withPostStart(corev1.Container{Name: "app", Image: testImage}))))
	w.waitEvent(pod, "FailedPostStartHook: PostStartHook failed: exec [false] exited with code 1")
	w.waitEvent(pod, "Killing: FailedPostStartHook")
	p := w.waitPod(pod, "restartCount 1 and back-off", func(p *corev1.Pod) bool {
		cs := containerStatus(p, "app")
		return cs != nil && cs.RestartCount >= 1
	})
	_ = p
	// The failed container's preStop ran before its stop signal.
	if pre, stop := log.index("hook PreStop/app end"), log.index("stop "); pre < 0 || stop < 0 || pre > stop {
		t.Errorf("want preStop before the stop of a container whose postStart failed:\n%s", log)
	}
	reasons := strings.Join(w.waitingReasons(pod.UID, "app"), ",")
	if !strings.Contains(reasons, "PostStartHookError") && !strings.Contains(reasons, "CrashLoopBackOff") {
		t.Errorf("waiting reasons %s, want PostStartHookError then CrashLoopBackOff", reasons)
	}
}

func TestAgentNotRunningUntilPostStartReturns(t *testing.T) {
	w, fh, _ := hookWorld(t)
	release := make(chan struct{})
	fh.set("PostStart/app", func(ctx context.Context) hooks.Result {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return hooks.Result{}
	})
	pod := w.createPod(newTestPod("blocked", corev1.RestartPolicyAlways, withPostStart(corev1.Container{Name: "app", Image: testImage})))
	w.runningContainer(pod.UID, "app")
	time.Sleep(1500 * time.Millisecond) // a relist period and more: nothing may report Running meanwhile
	p, err := w.getPod(pod)
	if err != nil {
		t.Fatal(err)
	}
	if cs := containerStatus(p, "app"); p.Status.Phase == corev1.PodRunning || (cs != nil && cs.State.Running != nil) {
		t.Fatalf("reported running while postStart runs: %s", describeStatus(p.Status))
	}
	close(release)
	w.waitPod(pod, "phase Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
}

func TestAgentDeletionCancelsPostStart(t *testing.T) {
	w, fh, log := hookWorld(t)
	fh.set("PostStart/app", func(ctx context.Context) hooks.Result {
		<-ctx.Done() // only the deletion ends it
		return hooks.Result{Err: ctx.Err()}
	})
	pod := w.createPod(newTestPod("cancel", corev1.RestartPolicyAlways, withPostStart(corev1.Container{Name: "app", Image: testImage})))
	w.runningContainer(pod.UID, "app")
	eventually(t, "the postStart hook to run", func() (bool, string) { return log.index("hook PostStart/app start") >= 0, log.String() })
	start := time.Now()
	w.deleteGracefully(pod, 30)
	w.waitGone(pod)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("termination began %s after the deletion, want at once", d)
	}
	for _, e := range w.events(pod) {
		if strings.HasPrefix(e, "FailedPostStartHook") {
			t.Errorf("a cancelled postStart is no failure: %s", e)
		}
	}
}

func TestAgentChangedSpecRestartsTheContainer(t *testing.T) {
	w, _, _ := hookWorld(t)
	w.rt.AddImage("busybox:new")
	pod := w.createPod(newTestPod("setimage", corev1.RestartPolicyAlways))
	old := w.runningContainer(pod.UID, "app")
	p, err := w.getPod(pod)
	if err != nil {
		t.Fatal(err)
	}
	p.Spec.Containers[0].Image = "busybox:new"
	if _, err := w.cs.CoreV1().Pods("default").Update(context.Background(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	w.waitEvent(pod, "Killing: Container app definition changed, will be restarted")
	w.waitPod(pod, "the new image running", func(p *corev1.Pod) bool {
		cs := containerStatus(p, "app")
		return cs != nil && cs.State.Running != nil && cs.Image == "busybox:new" && cs.RestartCount == 1 && cs.ContainerID != "containerd://"+old.Id
	})
}

func TestAgentForceDeletionStillRunsPreStop(t *testing.T) {
	w, _, log := hookWorld(t)
	pod := w.createPod(newTestPod("force", corev1.RestartPolicyAlways, withPreStop(corev1.Container{Name: "app", Image: testImage})))
	c := w.runningContainer(pod.UID, "app")
	w.waitPod(pod, "phase Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	// kubectl delete --grace-period=0 --force: gone from the API at once.
	if err := w.cs.CoreV1().Pods("default").Delete(context.Background(), pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptrInt64(0)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the container stopped", func() (bool, string) { return log.index("stop "+c.Id) >= 0, log.String() })
	if pre, stop := log.index("hook PreStop/app end"), log.index("stop "+c.Id); pre < 0 || pre > stop {
		t.Errorf("force deletion: want preStop before the stop signal, as the kubelet:\n%s", log)
	}
	// The kubelet gives a force-deleted pod its terminationGracePeriodSeconds.
	if !strings.Contains(log.String(), "stop "+c.Id+" 30s") {
		t.Errorf("want the pod's 30 s grace period for a force-deleted pod:\n%s", log)
	}
}

func TestAgentSidecarsStopAfterContainers(t *testing.T) {
	w, _, log := hookWorld(t)
	pod := newTestPod("sidecars", corev1.RestartPolicyAlways, corev1.Container{Name: "app", Image: testImage})
	pod.Spec.InitContainers = []corev1.Container{sidecar("side1"), sidecar("side2")}
	pod = w.createPod(pod)
	app := w.runningContainer(pod.UID, "app")
	s1, s2 := w.runningContainer(pod.UID, "side1"), w.runningContainer(pod.UID, "side2")
	w.deleteGracefully(pod, 30)
	w.waitGone(pod)
	ia, i1, i2 := log.index("stop "+app.Id), log.index("stop "+s1.Id), log.index("stop "+s2.Id)
	if ia < 0 || i1 < 0 || i2 < 0 || !(ia < i2 && i2 < i1) {
		t.Errorf("want app, then side2, then side1 stopped:\n%s", log)
	}
}

func TestPodGracePeriod(t *testing.T) {
	for _, tt := range []struct {
		deletion, spec *int64
		want           int64
	}{
		{ptrInt64(10), ptrInt64(30), 10},
		{ptrInt64(0), ptrInt64(30), 30}, // force deletion: the spec's
		{nil, ptrInt64(45), 45},
		{ptrInt64(0), ptrInt64(0), 1},
		{nil, nil, 1},
	} {
		pod := &corev1.Pod{}
		pod.DeletionGracePeriodSeconds, pod.Spec.TerminationGracePeriodSeconds = tt.deletion, tt.spec
		if got := podGracePeriod(pod); got != tt.want {
			t.Errorf("podGracePeriod(deletion %v, spec %v) = %d, want %d", tt.deletion, tt.spec, got, tt.want)
		}
	}
}

func TestAgentFailedPreStopGoesOnWithTermination(t *testing.T) {
	w, fh, log := hookWorld(t)
	fh.set("PreStop/app", func(ctx context.Context) hooks.Result {
		return hooks.Result{Err: errors.New("Exec lifecycle hook ([false]) failed"), Summary: "exec [false] exited with code 1"}
	})
	pod := w.createPod(newTestPod("badprestop", corev1.RestartPolicyAlways, withPreStop(corev1.Container{Name: "app", Image: testImage})))
	c := w.runningContainer(pod.UID, "app")
	w.waitPod(pod, "phase Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	w.deleteGracefully(pod, 30)
	w.waitGone(pod)
	if log.index("stop "+c.Id) < 0 {
		t.Errorf("a failed preStop must not stop termination:\n%s", log)
	}
	w.waitEvent(pod, "FailedPreStopHook: PreStopHook failed: exec [false] exited with code 1")
}
