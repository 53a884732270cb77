package server

import (
	"context"
	"fmt"
	"sync"

	"github.com/berth-dev/berth/internal/agent/server/streamtest"
	"github.com/berth-dev/berth/internal/cri"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// fakeRuntime is the part of cri.Runtime the endpoint uses; other
// methods panic (the embedded nil interface).
type fakeRuntime struct {
	cri.Runtime
	streamer *streamtest.Streamer

	mu         sync.Mutex
	containers []*runtimeapi.Container
	statuses   map[string]*runtimeapi.ContainerStatus
	sandboxes  []*runtimeapi.PodSandbox
	execs      []*runtimeapi.ExecRequest
	attaches   []*runtimeapi.AttachRequest
	forwards   []*runtimeapi.PortForwardRequest
}

func newFakeRuntime() *fakeRuntime {
	return &fakeRuntime{statuses: map[string]*runtimeapi.ContainerStatus{}}
}

// addContainer records a container instance of pod uid.
func (f *fakeRuntime) addContainer(uid, name, id string, attempt uint32, created int64, state runtimeapi.ContainerState, exitCode int32, logPath string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	labels := map[string]string{labelPodUID: uid, labelContainerName: name}
	f.containers = append(f.containers, &runtimeapi.Container{Id: id, PodSandboxId: "sb-" + uid, State: state, CreatedAt: created,
		Metadata: &runtimeapi.ContainerMetadata{Name: name, Attempt: attempt}, Labels: labels})
	f.statuses[id] = &runtimeapi.ContainerStatus{Id: id, State: state, ExitCode: exitCode, LogPath: logPath, CreatedAt: created,
		Metadata: &runtimeapi.ContainerMetadata{Name: name, Attempt: attempt}, Labels: labels}
}

func (f *fakeRuntime) setState(id string, state runtimeapi.ContainerState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.containers {
		if c.Id == id {
			c.State = state
		}
	}
	f.statuses[id].State = state
}

func (f *fakeRuntime) ListContainers(_ context.Context, filter *runtimeapi.ContainerFilter) ([]*runtimeapi.Container, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*runtimeapi.Container
next:
	for _, c := range f.containers {
		for k, v := range filter.GetLabelSelector() {
			if c.Labels[k] != v {
				continue next
			}
		}
		out = append(out, proto.Clone(c).(*runtimeapi.Container))
	}
	return out, nil
}

func (f *fakeRuntime) ContainerStatus(_ context.Context, id string) (*runtimeapi.ContainerStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.statuses[id]
	if !ok {
		return nil, cri.NewError(codes.NotFound, fmt.Sprintf("an error occurred when try to find container %q: not found", id))
	}
	return proto.Clone(st).(*runtimeapi.ContainerStatus), nil
}

func (f *fakeRuntime) ListPodSandbox(_ context.Context, filter *runtimeapi.PodSandboxFilter) ([]*runtimeapi.PodSandbox, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*runtimeapi.PodSandbox
next:
	for _, sb := range f.sandboxes {
		for k, v := range filter.GetLabelSelector() {
			if sb.Labels[k] != v {
				continue next
			}
		}
		out = append(out, sb)
	}
	return out, nil
}

func (f *fakeRuntime) Exec(_ context.Context, req *runtimeapi.ExecRequest) (string, error) {
	f.mu.Lock()
	f.execs = append(f.execs, req)
	f.mu.Unlock()
	return f.streamer.URL(streamtest.Request{Kind: "exec", Cmd: req.Cmd, Stdin: req.Stdin, Stdout: req.Stdout,
		Stderr: req.Stderr, TTY: req.Tty, ContainerID: req.ContainerId}), nil
}

func (f *fakeRuntime) Attach(_ context.Context, req *runtimeapi.AttachRequest) (string, error) {
	f.mu.Lock()
	f.attaches = append(f.attaches, req)
	f.mu.Unlock()
	return f.streamer.URL(streamtest.Request{Kind: "attach", Stdin: req.Stdin, Stdout: req.Stdout,
		Stderr: req.Stderr, TTY: req.Tty, ContainerID: req.ContainerId}), nil
}

func (f *fakeRuntime) PortForward(_ context.Context, req *runtimeapi.PortForwardRequest) (string, error) {
	f.mu.Lock()
	f.forwards = append(f.forwards, req)
	f.mu.Unlock()
	return f.streamer.URL(streamtest.Request{Kind: "portforward", SandboxID: req.PodSandboxId}), nil
}

// fakePods is a PodGetter over a map.
type fakePods map[string]*corev1.Pod

func (p fakePods) Get(namespace, name string) (*corev1.Pod, error) {
	if pod, ok := p[namespace+"/"+name]; ok {
		return pod, nil
	}
	return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, name)
}
