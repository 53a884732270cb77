package benchkit

import (
	"context"
	"fmt"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/berth-dev/berth/internal/cri"
)

const (
	// agentGrace is how long berth's agent gets to remove the sandboxes of
	// deleted pods itself (it does so just after they leave the API).
	agentGrace = 10 * time.Second
	// removeTimeout bounds the removal of the sandboxes left after that.
	removeTimeout = time.Minute
)

// removeAllSandboxes stops and removes every sandbox in the runtime. The
// containerd is berth's child on the benchmark's own data dir: all of it
// is the benchmark's. It first gives berth's agent agentGrace to remove
// the sandboxes of deleted pods, then removes what is left, listing again
// until nothing is (a sandbox still being created shows up only once
// RunPodSandbox is done).
func removeAllSandboxes(ctx context.Context, rt cri.Runtime) error {
	sbs, err := waitSandboxesGone(ctx, rt, agentGrace)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(removeTimeout)
	for len(sbs) > 0 {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d sandboxes still in containerd after a minute of removing them", len(sbs))
		}
		Progress("cleanup: removing %d sandboxes left in containerd", len(sbs))
		for _, sb := range sbs {
			if err := rt.StopPodSandbox(ctx, sb.Id); err != nil {
				Progress("cleanup: stopping sandbox %s: %v", sb.Id, err)
				continue
			}
			if err := rt.RemovePodSandbox(ctx, sb.Id); err != nil {
				Progress("cleanup: removing sandbox %s: %v", sb.Id, err)
			}
		}
		if sbs, err = waitSandboxesGone(ctx, rt, time.Second); err != nil {
			return err
		}
	}
	return nil
}

// waitSandboxesGone lists the sandboxes until there are none or wait has
// passed, and returns the last list.
func waitSandboxesGone(ctx context.Context, rt cri.Runtime, wait time.Duration) ([]*runtimeapi.PodSandbox, error) {
	deadline := time.Now().Add(wait)
	for {
		sbs, err := rt.ListPodSandbox(ctx, nil)
		if err != nil {
			return nil, fmt.Errorf("listing sandboxes: %w", err)
		}
		if len(sbs) == 0 || time.Now().After(deadline) {
			return sbs, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
