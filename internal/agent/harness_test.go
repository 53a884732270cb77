package agent

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/cri"
	"github.com/berth-dev/berth/internal/cri/fakecri"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

const (
	testImage = "busybox:1.36"
	// waitTimeout bounds every wait: generous for -race on a loaded machine,
	// while each wait normally ends within a relist period (1 s).
	waitTimeout = 15 * time.Second
)

// world is what agents share across restarts: the runtime and the API.
type world struct {
	t       *testing.T
	rt      *fakecri.Runtime
	cs      *fake.Clientset
	dataDir string

	mu sync.Mutex
	// statuses is every pod status written through the status subresource,
	// in order, by pod UID.
	statuses map[types.UID][]corev1.PodStatus
	// callsAt holds, for each status in statuses, how many runtime calls
	// had been made when it was written.
	callsAt map[types.UID][]int
}

var podsGVR = corev1.SchemeGroupVersion.WithResource("pods")

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t, rt: fakecri.New(), cs: fake.NewClientset(), dataDir: t.TempDir(),
		statuses: map[types.UID][]corev1.PodStatus{}, callsAt: map[types.UID][]int{}}
	w.rt.AddImage(testImage)
	// The fake tracker stores a status update as a whole object; the API
	// server only takes .status from it. Do as the API server, so that a
	// status written from an older copy cannot undo a spec or metadata
	// change (like the deletionTimestamp a test sets).
	w.cs.PrependReactor("update", "pods", func(action k8stesting.Action) (bool, runtime.Object, error) {
		ua := action.(k8stesting.UpdateAction)
		if ua.GetSubresource() != "status" {
			return false, nil, nil
		}
		in := ua.GetObject().(*corev1.Pod)
		obj, err := w.cs.Tracker().Get(podsGVR, in.Namespace, in.Name)
		if err != nil {
			return true, nil, err
		}
		cur := obj.(*corev1.Pod).DeepCopy()
		if cur.UID != in.UID {
			return true, nil, apierrors.NewConflict(podsGVR.GroupResource(), in.Name, fmt.Errorf("UID mismatch"))
		}
		cur.Status = *in.Status.DeepCopy()
		if err := w.cs.Tracker().Update(podsGVR, cur, cur.Namespace); err != nil {
			return true, nil, err
		}
		w.mu.Lock()
		w.statuses[cur.UID] = append(w.statuses[cur.UID], *cur.Status.DeepCopy())
		w.callsAt[cur.UID] = append(w.callsAt[cur.UID], len(w.rt.Calls()))
		w.mu.Unlock()
		return true, cur.DeepCopy(), nil
	})
	return w
}

// history returns the statuses written for uid so far.
func (w *world) history(uid types.UID) []corev1.PodStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]corev1.PodStatus(nil), w.statuses[uid]...)
}

// startAgent starts a new Agent on the world and waits until it is ready;
// the returned stop ends its Run and waits for it (also at cleanup).
func (w *world) startAgent() (a *Agent, stop func()) {
	w.t.Helper()
	return w.startAgentWith(w.rt)
}

// startAgentWith is startAgent over rt (a wrapper of w.rt).
func (w *world) startAgentWith(rt cri.Runtime) (a *Agent, stop func()) {
	w.t.Helper()
	return w.startAgentLogging(rt, nil)
}

// startAgentLogging is startAgentWith, logging to log (nil: nowhere).
func (w *world) startAgentLogging(rt cri.Runtime, log *slog.Logger) (a *Agent, stop func()) {
	t := w.t
	t.Helper()
	a, err := New(Config{Client: w.cs, Runtime: rt, NodeName: "node1", DataDir: w.dataDir, NodeIP: "192.0.2.10", Log: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(waitTimeout):
				t.Errorf("Run did not return within %s of its context ending", waitTimeout)
			}
		})
	}
	t.Cleanup(stop)
	select {
	case <-a.Ready():
	case err := <-done:
		t.Fatalf("Run returned before the agent was ready: %v", err)
	case <-time.After(waitTimeout):
		t.Fatal("the agent did not become ready")
	}
	return a, stop
}

func newTestPod(name string, policy corev1.RestartPolicy, containers ...corev1.Container) *corev1.Pod {
	if len(containers) == 0 {
		containers = []corev1.Container{{Name: "app", Image: testImage}}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name)},
		Spec: corev1.PodSpec{NodeName: "node1", RestartPolicy: policy, Containers: containers,
			TerminationGracePeriodSeconds: ptrInt64(30), EnableServiceLinks: &enableServiceLinks},
		Status: corev1.PodStatus{Phase: corev1.PodPending},
	}
}

func ptrInt64(v int64) *int64 { return &v }

// enableServiceLinks is the API's default, which the kubelet requires.
var enableServiceLinks = true

func (w *world) createPod(pod *corev1.Pod) *corev1.Pod {
	w.t.Helper()
	p, err := w.cs.CoreV1().Pods(pod.Namespace).Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	return p
}

func (w *world) getPod(pod *corev1.Pod) (*corev1.Pod, error) {
	return w.cs.CoreV1().Pods(pod.Namespace).Get(context.Background(), pod.Name, metav1.GetOptions{})
}

// eventually polls cond until it reports done or the timeout passes, then
// fails with cond's last description.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		ok, desc := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last: %s", what, desc)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitPod waits until the pod in the API satisfies cond and returns it.
func (w *world) waitPod(pod *corev1.Pod, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	w.t.Helper()
	var got *corev1.Pod
	eventually(w.t, what, func() (bool, string) {
		p, err := w.getPod(pod)
		if err != nil {
			return false, err.Error()
		}
		got = p
		return cond(p), describeStatus(p.Status)
	})
	return got
}

func describeStatus(s corev1.PodStatus) string {
	var b strings.Builder
	fmt.Fprintf(&b, "phase=%s", s.Phase)
	for _, c := range s.Conditions {
		fmt.Fprintf(&b, " %s=%s", c.Type, c.Status)
	}
	for _, list := range [][]corev1.ContainerStatus{s.InitContainerStatuses, s.ContainerStatuses} {
		for _, cs := range list {
			fmt.Fprintf(&b, " [%s restarts=%d id=%s %s last=%s]", cs.Name, cs.RestartCount, cs.ContainerID,
				describeState(cs.State), describeState(cs.LastTerminationState))
		}
	}
	return b.String()
}

func describeState(s corev1.ContainerState) string {
	switch {
	case s.Running != nil:
		return "running"
	case s.Terminated != nil:
		return fmt.Sprintf("terminated(%d %s %q)", s.Terminated.ExitCode, s.Terminated.Reason, s.Terminated.Message)
	case s.Waiting != nil:
		return fmt.Sprintf("waiting(%s %q)", s.Waiting.Reason, s.Waiting.Message)
	}
	return "none"
}

func containerStatus(p *corev1.Pod, name string) *corev1.ContainerStatus {
	for _, list := range [][]corev1.ContainerStatus{p.Status.ContainerStatuses, p.Status.InitContainerStatuses} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

func condition(p *corev1.Pod, t corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range p.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

// sandboxes and containers list what the runtime holds for a pod.
func (w *world) sandboxes(uid types.UID) []*runtimeapi.PodSandbox {
	w.t.Helper()
	sbs, err := w.rt.ListPodSandbox(context.Background(), &runtimeapi.PodSandboxFilter{LabelSelector: map[string]string{labelPodUID: string(uid)}})
	if err != nil {
		w.t.Fatal(err)
	}
	return sbs
}

func (w *world) containers(uid types.UID, name string) []*runtimeapi.Container {
	w.t.Helper()
	sel := map[string]string{labelPodUID: string(uid)}
	if name != "" {
		sel[labelContainerName] = name
	}
	cs, err := w.rt.ListContainers(context.Background(), &runtimeapi.ContainerFilter{LabelSelector: sel})
	if err != nil {
		w.t.Fatal(err)
	}
	return cs
}

// runningContainer waits for a running instance of the pod's container
// name and returns it.
func (w *world) runningContainer(uid types.UID, name string) *runtimeapi.Container {
	w.t.Helper()
	var found *runtimeapi.Container
	eventually(w.t, "a running "+name+" container", func() (bool, string) {
		var states []string
		for _, c := range w.containers(uid, name) {
			states = append(states, c.State.String())
			if c.State == runtimeapi.ContainerState_CONTAINER_RUNNING {
				found = c
				return true, ""
			}
		}
		return false, fmt.Sprint(states)
	})
	return found
}

// calls returns the recorded runtime calls of method.
func (w *world) calls(method string) []fakecri.Call {
	var out []fakecri.Call
	for _, c := range w.rt.Calls() {
		if c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

func (w *world) calledWith(method, id string) bool {
	for _, c := range w.calls(method) {
		if c.ID == id {
			return true
		}
	}
	return false
}

// waitingReasons lists the waiting reasons container name went through in
// the written statuses, without repeats in a row.
func (w *world) waitingReasons(uid types.UID, name string) []string {
	var out []string
	for _, s := range w.history(uid) {
		for _, cs := range s.ContainerStatuses {
			if cs.Name == name && cs.State.Waiting != nil {
				if r := cs.State.Waiting.Reason; len(out) == 0 || out[len(out)-1] != r {
					out = append(out, r)
				}
			}
		}
	}
	return out
}
