package main

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berth-dev/berth/bench/internal/benchkit"
)

// namespace holds the benchmark's pods (berth's in the API; the floor's
// sandboxes carry it in their CRI metadata).
const namespace = "bench-podstart"

const (
	// imageRepo and imageTag name the image every pod runs, pushed once to
	// the benchmark's registry.
	imageRepo = "bench/busybox"
	imageTag  = "podstart"
	// cidrSecondByte is this benchmark's pod ranges: 10.202.N.0/24.
	cidrSecondByte = 202
)

// env is berth running, with what the benchmark talks to it with: besides
// the node's clients, a raw CRI client for verbose status (the configs
// berth sent).
type env struct {
	*benchkit.Node
	raw     runtimeapi.RuntimeServiceClient
	rawConn *grpc.ClientConn
}

// startEnv starts berth in the rig and connects to its API and to its
// containerd. On error the returned env (if not nil) still needs teardown.
func startEnv(ctx context.Context, rig *benchkit.Rig) (*env, error) {
	n, err := rig.StartNode(ctx)
	if n == nil {
		return nil, err
	}
	e := &env{Node: n}
	if err != nil {
		return e, err
	}
	if e.rawConn, err = grpc.NewClient("unix://"+e.Sock, grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
		return e, err
	}
	e.raw = runtimeapi.NewRuntimeServiceClient(e.rawConn)
	return e, nil
}

// teardown removes everything (benchkit.Node.Teardown: berth's pods, any
// sandbox left, the server, the bridge, the cgroups), then checks that no
// shim of the pods outlived their containerd.
func (e *env) teardown() error {
	err := e.Teardown(nil)
	if e.rawConn != nil {
		e.rawConn.Close()
	}
	if n, _ := shims(e.Sock); n > 0 {
		err = errors.Join(err, fmt.Errorf("%d containerd-shim processes of %s still run: containers were left behind", n, e.Sock))
	}
	return err
}
