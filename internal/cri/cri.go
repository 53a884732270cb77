// Package cri is berth's client of the Container Runtime Interface (CRI
// v1, k8s.io/cri-api) over gRPC: containerd or any CRI runtime. gRPC
// status codes become the typed errors below here, once; callers test
// them with errors.Is. A scriptable fake lives in cri/fakecri, and one
// conformance suite (cri/critest) is run against both the fake and a real
// containerd so the fake stays honest.
//
// Dial returns the gRPC implementation, *Client. Errors keep the runtime's
// own message (Message extracts it for users; Error carries the gRPC
// code). Every call blocks until the runtime answers or ctx ends: give
// each call a deadline. A call made while the runtime is down (a
// containerd restart) fails at once with ErrUnavailable.
package cri

import (
	"context"
	"errors"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Errors every Runtime returns (wrapping the runtime's own message).
var (
	ErrNotFound      = errors.New("not found")           // codes.NotFound
	ErrAlreadyExists = errors.New("already exists")      // codes.AlreadyExists
	ErrUnavailable   = errors.New("runtime unavailable") // codes.Unavailable, connection refused
	ErrUnimplemented = errors.New("not implemented")     // codes.Unimplemented
	ErrDeadline      = errors.New("deadline exceeded")   // codes.DeadlineExceeded
)

// ExecResult is the outcome of a synchronous exec.
type ExecResult struct {
	Stdout, Stderr []byte
	ExitCode       int32
}

// Runtime is the CRI surface the node agent uses. Methods are safe for
// concurrent use; ctx bounds each call.
type Runtime interface {
	Version(ctx context.Context) (*runtimeapi.VersionResponse, error)
	Status(ctx context.Context) (*runtimeapi.RuntimeStatus, error)

	RunPodSandbox(ctx context.Context, config *runtimeapi.PodSandboxConfig, runtimeHandler string) (string, error)
	// StopPodSandbox and RemovePodSandbox succeed when the sandbox is already gone (CRI contract).
	// Stopping kills the sandbox's containers (exit 137); removing a ready
	// sandbox stops it first, and removes its containers.
	StopPodSandbox(ctx context.Context, sandboxID string) error
	RemovePodSandbox(ctx context.Context, sandboxID string) error
	PodSandboxStatus(ctx context.Context, sandboxID string) (*runtimeapi.PodSandboxStatus, error)
	ListPodSandbox(ctx context.Context, filter *runtimeapi.PodSandboxFilter) ([]*runtimeapi.PodSandbox, error)

	CreateContainer(ctx context.Context, sandboxID string, config *runtimeapi.ContainerConfig, sandboxConfig *runtimeapi.PodSandboxConfig) (string, error)
	// StartContainer fails with the runtime's message (e.g. `exec:
	// "nosuchcmd": executable file not found in $PATH`) when the process
	// cannot start; the container is then EXITED, reason StartError.
	StartContainer(ctx context.Context, containerID string) error
	// StopContainer sends the stop signal, then SIGKILL after timeout
	// (sent in whole seconds, rounded up). Stopping a created or exited
	// container succeeds and changes nothing; an unknown ID is ErrNotFound.
	StopContainer(ctx context.Context, containerID string, timeout time.Duration) error
	// RemoveContainer kills a running container first, and succeeds when
	// the container is already gone (CRI contract).
	RemoveContainer(ctx context.Context, containerID string) error
	ListContainers(ctx context.Context, filter *runtimeapi.ContainerFilter) ([]*runtimeapi.Container, error)
	ContainerStatus(ctx context.Context, containerID string) (*runtimeapi.ContainerStatus, error)

	// ExecSync runs cmd in a running container. A non-zero exit is
	// ExecResult.ExitCode, not an error; a timeout (whole seconds, rounded
	// up; 0: none) is ErrDeadline.
	ExecSync(ctx context.Context, containerID string, cmd []string, timeout time.Duration) (ExecResult, error)
	// Exec, Attach and PortForward return the runtime's streaming URL.
	Exec(ctx context.Context, req *runtimeapi.ExecRequest) (string, error)
	Attach(ctx context.Context, req *runtimeapi.AttachRequest) (string, error)
	PortForward(ctx context.Context, req *runtimeapi.PortForwardRequest) (string, error)
	ReopenContainerLog(ctx context.Context, containerID string) error

	// PullImage pulls with the given credentials (nil: anonymous) and
	// returns the image reference (ID) the runtime stored.
	PullImage(ctx context.Context, image *runtimeapi.ImageSpec, auth *runtimeapi.AuthConfig, sandboxConfig *runtimeapi.PodSandboxConfig) (string, error)
	// ImageStatus returns nil, nil when the image is not present.
	ImageStatus(ctx context.Context, image *runtimeapi.ImageSpec) (*runtimeapi.Image, error)
	// ListImages: containerd 1.6 ignores filter and lists every image.
	ListImages(ctx context.Context, filter *runtimeapi.ImageFilter) ([]*runtimeapi.Image, error)
	// RemoveImage succeeds when the image is not present (CRI contract).
	RemoveImage(ctx context.Context, image *runtimeapi.ImageSpec) error

	Close() error
}
