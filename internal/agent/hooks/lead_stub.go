// Package hooks runs lifecycle hooks. TEMPORARY: the lead's stand-in for
// the API the hooks branch delivers; removed when that branch is merged.
package hooks

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

type Kind string

const (
	PostStart Kind = "PostStart"
	PreStop   Kind = "PreStop"
)

type Request struct {
	Kind        Kind
	Pod         *corev1.Pod
	Container   *corev1.Container
	ContainerID string
	PodIP       string
	Handler     *corev1.LifecycleHandler
}

type Result struct {
	Err          error
	Summary      string
	FallbackHost string
}

type Record struct {
	Kind        string
	ContainerID string
	Start       time.Time
}

type Config struct {
	Runtime        any
	UserAgent, Dir string
	Log            any
}

func New(cfg Config) *Runner { return &Runner{} }

type Runner struct{}

func (r *Runner) Run(ctx context.Context, req Request) Result {
	if req.Handler.Sleep != nil {
		select {
		case <-time.After(time.Duration(req.Handler.Sleep.Seconds) * time.Second):
			return Result{}
		case <-ctx.Done():
			return Result{Err: fmt.Errorf("container terminated before sleep hook finished")}
		}
	}
	return Result{}
}

func (r *Runner) Forget(types.UID) {}

func Load(dir string, uid types.UID, container string) ([]Record, error) { return nil, nil }
