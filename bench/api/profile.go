package main

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/berth-dev/berth/bench/internal/benchkit"
)

// profiler fetches the server's CPU profile (/debug/pprof/profile, served
// to cluster-admin by both servers) during a phase of the workload, into
// dir/<label>-<phase>.pprof, for `go tool pprof`. A nil profiler does
// nothing.
type profiler struct {
	dir, label string
	cs         kubernetes.Interface
}

// during starts a CPU profile of d (whole seconds, at least one) and
// returns the function that waits for it and writes it. The profile is the
// server's whole CPU over that time: start it right before the phase.
func (p *profiler) during(ctx context.Context, phase string, d time.Duration) (wait func() error) {
	if p == nil {
		return func() error { return nil }
	}
	secs := max(1, int(math.Ceil(d.Seconds())))
	type result struct {
		body []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		body, err := p.cs.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/profile").
			Param("seconds", strconv.Itoa(secs)).Timeout(time.Duration(secs+30) * time.Second).DoRaw(ctx)
		done <- result{body, err}
	}()
	return func() error {
		r := <-done
		if r.err != nil {
			return fmt.Errorf("CPU profile of %s (%s): %w", p.label, phase, r.err)
		}
		path := filepath.Join(p.dir, p.label+"-"+phase+".pprof")
		if err := os.WriteFile(path, r.body, 0o644); err != nil {
			return err
		}
		benchkit.Progress("%s: CPU profile of %s written to %s", p.label, phase, path)
		return nil
	}
}
