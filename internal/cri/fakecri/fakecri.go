// Package fakecri is a scriptable, in-memory cri.Runtime for tests.
//
// It keeps sandboxes, containers and images with the states, timestamps
// and errors containerd 1.6 gives (the messages are containerd's, and
// errors are *cri.Error values, as from the real client), and the critest
// conformance suite runs against it and against a real containerd so the
// two stay alike. It runs nothing: container commands and ExecSync are
// interpreted by a tiny busybox-like shell (see sh.go), and tests script
// the rest:
//
//   - images: AddImage; PullImage per image with ScriptPull (success,
//     error, required credentials), and every pull is recorded with its
//     AuthConfig (PullCalls);
//   - containers: ScriptContainer (exit code, run time, stop handling),
//     ExitContainer (the process ends now), MissingExecutable (StartError);
//   - exec: ScriptExec per container and command;
//   - errors: InjectError / InjectErrorOnce per method name;
//   - Calls: the log of every call, with its error.
//
// Unscripted pulls succeed (the fake registry has every image). A Runtime
// is safe for concurrent use.
package fakecri

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/distribution/reference"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berth-dev/berth/internal/cri"
)

// Exit codes and reasons containerd reports.
const (
	ExitCodeKilled     = 137 // SIGKILL: the stop timeout passed, or the sandbox stopped
	ExitCodeStartError = 128
	ReasonCompleted    = "Completed"
	ReasonError        = "Error"
	ReasonStartError   = "StartError"
	ReasonOOMKilled    = "OOMKilled"
)

const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Behaviour is what a started container's process does. The default comes
// from interpreting its command (see sh.go); ScriptContainer overrides it.
type Behaviour struct {
	// Exits makes the process end by itself with ExitCode, After its start
	// (0: at once). Without it the process runs until stopped or exited
	// with ExitContainer.
	Exits    bool
	ExitCode int32
	After    time.Duration
	// HandlesStop makes StopContainer end the process with exit code 0
	// (it traps the stop signal); otherwise a stop kills it: 137, "Error".
	HandlesStop bool
}

// PullScript scripts PullImage for one image.
type PullScript struct {
	// Err fails the pull (after it is recorded).
	Err error
	// Auth, when set, are the credentials the registry wants: a pull with
	// other (or no) credentials fails with containerd's 401 Unauthorized.
	// Username/Password and Auth (base64 "user:password") are equivalent.
	Auth *runtimeapi.AuthConfig
	// Delay makes the pull take this long (bounded by ctx).
	Delay time.Duration
	// ImageID is the ID the pulled image gets (default: derived from the
	// reference).
	ImageID string
}

// PullCall is one recorded PullImage call.
type PullCall struct {
	Image         string // ImageSpec.Image as sent
	Auth          *runtimeapi.AuthConfig
	SandboxConfig *runtimeapi.PodSandboxConfig
	Err           error
}

// Call is one recorded Runtime call.
type Call struct {
	Method  string        // the Runtime method, e.g. "StartContainer"
	ID      string        // sandbox or container ID, or image reference
	Cmd     []string      // ExecSync's cmd
	Timeout time.Duration // StopContainer's and ExecSync's timeout
	Err     error
}

type sandbox struct {
	id, name   string // name: containerd's reserved name
	config     *runtimeapi.PodSandboxConfig
	handler    string
	state      runtimeapi.PodSandboxState
	createdAt  int64
	ip         string
	containers []string
}

type container struct {
	id, sandboxID, name string
	config              *runtimeapi.ContainerConfig
	imageID, imageRef   string
	state               runtimeapi.ContainerState
	createdAt           int64
	startedAt           int64
	finishedAt          int64
	exitCode            int32
	reason, message     string
	behaviour           Behaviour
	exitAt              time.Time // when Behaviour.Exits: when the process ends
	writableBytes       uint64    // what its writable layer holds (SetWritableLayerBytes)
}

type image struct {
	id          string
	repoTags    []string
	repoDigests []string
	size        uint64
	// uid and username are the image config's User, as containerd
	// reports it: a numeric user in uid, a name in username.
	uid      *int64
	username string
}

type execKey struct{ id, cmd string }

type execScript struct {
	res cri.ExecResult
	err error
}

// Runtime is the fake. The zero value is not usable: call New.
type Runtime struct {
	mu         sync.Mutex
	now        func() time.Time
	seq        int
	closed     bool
	sandboxes  map[string]*sandbox
	containers map[string]*container
	names      map[string]string // reserved sandbox and container names → ID
	images     map[string]*image // by ID
	pulls      map[string][]PullScript
	execs      map[execKey]execScript
	behaviours map[string]Behaviour
	missing    map[string]bool
	errs       map[string]error
	errsOnce   map[string][]error
	conditions []*runtimeapi.RuntimeCondition
	calls      []Call
	pullCalls  []PullCall
}

var _ cri.Runtime = (*Runtime)(nil)

// New returns an empty fake runtime whose RuntimeReady and NetworkReady
// conditions are true.
func New() *Runtime {
	return &Runtime{
		now:        time.Now,
		sandboxes:  map[string]*sandbox{},
		containers: map[string]*container{},
		names:      map[string]string{},
		images:     map[string]*image{},
		pulls:      map[string][]PullScript{},
		execs:      map[execKey]execScript{},
		behaviours: map[string]Behaviour{},
		missing:    map[string]bool{},
		errs:       map[string]error{},
		errsOnce:   map[string][]error{},
		conditions: []*runtimeapi.RuntimeCondition{
			{Type: runtimeapi.RuntimeReady, Status: true},
			{Type: runtimeapi.NetworkReady, Status: true},
		},
	}
}

// ---- scripting -----------------------------------------------------------

// SetClock replaces the clock (default time.Now) used for timestamps and
// for Behaviour.After.
func (f *Runtime) SetClock(now func() time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = now
}

// SetCondition sets a runtime condition (RuntimeReady, NetworkReady, …).
func (f *Runtime) SetCondition(typ string, status bool, reason, message string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.conditions {
		if c.Type == typ {
			c.Status, c.Reason, c.Message = status, reason, message
			return
		}
	}
	f.conditions = append(f.conditions, &runtimeapi.RuntimeCondition{Type: typ, Status: status, Reason: reason, Message: message})
}

// InjectError makes every later call of method (a Runtime method name,
// e.g. "StartContainer") fail with err, before it has any effect; nil
// clears it. The call is still recorded.
func (f *Runtime) InjectError(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil {
		delete(f.errs, method)
		return
	}
	f.errs[method] = err
}

// InjectErrorOnce makes the next call of method fail with err; several
// are used in order, before any InjectError error.
func (f *Runtime) InjectErrorOnce(method string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errsOnce[method] = append(f.errsOnce[method], err)
}

// ClearErrors removes all injected errors.
func (f *Runtime) ClearErrors() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.errs)
	clear(f.errsOnce)
}

// AddImage makes an image present under ref (normalised as containerd
// does: busybox → docker.io/library/busybox:latest), moving the tag from
// any image that had it, and returns its ID.
func (f *Runtime) AddImage(ref string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.addImage(ref, "", false)
}

// SetImageUser sets the user of a present image (its config's User):
// uid for a numeric user, username for a name, neither for none (root).
func (f *Runtime) SetImageUser(ref string, uid *int64, username string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if img := f.findImage(ref); img != nil {
		img.uid, img.username = uid, username
	}
}

// HasImage reports whether ref (a reference or an ID) is present.
func (f *Runtime) HasImage(ref string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.findImage(ref) != nil
}

// ScriptPull scripts PullImage for ref: each call uses the next script,
// and the last one is used again once they run out.
func (f *Runtime) ScriptPull(ref string, scripts ...PullScript) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pulls[normalise(ref)] = scripts
}

// ScriptExec scripts ExecSync: calls in containerID ("" = any container)
// with exactly cmd (nil = any command) return res and err. The most
// specific script wins: (id, cmd), ("", cmd), (id, nil), ("", nil).
func (f *Runtime) ScriptExec(containerID string, cmd []string, res cri.ExecResult, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.execs[execKey{containerID, cmdKey(cmd)}] = execScript{res: res, err: err}
}

// ScriptContainer sets the Behaviour of containers created later whose
// metadata name is name, instead of interpreting their command.
func (f *Runtime) ScriptContainer(name string, b Behaviour) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.behaviours[name] = b
}

// MissingExecutable declares executables absent from every image:
// starting a container with one fails with containerd's StartError, and
// exec'ing one fails as in containerd.
func (f *Runtime) MissingExecutable(names ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range names {
		f.missing[n] = true
	}
}

// ExitContainer ends a running container's process now with exitCode.
// reason "" is containerd's: "Completed" for 0, "Error" otherwise
// (use ReasonOOMKilled for an OOM kill).
func (f *Runtime) ExitContainer(id string, exitCode int32, reason, message string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.containers[id]
	if c == nil {
		return fmt.Errorf("fakecri: no container %q", id)
	}
	f.settle(c)
	if c.state != runtimeapi.ContainerState_CONTAINER_RUNNING {
		return fmt.Errorf("fakecri: container %q is in %s state", id, c.state)
	}
	f.exit(c, f.now(), exitCode, reason, message)
	return nil
}

// ---- inspection ----------------------------------------------------------

// Calls returns every call so far, in order.
func (f *Runtime) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// CallCount returns how many times method was called.
func (f *Runtime) CallCount(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if c.Method == method {
			n++
		}
	}
	return n
}

// PullCalls returns every PullImage call, with the credentials it carried.
func (f *Runtime) PullCalls() []PullCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.pullCalls)
}

// ResetCalls forgets the recorded calls and pulls.
func (f *Runtime) ResetCalls() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls, f.pullCalls = nil, nil
}

// SandboxConfig returns (a copy of) the config sandbox id was run with.
func (f *Runtime) SandboxConfig(id string) (*runtimeapi.PodSandboxConfig, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.sandboxes[id]
	if s == nil {
		return nil, false
	}
	return proto.Clone(s.config).(*runtimeapi.PodSandboxConfig), true
}

// ContainerConfig returns (a copy of) the config container id was created with.
func (f *Runtime) ContainerConfig(id string) (*runtimeapi.ContainerConfig, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.containers[id]
	if c == nil {
		return nil, false
	}
	return proto.Clone(c.config).(*runtimeapi.ContainerConfig), true
}

// ---- cri.Runtime ---------------------------------------------------------

// begin checks, under f.mu, what every call checks first: a closed
// runtime, a done ctx, an injected error.
func (f *Runtime) begin(ctx context.Context, method string) error {
	if f.closed {
		return cri.NewError(codes.Canceled, "grpc: the client connection is closing")
	}
	if err := ctxErr(ctx); err != nil {
		return err
	}
	if q := f.errsOnce[method]; len(q) > 0 {
		f.errsOnce[method] = q[1:]
		return q[0]
	}
	return f.errs[method]
}

func ctxErr(ctx context.Context) error {
	switch err := ctx.Err(); {
	case err == nil:
		return nil
	case errors.Is(err, context.DeadlineExceeded):
		return cri.NewError(codes.DeadlineExceeded, err.Error())
	default:
		return cri.NewError(codes.Canceled, err.Error())
	}
}

func (f *Runtime) record(c Call, err *error) {
	c.Err = *err
	f.calls = append(f.calls, c)
}

func (f *Runtime) Version(ctx context.Context) (_ *runtimeapi.VersionResponse, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.record(Call{Method: "Version"}, &err)
	if err := f.begin(ctx, "Version"); err != nil {
		return nil, err
	}
	return &runtimeapi.VersionResponse{Version: "0.1.0", RuntimeName: "fakecri", RuntimeVersion: "0.0.0", RuntimeApiVersion: "v1"}, nil
}

func (f *Runtime) Status(ctx context.Context) (_ *runtimeapi.RuntimeStatus, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.record(Call{Method: "Status"}, &err)
	if err := f.begin(ctx, "Status"); err != nil {
		return nil, err
	}
	st := &runtimeapi.RuntimeStatus{}
	for _, c := range f.conditions {
		st.Conditions = append(st.Conditions, proto.Clone(c).(*runtimeapi.RuntimeCondition))
	}
	return st, nil
}

func (f *Runtime) RunPodSandbox(ctx context.Context, config *runtimeapi.PodSandboxConfig, runtimeHandler string) (_ string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.record(Call{Method: "RunPodSandbox", ID: config.GetMetadata().GetName()}, &err)
	if err := f.begin(ctx, "RunPodSandbox"); err != nil {
		return "", err
	}
	md := config.GetMetadata()
	if md.GetName() == "" || md.GetNamespace() == "" || md.GetUid() == "" {
		return "", cri.NewError(codes.Unknown, fmt.Sprintf("failed to generate sandbox name: sandbox metadata %v lacks name, namespace or uid", md))
	}
	name := fmt.Sprintf("%s_%s_%s_%d", md.GetName(), md.GetNamespace(), md.GetUid(), md.GetAttempt())
	id := f.newID("sandbox")
	if other, ok := f.names[name]; ok {
		return "", cri.NewError(codes.Unknown, fmt.Sprintf("failed to reserve sandbox name %q: name %q is reserved for %q", name, name, other))
	}
	f.names[name] = id
	f.sandboxes[id] = &sandbox{
		id:        id,
		name:      name,
		config:    proto.Clone(config).(*runtimeapi.PodSandboxConfig),
		handler:   runtimeHandler,
		state:     runtimeapi.PodSandboxState_SANDBOX_READY,
		createdAt: f.now().UnixNano(),
		ip:        fmt.Sprintf("10.88.%d.%d", (f.seq/250)%250, f.seq%250+2),
	}
	return id, nil
}

func (f *Runtime) StopPodSandbox(ctx context.Context, sandboxID string) (err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.record(Call{Method: "StopPodSandbox", ID: sandboxID}, &err)
	if err := f.begin(ctx, "StopPodSandbox"); err != nil {
		return err
	}
	s := f.findSandbox(sandboxID)
	if s == nil {
		return nil // CRI: idempotent
	}
	f.stopSandbox(s)
	return nil
}

func (f *Runtime) stopSandbox(s *sandbox) {
	now := f.now()
	for _, cid := range s.containers {
		c := f.containers[cid]
		f.settle(c)
		if c.state == runtimeapi.ContainerState_CONTAINER_RUNNING {
			f.exit(c, now, ExitCodeKilled, "", "")
		}
	}
	s.state = runtimeapi.PodSandboxState_SANDBOX_NOTREADY
	s.ip = ""
}

func (f *Runtime) RemovePodSandbox(ctx context.Context, sandboxID string) (err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.record(Call{Method: "RemovePodSandbox", ID: sandboxID}, &err)
	if err := f.begin(ctx, "RemovePodSandbox"); err != nil {
		return err
	}
	s := f.findSandbox(sandboxID)
	if s == nil {
		return nil // CRI: idempotent
	}
	f.stopSandbox(s) // containerd stops a ready sandbox first
	for _, cid := range slices.Clone(s.containers) {
		f.removeContainer(f.containers[cid])
	}
	delete(f.names, s.name)
	delete(f.sandboxes, s.id)
	return nil
}

func (f *Runtime) PodSandboxStatus(ctx context.Context, sandboxID string) (_ *runtimeapi.PodSandboxStatus, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.record(Call{Method: "PodSandboxStatus", ID: sandboxID}, &err)
	if err := f.begin(ctx, "PodSandboxStatus"); err != nil {
		return nil, err
	}
	s := f.findSandbox(sandboxID)
	if s == nil {
		return nil, cri.NewError(codes.NotFound, "an error occurred when try to find sandbox: not found")
	}
	st := &runtimeapi.PodSandboxStatus{
		Id:             s.id,
		Metadata:       proto.Clone(s.config.GetMetadata()).(*runtimeapi.PodSandboxMetadata),
		State:          s.state,
		CreatedAt:      s.createdAt,
		Network:        &runtimeapi.PodSandboxNetworkStatus{Ip: s.ip},
		Labels:         maps.Clone(s.config.GetLabels()),
		Annotations:    maps.Clone(s.config.GetAnnotations()),
		RuntimeHandler: s.handler,
	}
	if ns := s.config.GetLinux().GetSecurityContext().GetNamespaceOptions(); ns != nil {
		st.Linux = &runtimeapi.LinuxPodSandboxStatus{Namespaces: &runtimeapi.Namespace{Options: proto.Clone(ns).(*runtimeapi.NamespaceOption)}}
	}
	return st, nil
}

func (f *Runtime) ListPodSandbox(ctx context.Context, filter *runtimeapi.PodSandboxFilter) (_ []*runtimeapi.PodSandbox, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.record(Call{Method: "ListPodSandbox"}, &err)
	if err := f.begin(ctx, "ListPodSandbox"); err != nil {
		return nil, err
	}
	var out []*runtimeapi.PodSandbox
	for _, s := range f.sortedSandboxes() {
		if filter.GetId() != "" && !strings.HasPrefix(s.id, filter.GetId()) ||
			filter.GetState() != nil && filter.GetState().GetState() != s.state ||
			!matchLabels(s.config.GetLabels(), filter.GetLabelSelector()) {
			continue
		}
		out = append(out, &runtimeapi.PodSandbox{
			Id:             s.id,
			Metadata:       proto.Clone(s.config.GetMetadata()).(*runtimeapi.PodSandboxMetadata),
			State:          s.state,
			CreatedAt:      s.createdAt,
			Labels:         maps.Clone(s.config.GetLabels()),
			Annotations:    maps.Clone(s.config.GetAnnotations()),
			RuntimeHandler: s.handler,
		})
	}
	return out, nil
}

func (f *Runtime) CreateContainer(ctx context.Context, sandboxID string, config *runtimeapi.ContainerConfig, sandboxConfig *runtimeapi.PodSandboxConfig) (_ string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.record(Call{Method: "CreateContainer", ID: sandboxID}, &err)
	if err := f.begin(ctx, "CreateContainer"); err != nil {
		return "", err
	}
	s := f.findSandbox(sandboxID)
	if s == nil {
		return "", cri.NewError(codes.NotFound, fmt.Sprintf("failed to find sandbox id %q: not found", sandboxID))
	}
	if s.state != runtimeapi.PodSandboxState_SANDBOX_READY {
		return "", cri.NewError(codes.NotFound, fmt.Sprintf("failed to get sandbox container task: no running task found: task %s not found: not found", s.id))
	}
	md := config.GetMetadata()
	if md.GetName() == "" {
		return "", cri.NewError(codes.Unknown, fmt.Sprintf("failed to generate container name: container metadata %v lacks a name", md))
	}
	img := f.findImage(config.GetImage().GetImage())
	if img == nil {
		return "", cri.NewError(codes.NotFound, fmt.Sprintf("failed to resolve image %q: not found", config.GetImage().GetImage()))
	}
	smd := s.config.GetMetadata()
	name := fmt.Sprintf("%s_%s_%s_%s_%d", md.GetName(), smd.GetName(), smd.GetNamespace(), smd.GetUid(), md.GetAttempt())
	if other, ok := f.names[name]; ok {
		return "", cri.NewError(codes.Unknown, fmt.Sprintf("failed to reserve container name %q: name %q is reserved for %q", name, name, other))
	}
	id := f.newID("container")
	f.names[name] = id
	cfg := proto.Clone(config).(*runtimeapi.ContainerConfig)
	if cfg.LogPath != "" && s.config.GetLogDirectory() != "" {
		cfg.LogPath = filepath.Join(s.config.GetLogDirectory(), cfg.LogPath)
	}
	imageRef := img.id
	if len(img.repoDigests) > 0 {
		imageRef = img.repoDigests[0]
	}
	f.containers[id] = &container{
		id:        id,
		sandboxID: s.id,
		name:      name,
		config:    cfg,
		imageID:   img.id,
		imageRef:  imageRef,
		state:     runtimeapi.ContainerState_CONTAINER_CREATED,
		createdAt: f.now().UnixNano(),
	}
	s.containers = append(s.containers, id)
	return id, nil
}

func (f *Runtime) StartContainer(ctx context.Context, containerID string) (err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.record(Call{Method: "StartContainer", ID: containerID}, &err)
	if err := f.begin(ctx, "StartContainer"); err != nil {
		return err
	}
	c := f.findContainer(containerID)
	if c == nil {
		return errContainerNotFound(containerID)
	}
	f.settle(c)
	if c.state != runtimeapi.ContainerState_CONTAINER_CREATED {
		return cri.NewError(codes.Unknown, fmt.Sprintf("failed to set starting state for container %q: container is in %s state", c.id, c.state))
	}
	s := f.sandboxes[c.sandboxID]
	if s.state != runtimeapi.PodSandboxState_SANDBOX_READY {
		return cri.NewError(codes.Unknown, fmt.Sprintf("sandbox container %q is not running", s.id))
	}
	now := f.now()
	b, scripted := f.behaviours[c.config.GetMetadata().GetName()]
	argv := c.argv()
	if !scripted {
		o := f.shell(c).run(argv)
		if o.missing != "" {
			msg := fmt.Sprintf("failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: %q: executable file not found in $PATH: unknown", o.missing)
			c.state = runtimeapi.ContainerState_CONTAINER_EXITED
			c.finishedAt = now.UnixNano()
			c.exitCode = ExitCodeStartError
			c.reason, c.message = ReasonStartError, msg
			return cri.NewError(codes.Unknown, msg)
		}
		b = Behaviour{Exits: !o.forever, ExitCode: o.status, After: o.slept, HandlesStop: o.handlesStop}
	}
	c.state = runtimeapi.ContainerState_CONTAINER_RUNNING
	c.startedAt = now.UnixNano()
	c.behaviour = b
	if b.Exits {
		c.exitAt = now.Add(b.After)
	}
	f.settle(c)
	return nil
}

func (f *Runtime) StopContainer(ctx context.Context, containerID string, timeout time.Duration) (err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.record(Call{Method: "StopContainer", ID: containerID, Timeout: timeout}, &err)
	if err := f.begin(ctx, "StopContainer"); err != nil {
		return err
	}
	c := f.findContainer(containerID)
	if c == nil {
		return errContainerNotFound(containerID)
	}
	f.settle(c)
	if c.state != runtimeapi.ContainerState_CONTAINER_RUNNING {
		return nil // containerd: stopping a created or exited container is a no-op
	}
	now := f.now()
	if c.behaviour.HandlesStop {
		f.exit(c, now, 0, "", "")
	} else {
		// The grace period passes instantly in the fake.
		f.exit(c, now, ExitCodeKilled, "", "")
	}
	return nil
}

func (f *Runtime) RemoveContainer(ctx context.Context, containerID string) (err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.record(Call{Method: "RemoveContainer", ID: containerID}, &err)
	if err := f.begin(ctx, "RemoveContainer"); err != nil {
		return err
	}
	c := f.findContainer(containerID)
	if c == nil {
		return nil // CRI: idempotent
	}
	f.removeContainer(c)
	return nil
}

func (f *Runtime) removeContainer(c *container) {
	f.settle(c)
	if c.state == runtimeapi.ContainerState_CONTAINER_RUNNING {
		f.exit(c, f.now(), ExitCodeKilled, "", "") // containerd kills it first
	}
	if s := f.sandboxes[c.sandboxID]; s != nil {
		s.containers = slices.DeleteFunc(s.containers, func(id string) bool { return id == c.id })
	}
	delete(f.names, c.name)
	delete(f.containers, c.id)
}

func (f *Runtime) ListContainers(ctx context.Context, filter *runtimeapi.ContainerFilter) (_ []*runtimeapi.Container, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.record(Call{Method: "ListContainers"}, &err)
	if err := f.begin(ctx, "ListContainers"); err != nil {
		return nil, err
	}
	var out []*runtimeapi.Container
	for _, c := range f.sortedContainers() {
		f.settle(c)
		if filter.GetId() != "" && !strings.HasPrefix(c.id, filter.GetId()) ||
			filter.GetPodSandboxId() != "" && !strings.HasPrefix(c.sandboxID, filter.GetPodSandboxId()) ||
			filter.GetState() != nil && filter.GetState().GetState() != c.state ||
			!matchLabels(c.config.GetLabels(), filter.GetLabelSelector()) {
			continue
		}
		out = append(out, &runtimeapi.Container{
			Id:           c.id,
			PodSandboxId: c.sandboxID,
			Metadata:     proto.Clone(c.config.GetMetadata()).(*runtimeapi.ContainerMetadata),
			Image:        proto.Clone(c.config.GetImage()).(*runtimeapi.ImageSpec),
			ImageRef:     c.imageID,
			ImageId:      c.imageID,
			State:        c.state,
			CreatedAt:    c.createdAt,
			Labels:       maps.Clone(c.config.GetLabels()),
			Annotations:  maps.Clone(c.config.GetAnnotations()),
		})
	}
	return out, nil
}

func (f *Runtime) ContainerStatus(ctx context.Context, containerID string) (_ *runtimeapi.ContainerStatus, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.record(Call{Method: "ContainerStatus", ID: containerID}, &err)
	if err := f.begin(ctx, "ContainerStatus"); err != nil {
		return nil, err
	}
	c := f.findContainer(containerID)
	if c == nil {
		return nil, errContainerNotFound(containerID)
	}
	f.settle(c)
	st := &runtimeapi.ContainerStatus{
		Id:          c.id,
		Metadata:    proto.Clone(c.config.GetMetadata()).(*runtimeapi.ContainerMetadata),
		State:       c.state,
		CreatedAt:   c.createdAt,
		StartedAt:   c.startedAt,
		FinishedAt:  c.finishedAt,
		ExitCode:    c.exitCode,
		Image:       proto.Clone(c.config.GetImage()).(*runtimeapi.ImageSpec),
		ImageRef:    c.imageRef,
		ImageId:     c.imageID,
		Reason:      c.reason,
		Message:     c.message,
		Labels:      maps.Clone(c.config.GetLabels()),
		Annotations: maps.Clone(c.config.GetAnnotations()),
		LogPath:     c.config.GetLogPath(),
	}
	for _, m := range c.config.GetMounts() {
		st.Mounts = append(st.Mounts, proto.Clone(m).(*runtimeapi.Mount))
	}
	return st, nil
}

func (f *Runtime) ExecSync(ctx context.Context, containerID string, cmd []string, timeout time.Duration) (_ cri.ExecResult, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.record(Call{Method: "ExecSync", ID: containerID, Cmd: slices.Clone(cmd), Timeout: timeout}, &err)
	if err := f.begin(ctx, "ExecSync"); err != nil {
		return cri.ExecResult{}, err
	}
	c := f.findContainer(containerID)
	if c == nil {
		return cri.ExecResult{}, cri.NewError(codes.NotFound, fmt.Sprintf("failed to exec in container: failed to find container %q in store: not found", containerID))
	}
	f.settle(c)
	if c.state != runtimeapi.ContainerState_CONTAINER_RUNNING {
		return cri.ExecResult{}, cri.NewError(codes.Unknown, fmt.Sprintf("failed to exec in container: container is in %s state", c.state))
	}
	for _, k := range []execKey{{c.id, cmdKey(cmd)}, {"", cmdKey(cmd)}, {c.id, cmdKey(nil)}, {"", cmdKey(nil)}} {
		if s, ok := f.execs[k]; ok {
			return cloneResult(s.res), s.err
		}
	}
	o := f.shell(c).run(cmd)
	if o.missing != "" {
		return cri.ExecResult{}, cri.NewError(codes.Unknown, fmt.Sprintf("failed to exec in container: failed to start exec %q: OCI runtime exec failed: exec failed: unable to start container process: exec: %q: executable file not found in $PATH: unknown", f.newID("exec"), o.missing))
	}
	if timeout > 0 && (o.forever || o.slept > timeout) {
		return cri.ExecResult{}, cri.NewError(codes.DeadlineExceeded, fmt.Sprintf("failed to exec in container: timeout %ds exceeded: context deadline exceeded", int64((timeout+time.Second-1)/time.Second)))
	}
	if o.forever {
		return cri.ExecResult{}, cri.NewError(codes.Unknown, fmt.Sprintf("fakecri: exec %q would never end; give it a timeout or ScriptExec it", cmd))
	}
	return cri.ExecResult{Stdout: o.stdout.Bytes(), Stderr: o.stderr.Bytes(), ExitCode: o.status}, nil
}

func (f *Runtime) Exec(ctx context.Context, req *runtimeapi.ExecRequest) (_ string, err error) {
	return f.streaming(ctx, "Exec", req.GetContainerId())
}

func (f *Runtime) Attach(ctx context.Context, req *runtimeapi.AttachRequest) (_ string, err error) {
	return f.streaming(ctx, "Attach", req.GetContainerId())
}

func (f *Runtime) streaming(ctx context.Context, method, containerID string) (_ string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.record(Call{Method: method, ID: containerID}, &err)
	if err := f.begin(ctx, method); err != nil {
		return "", err
	}
	c := f.findContainer(containerID)
	if c == nil {
		return "", errContainerNotFound(containerID)
	}
	f.settle(c)
	if c.state != runtimeapi.ContainerState_CONTAINER_RUNNING {
		return "", cri.NewError(codes.Unknown, fmt.Sprintf("container is in %s state", c.state))
	}
	return fmt.Sprintf("http://127.0.0.1:0/%s/%s", strings.ToLower(method), f.newID("token")[:8]), nil
}

func (f *Runtime) PortForward(ctx context.Context, req *runtimeapi.PortForwardRequest) (_ string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.record(Call{Method: "PortForward", ID: req.GetPodSandboxId()}, &err)
	if err := f.begin(ctx, "PortForward"); err != nil {
		return "", err
	}
	s := f.findSandbox(req.GetPodSandboxId())
	if s == nil {
		return "", cri.NewError(codes.NotFound, fmt.Sprintf("failed to find sandbox %q in store: not found", req.GetPodSandboxId()))
	}
	if s.state != runtimeapi.PodSandboxState_SANDBOX_READY {
		return "", cri.NewError(codes.FailedPrecondition, fmt.Sprintf("sandbox container %q is not running", s.id))
	}
	return "http://127.0.0.1:0/portforward/" + f.newID("token")[:8], nil
}

func (f *Runtime) ReopenContainerLog(ctx context.Context, containerID string) (err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.record(Call{Method: "ReopenContainerLog", ID: containerID}, &err)
	if err := f.begin(ctx, "ReopenContainerLog"); err != nil {
		return err
	}
	c := f.findContainer(containerID)
	if c == nil {
		return errContainerNotFound(containerID)
	}
	f.settle(c)
	if c.state != runtimeapi.ContainerState_CONTAINER_RUNNING {
		return cri.NewError(codes.Unknown, "container is not running")
	}
	return nil
}

func (f *Runtime) PullImage(ctx context.Context, spec *runtimeapi.ImageSpec, auth *runtimeapi.AuthConfig, sandboxConfig *runtimeapi.PodSandboxConfig) (_ string, err error) {
	ref := spec.GetImage()
	f.mu.Lock()
	pc := PullCall{Image: ref}
	if auth != nil {
		pc.Auth = proto.Clone(auth).(*runtimeapi.AuthConfig)
	}
	if sandboxConfig != nil {
		pc.SandboxConfig = proto.Clone(sandboxConfig).(*runtimeapi.PodSandboxConfig)
	}
	// record is deferred while f.mu is held (it is re-acquired after any Delay).
	defer f.mu.Unlock()
	defer func() {
		pc.Err = err
		f.pullCalls = append(f.pullCalls, pc)
	}()
	defer f.record(Call{Method: "PullImage", ID: ref}, &err)
	if err := f.begin(ctx, "PullImage"); err != nil {
		return "", err
	}
	named, perr := reference.ParseNormalizedNamed(ref)
	if perr != nil {
		return "", cri.NewError(codes.Unknown, fmt.Sprintf("failed to parse image reference %q: %v", ref, perr))
	}
	norm := reference.TagNameOnly(named).String()
	var script PullScript
	if q := f.pulls[norm]; len(q) > 0 {
		script = q[0]
		if len(q) > 1 {
			f.pulls[norm] = q[1:]
		}
	}
	if script.Delay > 0 {
		f.mu.Unlock()
		t := time.NewTimer(script.Delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		f.mu.Lock()
		if err := ctxErr(ctx); err != nil {
			return "", err
		}
	}
	if script.Err != nil {
		return "", script.Err
	}
	if script.Auth != nil && !sameCredentials(auth, script.Auth) {
		host := reference.Domain(named)
		tag := "latest"
		if t, ok := reference.TagNameOnly(named).(reference.Tagged); ok {
			tag = t.Tag()
		}
		return "", cri.NewError(codes.Unknown, fmt.Sprintf("failed to pull and unpack image %q: failed to resolve reference %q: pulling from host %s failed with status code [manifests %s]: 401 Unauthorized", norm, norm, host, tag))
	}
	return f.addImage(ref, script.ImageID, true), nil
}

func (f *Runtime) ImageStatus(ctx context.Context, spec *runtimeapi.ImageSpec) (_ *runtimeapi.Image, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.record(Call{Method: "ImageStatus", ID: spec.GetImage()}, &err)
	if err := f.begin(ctx, "ImageStatus"); err != nil {
		return nil, err
	}
	img := f.findImage(spec.GetImage())
	if img == nil {
		return nil, nil
	}
	return img.toCRI(), nil
}

// ListImages lists every image: like containerd 1.6 it ignores filter.
func (f *Runtime) ListImages(ctx context.Context, _ *runtimeapi.ImageFilter) (_ []*runtimeapi.Image, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.record(Call{Method: "ListImages"}, &err)
	if err := f.begin(ctx, "ListImages"); err != nil {
		return nil, err
	}
	// The filter is ignored, as containerd 1.6 does.
	var out []*runtimeapi.Image
	for _, id := range slices.Sorted(maps.Keys(f.images)) {
		out = append(out, f.images[id].toCRI())
	}
	return out, nil
}

func (f *Runtime) RemoveImage(ctx context.Context, spec *runtimeapi.ImageSpec) (err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.record(Call{Method: "RemoveImage", ID: spec.GetImage()}, &err)
	if err := f.begin(ctx, "RemoveImage"); err != nil {
		return err
	}
	if img := f.findImage(spec.GetImage()); img != nil {
		delete(f.images, img.id) // with all its tags, as containerd does
	}
	return nil
}

// Close records the call; later calls fail as on a closed gRPC connection.
func (f *Runtime) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, Call{Method: "Close"})
	f.closed = true
	return nil
}

// ---- helpers (f.mu held) -------------------------------------------------

func (f *Runtime) newID(kind string) string {
	f.seq++
	sum := sha256.Sum256(fmt.Appendf(nil, "fakecri/%s/%d", kind, f.seq))
	return hex.EncodeToString(sum[:])
}

// findSandbox looks id up exactly, or as a unique prefix (as containerd).
func (f *Runtime) findSandbox(id string) *sandbox {
	if s := f.sandboxes[id]; s != nil || id == "" {
		return s
	}
	var found *sandbox
	for k, s := range f.sandboxes {
		if strings.HasPrefix(k, id) {
			if found != nil {
				return nil
			}
			found = s
		}
	}
	return found
}

func (f *Runtime) findContainer(id string) *container {
	if c := f.containers[id]; c != nil || id == "" {
		return c
	}
	var found *container
	for k, c := range f.containers {
		if strings.HasPrefix(k, id) {
			if found != nil {
				return nil
			}
			found = c
		}
	}
	return found
}

func (f *Runtime) sortedSandboxes() []*sandbox {
	out := slices.Collect(maps.Values(f.sandboxes))
	slices.SortFunc(out, func(a, b *sandbox) int { return strings.Compare(a.id, b.id) })
	return out
}

func (f *Runtime) sortedContainers() []*container {
	out := slices.Collect(maps.Values(f.containers))
	slices.SortFunc(out, func(a, b *container) int { return strings.Compare(a.id, b.id) })
	return out
}

// settle applies a scheduled exit whose time has come.
func (f *Runtime) settle(c *container) {
	if c.state == runtimeapi.ContainerState_CONTAINER_RUNNING && c.behaviour.Exits && !f.now().Before(c.exitAt) {
		f.exit(c, c.exitAt, c.behaviour.ExitCode, "", "")
	}
}

func (f *Runtime) exit(c *container, at time.Time, code int32, reason, message string) {
	if reason == "" {
		reason = ReasonCompleted
		if code != 0 {
			reason = ReasonError
		}
	}
	c.state = runtimeapi.ContainerState_CONTAINER_EXITED
	c.finishedAt = at.UnixNano()
	c.exitCode, c.reason, c.message = code, reason, message
}

// argv is the command the container runs: command + args.
func (c *container) argv() []string {
	return append(slices.Clone(c.config.GetCommand()), c.config.GetArgs()...)
}

func (f *Runtime) shell(c *container) *shell {
	s := f.sandboxes[c.sandboxID]
	env := []string{defaultPath, "HOSTNAME=" + s.config.GetHostname()}
	for _, kv := range c.config.GetEnvs() {
		env = append(env, kv.GetKey()+"="+string(kv.GetValue()))
	}
	env = append(env, "HOME=/root")
	return &shell{env: env, host: s.config.GetHostname(), missing: func(name string) bool { return f.missing[name] }}
}

func errContainerNotFound(id string) error {
	return cri.NewError(codes.NotFound, fmt.Sprintf("an error occurred when try to find container %q: not found", id))
}

func matchLabels(labels, selector map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

func cmdKey(cmd []string) string {
	if cmd == nil {
		return "\x00any"
	}
	return strings.Join(cmd, "\x00")
}

func cloneResult(r cri.ExecResult) cri.ExecResult {
	return cri.ExecResult{Stdout: slices.Clone(r.Stdout), Stderr: slices.Clone(r.Stderr), ExitCode: r.ExitCode}
}

// sameCredentials compares credentials the way a registry would see them:
// Auth (base64 "user:password") stands for Username and Password.
func sameCredentials(got, want *runtimeapi.AuthConfig) bool {
	if got == nil {
		return false
	}
	gu, gp := userPass(got)
	wu, wp := userPass(want)
	return gu == wu && gp == wp && got.GetIdentityToken() == want.GetIdentityToken() && got.GetRegistryToken() == want.GetRegistryToken()
}

func userPass(a *runtimeapi.AuthConfig) (string, string) {
	if a.GetUsername() != "" || a.GetAuth() == "" {
		return a.GetUsername(), a.GetPassword()
	}
	b, err := base64.StdEncoding.DecodeString(a.GetAuth())
	if err != nil {
		return "", ""
	}
	u, p, _ := strings.Cut(string(b), ":")
	return u, p
}

// ---- images --------------------------------------------------------------

// normalise returns ref as containerd names it (docker.io/library/…:latest),
// or ref itself when it does not parse.
func normalise(ref string) string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ref
	}
	return reference.TagNameOnly(named).String()
}

// findImage resolves an image ID (sha256:…, or its hex or a unique
// prefix of it), a tag or a digest reference.
func (f *Runtime) findImage(ref string) *image {
	if ref == "" {
		return nil
	}
	if img := f.images[ref]; img != nil {
		return img
	}
	if img := f.images["sha256:"+ref]; img != nil {
		return img
	}
	norm := normalise(ref)
	for _, img := range f.images {
		if slices.Contains(img.repoTags, norm) || slices.Contains(img.repoDigests, norm) {
			return img
		}
	}
	return nil
}

// addImage adds or retags an image under ref and returns its ID; pulled
// images also get a repo digest (imported ones, like ctr import, do not).
func (f *Runtime) addImage(ref, id string, pulled bool) string {
	norm := normalise(ref)
	if id == "" {
		sum := sha256.Sum256([]byte("fakecri/config/" + norm))
		id = "sha256:" + hex.EncodeToString(sum[:])
	}
	for _, other := range f.images {
		if other.id != id {
			other.repoTags = slices.DeleteFunc(other.repoTags, func(t string) bool { return t == norm })
		}
	}
	img := f.images[id]
	if img == nil {
		img = &image{id: id, size: 1 << 20}
		f.images[id] = img
	}
	if named, err := reference.ParseNormalizedNamed(ref); err == nil {
		if _, digested := named.(reference.Digested); digested {
			if !slices.Contains(img.repoDigests, named.String()) {
				img.repoDigests = append(img.repoDigests, named.String())
			}
			return id
		}
		if !slices.Contains(img.repoTags, norm) {
			img.repoTags = append(img.repoTags, norm)
		}
		if pulled {
			sum := sha256.Sum256([]byte("fakecri/manifest/" + id))
			d := named.Name() + "@sha256:" + hex.EncodeToString(sum[:])
			if !slices.Contains(img.repoDigests, d) {
				img.repoDigests = append(img.repoDigests, d)
			}
		}
	} else if !slices.Contains(img.repoTags, ref) {
		img.repoTags = append(img.repoTags, ref)
	}
	return id
}

func (img *image) toCRI() *runtimeapi.Image {
	out := &runtimeapi.Image{
		Id:          img.id,
		RepoTags:    slices.Clone(img.repoTags),
		RepoDigests: slices.Clone(img.repoDigests),
		Size:        img.size,
		Spec:        &runtimeapi.ImageSpec{Image: img.id},
	}
	if img.uid != nil {
		out.Uid = &runtimeapi.Int64Value{Value: *img.uid}
	}
	out.Username = img.username
	return out
}

// SetWritableLayerBytes sets what the container's writable layer holds, as
// ContainerStats would report it.
func (f *Runtime) SetWritableLayerBytes(containerID string, n uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.findContainer(containerID); c != nil {
		c.writableBytes = n
	}
}

// WritableLayerBytes is the container's writable layer usage; ErrNotFound
// for an unknown ID.
func (f *Runtime) WritableLayerBytes(ctx context.Context, containerID string) (_ uint64, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	defer f.record(Call{Method: "WritableLayerBytes", ID: containerID}, &err)
	if err := f.begin(ctx, "WritableLayerBytes"); err != nil {
		return 0, err
	}
	c := f.findContainer(containerID)
	if c == nil {
		return 0, errContainerNotFound(containerID)
	}
	return c.writableBytes, nil
}
