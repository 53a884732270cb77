package explain

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/agent/hooks"
	"github.com/berth-dev/berth/internal/cri"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

type scriptedExec struct{ res cri.ExecResult }

func (s scriptedExec) ExecSync(context.Context, string, []string, time.Duration) (cri.ExecResult, error) {
	return s.res, nil
}

func hookPod() *corev1.Pod {
	grace := int64(15)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns1", UID: "uid-1"},
		Spec: corev1.PodSpec{NodeName: "node1", TerminationGracePeriodSeconds: &grace, Containers: []corev1.Container{
			{Name: "app", Lifecycle: &corev1.Lifecycle{
				PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "echo starting; exit 3"}}},
				PreStop:   &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 5}},
			}},
			{Name: "done", Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}},
			{Name: "plain"},
		}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.88.0.7", ContainerStatuses: []corev1.ContainerStatus{
			{Name: "app", RestartCount: 2, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 137}}},
			{Name: "done", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Completed", ExitCode: 0}}},
			{Name: "plain", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
		}},
	}
}

// recordRuns makes the node's records for pod with the real runner.
func recordRuns(t *testing.T, dir string, pod *corev1.Pod) {
	t.Helper()
	r := hooks.New(hooks.Config{Runtime: scriptedExec{cri.ExecResult{Stdout: []byte("starting\n\x1b[31mred\n"), ExitCode: 3}}, Dir: dir})
	res := r.Run(context.Background(), hooks.Request{Kind: hooks.PostStart, Pod: pod, Container: &pod.Spec.Containers[0],
		ContainerID: "0123456789abcdef0123", Handler: pod.Spec.Containers[0].Lifecycle.PostStart})
	if res.Err == nil {
		t.Fatal("the scripted postStart should fail")
	}
}

func TestHooksFromLocalDataDir(t *testing.T) {
	pod := hookPod()
	dataDir := t.TempDir()
	recordRuns(t, hooks.DirIn(filepath.Join(dataDir, "agent")), pod)
	ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e1", Namespace: "ns1"},
		InvolvedObject: corev1.ObjectReference{Name: "web", UID: "uid-1", FieldPath: "spec.containers{app}"},
		Type:           "Warning", Reason: "FailedPostStartHook", Message: "PostStartHook failed", LastTimestamp: metav1.Now()}
	other := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e2", Namespace: "ns1"},
		InvolvedObject: corev1.ObjectReference{Name: "web", UID: "uid-1"}, Type: "Normal", Reason: "Pulled", Message: "pulled"}
	var out bytes.Buffer
	e := &Explainer{Client: fake.NewClientset(pod, ev, other), Out: &out}
	if err := e.Hooks(context.Background(), Options{Namespace: "ns1", Pod: "web", DataDir: dataDir}); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{
		"Pod ns1/web (node node1, phase Running)",
		"Grace period: 15s",
		`Container "app": waiting (CrashLoopBackOff), 2 restart(s)`,
		"postStart: exec [sh -c echo starting; exit 3]",
		"preStop:   sleep 5s",
		"from the local data dir " + dataDir,
		"PostStart exec [sh -c echo starting; exit 3] at ",
		": FAILED\n",
		"exit code 3, container 0123456789abc\n",
		`error: Exec lifecycle hook ([sh -c echo starting; exit 3]) for Container "app" in Pod "web_ns1(uid-1)" failed - error: command 'sh -c echo starting; exit 3' exited with 3: , message:`,
		"        | starting\n",
		"        | ?[31mred\n", // no terminal escapes
		"preStop never ran: a postStart hook failed, so the node killed the container, and that kill runs preStop",
		`Container "done": terminated`,
		"preStop never ran: the container exited by itself (Completed, exit code 0)",
		`Container "plain": running since`,
		"Runs: none (the container has no lifecycle hooks)",
		"Warning FailedPostStartHook: PostStartHook failed",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "Pulled") || strings.Contains(text, "\x1b") {
		t.Errorf("output shows an unrelated event or a terminal escape:\n%s", text)
	}
}

func TestHooksThroughNodeProxy(t *testing.T) {
	pod := hookPod()
	pod.Status.ContainerStatuses[0] = corev1.ContainerStatus{Name: "app", ContainerID: "containerd://0123456789abcdef0123",
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
	dir := t.TempDir()
	recordRuns(t, dir, pod)
	var asked []string
	var out bytes.Buffer
	e := &Explainer{Client: fake.NewClientset(pod), Out: &out,
		NodeProxy: func(_ context.Context, node string, path ...string) ([]byte, error) {
			asked = append(asked, node+" "+strings.Join(path, "/"))
			runs, err := hooks.Load(dir, pod.UID, path[len(path)-1])
			if err != nil {
				return nil, err
			}
			return json.Marshal(runs)
		}}
	if err := e.Hooks(context.Background(), Options{Namespace: "ns1", Pod: "web", Container: "app"}); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	if len(asked) != 1 || asked[0] != "node1 berth/hookrecords/uid-1/app" {
		t.Errorf("asked the node for %q", asked)
	}
	for _, want := range []string{"from node node1", "exit code 3",
		"preStop never ran: the postStart hook of the running container failed: the node is stopping it, preStop first"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, `Container "done"`) {
		t.Errorf("-c app shows other containers:\n%s", text)
	}
}

func TestHooksNeverRan(t *testing.T) {
	zero := int64(0)
	tests := []struct {
		name   string
		mutate func(*corev1.Pod)
		proxy  func(context.Context, string, ...string) ([]byte, error)
		want   []string
	}{
		{name: "not started yet", mutate: func(p *corev1.Pod) { p.Status.ContainerStatuses = nil },
			want: []string{"Runs (from node node1): none recorded", "postStart never ran: the container has not started yet",
				"preStop never ran: the container has not run yet"}},
		{name: "force delete", mutate: func(p *corev1.Pod) {
			now := metav1.Now()
			p.DeletionTimestamp, p.DeletionGracePeriodSeconds = &now, &zero
			p.Status.ContainerStatuses[0] = corev1.ContainerStatus{Name: "app", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
		}, want: []string{"Being deleted: since", "with a grace period of 0s", "preStop never ran: the pod was deleted with a grace period of 0"}},
		{name: "running, not stopped", mutate: func(p *corev1.Pod) {
			p.Status.ContainerStatuses[0] = corev1.ContainerStatus{Name: "app", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
		}, want: []string{"preStop never ran: not yet: the container is running and the node has not stopped it"}},
		{name: "node unreachable, no data dir", proxy: func(context.Context, string, ...string) ([]byte, error) {
			return nil, errors.New("connection refused")
		}, want: []string{"Runs: cannot be read: node node1 did not answer through the API server (connection refused); on the node's machine, --data-dir reads them locally"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := hookPod()
			if tt.mutate != nil {
				tt.mutate(pod)
			}
			proxy := tt.proxy
			if proxy == nil {
				proxy = func(context.Context, string, ...string) ([]byte, error) { return []byte("[]"), nil }
			}
			var out bytes.Buffer
			e := &Explainer{Client: fake.NewClientset(pod), Out: &out, NodeProxy: proxy}
			if err := e.Hooks(context.Background(), Options{Namespace: "ns1", Pod: "web", Container: "app"}); err != nil {
				t.Fatal(err)
			}
			for _, want := range tt.want {
				if !strings.Contains(out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}

func TestHooksErrors(t *testing.T) {
	e := &Explainer{Client: fake.NewClientset(hookPod()), Out: &bytes.Buffer{}}
	if err := e.Hooks(context.Background(), Options{Namespace: "ns1", Pod: "nope"}); err == nil || !strings.Contains(err.Error(), "reading pod ns1/nope") {
		t.Errorf("missing pod: %v", err)
	}
	if err := e.Hooks(context.Background(), Options{Namespace: "ns1", Pod: "web", Container: "x", DataDir: os.TempDir()}); err == nil ||
		!strings.Contains(err.Error(), `container "x" is not in pod ns1/web`) {
		t.Errorf("missing container: %v", err)
	}
}

func TestPreStopWhyRestartedByItself(t *testing.T) {
	pod := hookPod()
	got := preStopWhy(pod, &pod.Status.ContainerStatuses[0], nil)
	if want := "the container restarted 2 time(s), last after exiting with Error, exit code 137: a container that exits on its own (not stopped by the node) gets no preStop"; got != want {
		t.Errorf("preStopWhy = %q, want %q", got, want)
	}
}
