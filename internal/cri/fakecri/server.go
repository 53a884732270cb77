package fakecri

import (
	"context"
	"time"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berth-dev/berth/internal/cri"
)

// NewServer returns a gRPC server that serves rt (usually a fake Runtime)
// as a CRI v1 runtime and image service; errors become gRPC statuses with
// cri.ToGRPC. Serve it on a unix socket and cri.Dial it to exercise the
// real client (or a whole agent) without containerd.
func NewServer(rt cri.Runtime) *grpc.Server {
	s := grpc.NewServer(grpc.MaxRecvMsgSize(cri.MaxMsgSize), grpc.MaxSendMsgSize(cri.MaxMsgSize))
	a := &adapter{rt: rt}
	runtimeapi.RegisterRuntimeServiceServer(s, a)
	runtimeapi.RegisterImageServiceServer(s, imageAdapter{rt: rt})
	return s
}

type adapter struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	rt cri.Runtime
}

func (a *adapter) Version(ctx context.Context, _ *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error) {
	v, err := a.rt.Version(ctx)
	return v, cri.ToGRPC(err)
}

func (a *adapter) Status(ctx context.Context, _ *runtimeapi.StatusRequest) (*runtimeapi.StatusResponse, error) {
	st, err := a.rt.Status(ctx)
	if err != nil {
		return nil, cri.ToGRPC(err)
	}
	return &runtimeapi.StatusResponse{Status: st}, nil
}

func (a *adapter) RunPodSandbox(ctx context.Context, r *runtimeapi.RunPodSandboxRequest) (*runtimeapi.RunPodSandboxResponse, error) {
	id, err := a.rt.RunPodSandbox(ctx, r.GetConfig(), r.GetRuntimeHandler())
	if err != nil {
		return nil, cri.ToGRPC(err)
	}
	return &runtimeapi.RunPodSandboxResponse{PodSandboxId: id}, nil
}

func (a *adapter) StopPodSandbox(ctx context.Context, r *runtimeapi.StopPodSandboxRequest) (*runtimeapi.StopPodSandboxResponse, error) {
	return &runtimeapi.StopPodSandboxResponse{}, cri.ToGRPC(a.rt.StopPodSandbox(ctx, r.GetPodSandboxId()))
}

func (a *adapter) RemovePodSandbox(ctx context.Context, r *runtimeapi.RemovePodSandboxRequest) (*runtimeapi.RemovePodSandboxResponse, error) {
	return &runtimeapi.RemovePodSandboxResponse{}, cri.ToGRPC(a.rt.RemovePodSandbox(ctx, r.GetPodSandboxId()))
}

func (a *adapter) PodSandboxStatus(ctx context.Context, r *runtimeapi.PodSandboxStatusRequest) (*runtimeapi.PodSandboxStatusResponse, error) {
	st, err := a.rt.PodSandboxStatus(ctx, r.GetPodSandboxId())
	if err != nil {
		return nil, cri.ToGRPC(err)
	}
	return &runtimeapi.PodSandboxStatusResponse{Status: st}, nil
}

func (a *adapter) ListPodSandbox(ctx context.Context, r *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	items, err := a.rt.ListPodSandbox(ctx, r.GetFilter())
	if err != nil {
		return nil, cri.ToGRPC(err)
	}
	return &runtimeapi.ListPodSandboxResponse{Items: items}, nil
}

func (a *adapter) CreateContainer(ctx context.Context, r *runtimeapi.CreateContainerRequest) (*runtimeapi.CreateContainerResponse, error) {
	id, err := a.rt.CreateContainer(ctx, r.GetPodSandboxId(), r.GetConfig(), r.GetSandboxConfig())
	if err != nil {
		return nil, cri.ToGRPC(err)
	}
	return &runtimeapi.CreateContainerResponse{ContainerId: id}, nil
}

func (a *adapter) StartContainer(ctx context.Context, r *runtimeapi.StartContainerRequest) (*runtimeapi.StartContainerResponse, error) {
	return &runtimeapi.StartContainerResponse{}, cri.ToGRPC(a.rt.StartContainer(ctx, r.GetContainerId()))
}

func (a *adapter) StopContainer(ctx context.Context, r *runtimeapi.StopContainerRequest) (*runtimeapi.StopContainerResponse, error) {
	err := a.rt.StopContainer(ctx, r.GetContainerId(), time.Duration(r.GetTimeout())*time.Second)
	return &runtimeapi.StopContainerResponse{}, cri.ToGRPC(err)
}

func (a *adapter) RemoveContainer(ctx context.Context, r *runtimeapi.RemoveContainerRequest) (*runtimeapi.RemoveContainerResponse, error) {
	return &runtimeapi.RemoveContainerResponse{}, cri.ToGRPC(a.rt.RemoveContainer(ctx, r.GetContainerId()))
}

func (a *adapter) ListContainers(ctx context.Context, r *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	cs, err := a.rt.ListContainers(ctx, r.GetFilter())
	if err != nil {
		return nil, cri.ToGRPC(err)
	}
	return &runtimeapi.ListContainersResponse{Containers: cs}, nil
}

func (a *adapter) ContainerStatus(ctx context.Context, r *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error) {
	st, err := a.rt.ContainerStatus(ctx, r.GetContainerId())
	if err != nil {
		return nil, cri.ToGRPC(err)
	}
	return &runtimeapi.ContainerStatusResponse{Status: st}, nil
}

func (a *adapter) ExecSync(ctx context.Context, r *runtimeapi.ExecSyncRequest) (*runtimeapi.ExecSyncResponse, error) {
	res, err := a.rt.ExecSync(ctx, r.GetContainerId(), r.GetCmd(), time.Duration(r.GetTimeout())*time.Second)
	if err != nil {
		return nil, cri.ToGRPC(err)
	}
	return &runtimeapi.ExecSyncResponse{Stdout: res.Stdout, Stderr: res.Stderr, ExitCode: res.ExitCode}, nil
}

func (a *adapter) Exec(ctx context.Context, r *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	url, err := a.rt.Exec(ctx, r)
	if err != nil {
		return nil, cri.ToGRPC(err)
	}
	return &runtimeapi.ExecResponse{Url: url}, nil
}

func (a *adapter) Attach(ctx context.Context, r *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	url, err := a.rt.Attach(ctx, r)
	if err != nil {
		return nil, cri.ToGRPC(err)
	}
	return &runtimeapi.AttachResponse{Url: url}, nil
}

func (a *adapter) PortForward(ctx context.Context, r *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error) {
	url, err := a.rt.PortForward(ctx, r)
	if err != nil {
		return nil, cri.ToGRPC(err)
	}
	return &runtimeapi.PortForwardResponse{Url: url}, nil
}

func (a *adapter) ReopenContainerLog(ctx context.Context, r *runtimeapi.ReopenContainerLogRequest) (*runtimeapi.ReopenContainerLogResponse, error) {
	return &runtimeapi.ReopenContainerLogResponse{}, cri.ToGRPC(a.rt.ReopenContainerLog(ctx, r.GetContainerId()))
}

type imageAdapter struct {
	runtimeapi.UnimplementedImageServiceServer
	rt cri.Runtime
}

func (a imageAdapter) ListImages(ctx context.Context, r *runtimeapi.ListImagesRequest) (*runtimeapi.ListImagesResponse, error) {
	imgs, err := a.rt.ListImages(ctx, r.GetFilter())
	if err != nil {
		return nil, cri.ToGRPC(err)
	}
	return &runtimeapi.ListImagesResponse{Images: imgs}, nil
}

func (a imageAdapter) ImageStatus(ctx context.Context, r *runtimeapi.ImageStatusRequest) (*runtimeapi.ImageStatusResponse, error) {
	img, err := a.rt.ImageStatus(ctx, r.GetImage())
	if err != nil {
		return nil, cri.ToGRPC(err)
	}
	return &runtimeapi.ImageStatusResponse{Image: img}, nil
}

func (a imageAdapter) PullImage(ctx context.Context, r *runtimeapi.PullImageRequest) (*runtimeapi.PullImageResponse, error) {
	ref, err := a.rt.PullImage(ctx, r.GetImage(), r.GetAuth(), r.GetSandboxConfig())
	if err != nil {
		return nil, cri.ToGRPC(err)
	}
	return &runtimeapi.PullImageResponse{ImageRef: ref}, nil
}

func (a imageAdapter) RemoveImage(ctx context.Context, r *runtimeapi.RemoveImageRequest) (*runtimeapi.RemoveImageResponse, error) {
	return &runtimeapi.RemoveImageResponse{}, cri.ToGRPC(a.rt.RemoveImage(ctx, r.GetImage()))
}
