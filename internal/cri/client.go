package cri

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// MaxMsgSize bounds gRPC messages in both directions (as kubelet does).
const MaxMsgSize = 16 << 20

// Client is a Runtime over a CRI v1 gRPC connection.
//
// Reconnects: the connection is a grpc.ClientConn. When the runtime goes
// away (a containerd restart) grpc reconnects by itself with a back-off
// capped at 3 s; nothing needs re-dialling. Calls are not wait-for-ready:
// a call made while the runtime is down fails at once with ErrUnavailable,
// and a call in flight when the runtime dies fails with ErrUnavailable
// too. A runtime that accepts a call but never answers (stopped, not dead)
// is bounded by ctx, and when ctx has no deadline by the kubelet's
// --runtime-request-timeout (2 min; ErrDeadline then), so a wedged runtime
// cannot hang a caller forever.
type Client struct {
	conn    *grpc.ClientConn
	runtime runtimeapi.RuntimeServiceClient
	image   runtimeapi.ImageServiceClient
	// timeout is the default deadline of a call; see callTimeout.
	timeout atomic.Int64
}

// DefaultRequestTimeout is the kubelet's --runtime-request-timeout.
const DefaultRequestTimeout = 2 * time.Minute

// SetRequestTimeout changes the default deadline of calls whose context
// has none (DefaultRequestTimeout unless set).
func (c *Client) SetRequestTimeout(d time.Duration) { c.timeout.Store(int64(d)) }

// deadlines gives a call whose context has no deadline one, as the
// kubelet's remote runtime does: the request timeout, plus the call's own
// timeout for StopContainer and ExecSync; none for image pulls (bounded by
// their progress, and cancelled by the caller) and for an ExecSync without
// a timeout.
func (c *Client) deadlines(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if _, ok := ctx.Deadline(); !ok {
		if d, ok := callTimeout(method, req, time.Duration(c.timeout.Load())); ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d)
			defer cancel()
		}
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}

func callTimeout(method string, req any, base time.Duration) (time.Duration, bool) {
	switch r := req.(type) {
	case *runtimeapi.PullImageRequest:
		return 0, false
	case *runtimeapi.StopContainerRequest:
		return base + time.Duration(r.GetTimeout())*time.Second, true
	case *runtimeapi.ExecSyncRequest:
		if r.GetTimeout() == 0 {
			return 0, false
		}
		return base + time.Duration(r.GetTimeout())*time.Second, true
	}
	return base, true
}

var _ Runtime = (*Client)(nil)

// Dial connects to the CRI runtime at endpoint, "unix:///path/to/sock" or
// a bare socket path, and checks with a Version call (bounded by ctx) that
// the runtime answers and serves CRI v1. A runtime that is not listening
// gives ErrUnavailable; one that does not serve CRI v1, ErrUnimplemented.
func Dial(ctx context.Context, endpoint string) (*Client, error) {
	path, err := socketPath(endpoint)
	if err != nil {
		return nil, err
	}
	c := &Client{}
	c.timeout.Store(int64(DefaultRequestTimeout))
	conn, err := grpc.NewClient("unix://"+path,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(MaxMsgSize),
			grpc.MaxCallSendMsgSize(MaxMsgSize),
		),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{
				BaseDelay:  100 * time.Millisecond,
				Multiplier: 1.6,
				Jitter:     0.2,
				MaxDelay:   3 * time.Second,
			},
			MinConnectTimeout: 5 * time.Second,
		}),
		grpc.WithUserAgent("berth"),
		grpc.WithUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			return c.deadlines(ctx, method, req, reply, cc, invoker, opts...)
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("CRI endpoint %q: %w", endpoint, err)
	}
	c.conn = conn
	c.runtime = runtimeapi.NewRuntimeServiceClient(conn)
	c.image = runtimeapi.NewImageServiceClient(conn)
	if _, err := c.Version(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("CRI endpoint %q: %w", endpoint, err)
	}
	return c, nil
}

// socketPath accepts "unix:///abs/path", "unix:relative/path" and a bare
// path; other schemes (tcp, npipe) are not supported.
func socketPath(endpoint string) (string, error) {
	p := endpoint
	if rest, ok := strings.CutPrefix(endpoint, "unix://"); ok {
		p = rest
	} else if rest, ok := strings.CutPrefix(endpoint, "unix:"); ok {
		p = rest
	} else if i := strings.Index(endpoint, "://"); i >= 0 {
		return "", fmt.Errorf("CRI endpoint %q: only unix sockets are supported", endpoint)
	}
	if p == "" {
		return "", fmt.Errorf("CRI endpoint %q: empty socket path", endpoint)
	}
	return filepath.Abs(p)
}

// Close closes the connection; later calls fail.
func (c *Client) Close() error { return c.conn.Close() }

// Version returns the runtime's name and version and the CRI version it
// serves ("v1").
func (c *Client) Version(ctx context.Context) (*runtimeapi.VersionResponse, error) {
	resp, err := c.runtime.Version(ctx, &runtimeapi.VersionRequest{Version: "v1"})
	if err != nil {
		return nil, fromGRPC(err)
	}
	return resp, nil
}

// Status returns the runtime's conditions (RuntimeReady, NetworkReady).
func (c *Client) Status(ctx context.Context) (*runtimeapi.RuntimeStatus, error) {
	resp, err := c.runtime.Status(ctx, &runtimeapi.StatusRequest{})
	if err != nil {
		return nil, fromGRPC(err)
	}
	if resp.GetStatus() == nil {
		return nil, errors.New("runtime returned an empty status")
	}
	return resp.GetStatus(), nil
}

// RunPodSandbox creates and starts a pod sandbox and returns its ID.
// runtimeHandler "" is the runtime's default handler.
func (c *Client) RunPodSandbox(ctx context.Context, config *runtimeapi.PodSandboxConfig, runtimeHandler string) (string, error) {
	resp, err := c.runtime.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: config, RuntimeHandler: runtimeHandler})
	if err != nil {
		return "", fromGRPC(err)
	}
	if resp.GetPodSandboxId() == "" {
		return "", errors.New("runtime returned an empty sandbox ID")
	}
	return resp.GetPodSandboxId(), nil
}

// StopPodSandbox stops the sandbox and kills its containers. A sandbox that
// does not exist (any more) is not an error: the CRI contract makes the
// call idempotent, and NotFound is treated as success here.
func (c *Client) StopPodSandbox(ctx context.Context, sandboxID string) error {
	_, err := c.runtime.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sandboxID})
	return ignoreNotFound(fromGRPC(err))
}

// RemovePodSandbox removes the sandbox and its containers (containerd
// stops a running sandbox first). NotFound is success (CRI contract).
func (c *Client) RemovePodSandbox(ctx context.Context, sandboxID string) error {
	_, err := c.runtime.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sandboxID})
	return ignoreNotFound(fromGRPC(err))
}

// PodSandboxStatus returns the sandbox's status; ErrNotFound for an unknown ID.
func (c *Client) PodSandboxStatus(ctx context.Context, sandboxID string) (*runtimeapi.PodSandboxStatus, error) {
	resp, err := c.runtime.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: sandboxID})
	if err != nil {
		return nil, fromGRPC(err)
	}
	if resp.GetStatus() == nil {
		return nil, fmt.Errorf("runtime returned no status for sandbox %q", sandboxID)
	}
	return resp.GetStatus(), nil
}

// ListPodSandbox lists sandboxes matching filter (nil: all).
func (c *Client) ListPodSandbox(ctx context.Context, filter *runtimeapi.PodSandboxFilter) ([]*runtimeapi.PodSandbox, error) {
	resp, err := c.runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: filter})
	if err != nil {
		return nil, fromGRPC(err)
	}
	return resp.GetItems(), nil
}

// CreateContainer creates a container in a sandbox and returns its ID.
// sandboxConfig must be the config the sandbox was run with.
func (c *Client) CreateContainer(ctx context.Context, sandboxID string, config *runtimeapi.ContainerConfig, sandboxConfig *runtimeapi.PodSandboxConfig) (string, error) {
	resp, err := c.runtime.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{
		PodSandboxId:  sandboxID,
		Config:        config,
		SandboxConfig: sandboxConfig,
	})
	if err != nil {
		return "", fromGRPC(err)
	}
	if resp.GetContainerId() == "" {
		return "", errors.New("runtime returned an empty container ID")
	}
	return resp.GetContainerId(), nil
}

// StartContainer starts a created container. When the process cannot be
// started, the error carries the runtime's message (cri.Message) and the
// container is EXITED with reason StartError.
func (c *Client) StartContainer(ctx context.Context, containerID string) error {
	_, err := c.runtime.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: containerID})
	return fromGRPC(err)
}

// StopContainer sends the container's stop signal and SIGKILL once
// timeout has passed; timeout is sent in whole seconds, rounded up (0 or
// less: SIGKILL at once). Stopping a container that is not running
// succeeds; an unknown ID is ErrNotFound. ctx must outlast timeout.
func (c *Client) StopContainer(ctx context.Context, containerID string, timeout time.Duration) error {
	_, err := c.runtime.StopContainer(ctx, &runtimeapi.StopContainerRequest{ContainerId: containerID, Timeout: seconds(timeout)})
	return fromGRPC(err)
}

// RemoveContainer removes a container (containerd kills it first if it is
// running). NotFound is success (CRI contract: the call is idempotent).
func (c *Client) RemoveContainer(ctx context.Context, containerID string) error {
	_, err := c.runtime.RemoveContainer(ctx, &runtimeapi.RemoveContainerRequest{ContainerId: containerID})
	return ignoreNotFound(fromGRPC(err))
}

// ListContainers lists containers matching filter (nil: all).
func (c *Client) ListContainers(ctx context.Context, filter *runtimeapi.ContainerFilter) ([]*runtimeapi.Container, error) {
	resp, err := c.runtime.ListContainers(ctx, &runtimeapi.ListContainersRequest{Filter: filter})
	if err != nil {
		return nil, fromGRPC(err)
	}
	return resp.GetContainers(), nil
}

// ContainerStatus returns the container's status; ErrNotFound for an unknown ID.
func (c *Client) ContainerStatus(ctx context.Context, containerID string) (*runtimeapi.ContainerStatus, error) {
	resp, err := c.runtime.ContainerStatus(ctx, &runtimeapi.ContainerStatusRequest{ContainerId: containerID})
	if err != nil {
		return nil, fromGRPC(err)
	}
	if resp.GetStatus() == nil {
		return nil, fmt.Errorf("runtime returned no status for container %q", containerID)
	}
	return resp.GetStatus(), nil
}

// ExecSync runs cmd in a running container and waits for it. A non-zero
// exit is not an error: it is ExecResult.ExitCode. timeout is sent in
// whole seconds, rounded up (0: none); the runtime then fails the call
// (ErrDeadline or a plain error, depending on the runtime). ctx must
// outlast timeout.
func (c *Client) ExecSync(ctx context.Context, containerID string, cmd []string, timeout time.Duration) (ExecResult, error) {
	resp, err := c.runtime.ExecSync(ctx, &runtimeapi.ExecSyncRequest{ContainerId: containerID, Cmd: cmd, Timeout: seconds(timeout)})
	if err != nil {
		return ExecResult{}, fromGRPC(err)
	}
	return ExecResult{Stdout: resp.GetStdout(), Stderr: resp.GetStderr(), ExitCode: resp.GetExitCode()}, nil
}

// Exec returns the streaming URL for an interactive exec.
func (c *Client) Exec(ctx context.Context, req *runtimeapi.ExecRequest) (string, error) {
	resp, err := c.runtime.Exec(ctx, req)
	if err != nil {
		return "", fromGRPC(err)
	}
	return resp.GetUrl(), nil
}

// Attach returns the streaming URL for attaching to a container.
func (c *Client) Attach(ctx context.Context, req *runtimeapi.AttachRequest) (string, error) {
	resp, err := c.runtime.Attach(ctx, req)
	if err != nil {
		return "", fromGRPC(err)
	}
	return resp.GetUrl(), nil
}

// PortForward returns the streaming URL for forwarding a sandbox's ports.
func (c *Client) PortForward(ctx context.Context, req *runtimeapi.PortForwardRequest) (string, error) {
	resp, err := c.runtime.PortForward(ctx, req)
	if err != nil {
		return "", fromGRPC(err)
	}
	return resp.GetUrl(), nil
}

// ReopenContainerLog asks the runtime to reopen the container's log file
// (after rotation).
func (c *Client) ReopenContainerLog(ctx context.Context, containerID string) error {
	_, err := c.runtime.ReopenContainerLog(ctx, &runtimeapi.ReopenContainerLogRequest{ContainerId: containerID})
	return fromGRPC(err)
}

// PullImage pulls image with auth (nil: anonymous) and returns the image
// reference the runtime stored (containerd: the image ID, sha256:…).
// sandboxConfig may be nil. A failed pull keeps the runtime's message
// (401 Unauthorized, not found, …) for the user.
func (c *Client) PullImage(ctx context.Context, image *runtimeapi.ImageSpec, auth *runtimeapi.AuthConfig, sandboxConfig *runtimeapi.PodSandboxConfig) (string, error) {
	resp, err := c.image.PullImage(ctx, &runtimeapi.PullImageRequest{Image: image, Auth: auth, SandboxConfig: sandboxConfig})
	if err != nil {
		return "", fromGRPC(err)
	}
	if resp.GetImageRef() == "" {
		return "", fmt.Errorf("runtime returned an empty reference for image %q", image.GetImage())
	}
	return resp.GetImageRef(), nil
}

// ImageStatus returns the image, or nil, nil when it is not present
// (runtimes that answer NotFound are treated the same way).
func (c *Client) ImageStatus(ctx context.Context, image *runtimeapi.ImageSpec) (*runtimeapi.Image, error) {
	resp, err := c.image.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: image})
	if err != nil {
		if err := fromGRPC(err); !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		return nil, nil
	}
	img := resp.GetImage()
	if img == nil || img.GetId() == "" {
		return nil, nil
	}
	return img, nil
}

// ListImages lists images matching filter (nil: all). containerd 1.6
// ignores the filter and lists every image: use ImageStatus for one.
func (c *Client) ListImages(ctx context.Context, filter *runtimeapi.ImageFilter) ([]*runtimeapi.Image, error) {
	resp, err := c.image.ListImages(ctx, &runtimeapi.ListImagesRequest{Filter: filter})
	if err != nil {
		return nil, fromGRPC(err)
	}
	return resp.GetImages(), nil
}

// RemoveImage removes an image. An image that is not present is not an
// error (CRI contract: the call is idempotent).
func (c *Client) RemoveImage(ctx context.Context, image *runtimeapi.ImageSpec) error {
	_, err := c.image.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: image})
	return ignoreNotFound(fromGRPC(err))
}

func ignoreNotFound(err error) error {
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// seconds rounds d up to whole seconds; d <= 0 is 0.
func seconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// Code returns the gRPC code of a runtime error: codes.OK for nil and
// codes.Unknown for errors that did not come from the runtime.
func Code(err error) codes.Code {
	if err == nil {
		return codes.OK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return codes.Unknown
}

// WritableLayerBytes is what the container's writable layer holds, by the
// runtime's ContainerStats (containerd asks its snapshotter).
func (c *Client) WritableLayerBytes(ctx context.Context, containerID string) (uint64, error) {
	resp, err := c.runtime.ContainerStats(ctx, &runtimeapi.ContainerStatsRequest{ContainerId: containerID})
	if err != nil {
		return 0, fromGRPC(err)
	}
	return resp.GetStats().GetWritableLayer().GetUsedBytes().GetValue(), nil
}
