package main

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/berth-dev/berth/bench/internal/benchkit"
)

// readyTimeout is how long the server, without agent, gets to write its
// kubeconfig.
const readyTimeout = 60 * time.Second

// berthResult is what was measured through berth's API.
type berthResult struct {
	*apiResult

	ready   time.Duration // exec to kubeconfig written
	peakRSS int64         // VmHWM before stopping, bytes; -1 when unknown
	rss     int64         // VmRSS before stopping, bytes; -1 when unknown
	stop    time.Duration // SIGTERM to exit
	stopErr error         // how it exited, when not cleanly
}

// benchBerth starts the server on dataDir, runs the workload, and stops it.
func benchBerth(ctx context.Context, cfg config, bin, dataDir, label string) (res *berthResult, err error) {
	benchkit.Progress("%s: starting %s on %s", label, bin, dataDir)
	srv, err := benchkit.StartServer(ctx, bin, dataDir, readyTimeout, "--disable-agent")
	if err != nil {
		return nil, err
	}
	defer func() {
		if srv != nil { // an early return: stop it, keep the first error
			_, _ = srv.Stop()
		}
	}()
	res = &berthResult{ready: srv.Ready}
	benchkit.Progress("%s: ready in %s", label, srv.Ready.Round(time.Millisecond))

	// One client set, so one HTTP/2 connection.
	rc, err := benchkit.RESTConfig(srv.Kubeconfig, "berth-bench-api")
	if err != nil {
		return nil, err
	}
	if res.apiResult, err = runWorkload(ctx, label, cfg, rc, srv.Pid()); err != nil {
		return nil, err
	}
	res.peakRSS, res.rss = benchkit.Memory(srv.Pid())
	benchkit.Progress("%s: stopping (SIGTERM)", label)
	res.stop, res.stopErr = srv.Stop()
	srv = nil
	return res, nil
}

// storedJSON is obj as berth stores it: JSON with apiVersion and kind.
func storedJSON(obj any, kind string) ([]byte, error) {
	switch o := obj.(type) {
	case *corev1.Pod:
		o.APIVersion, o.Kind = "v1", kind
	case *corev1.ConfigMap:
		o.APIVersion, o.Kind = "v1", kind
	default:
		return nil, errors.New("storedJSON: unexpected type")
	}
	return json.Marshal(obj)
}
