// Command podstart measures how long berth takes to bring a pod from the
// create call to Running, against the floor set by its own container
// runtime: the same containerd (berth's child, through its socket), the
// same image and the same sandbox and container configuration, driven with
// raw CRI calls in the same run. It prints Markdown tables.
//
//	make build && sudo go run ./bench/podstart [-bin bin/berth] [-n 20] [-burst 30]
//
// It must run as root (berth starts containerd, runc and CNI). See
// README.md for what each row measures and how to read it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/berth-dev/berth/bench/internal/benchkit"
)

type config struct {
	out      *benchkit.Output // -json, -busy-ok
	bin      string
	n        int
	burst    int
	services int
	// runtime is berth's OCI runtime (BERTH_OCI_RUNTIME for the server);
	// floors are the CRI runtime handlers the floor runs on, the first
	// being the one the targets compare with.
	runtime string
	floors  []string
}

func main() {
	var cfg config
	cfg.out = benchkit.Flags("podstart")
	flag.StringVar(&cfg.bin, "bin", "bin/berth", "berth binary to benchmark (built by `make build`)")
	flag.IntVar(&cfg.n, "n", 20, "pods started one at a time, on berth and on the floor")
	flag.IntVar(&cfg.burst, "burst", 30, "pods started at once, on berth and on the floor")
	flag.IntVar(&cfg.services, "services", 0, "Services created in the pods' namespace first (each gives every container its service-link variables)")
	flag.StringVar(&cfg.runtime, "runtime", "auto", "berth's OCI runtime (its --oci-runtime): auto, crun or runc")
	floors := flag.String("floor-runtimes", "runc,crun", "CRI runtime handlers the floor runs on, alternating with berth; the first is the one targets compare with")
	flag.Parse()
	for _, h := range strings.Split(*floors, ",") {
		if h = strings.TrimSpace(h); h != "" {
			cfg.floors = append(cfg.floors, h)
		}
	}
	if len(cfg.floors) == 0 {
		fmt.Fprintln(os.Stderr, "bench/podstart: -floor-runtimes names no runtime")
		os.Exit(2)
	}
	// The server inherits it (berth's --oci-runtime default).
	_ = os.Setenv("BERTH_OCI_RUNTIME", cfg.runtime)
	if cfg.n < 1 || cfg.burst < 1 {
		fmt.Fprintln(os.Stderr, "bench/podstart: -n and -burst must be positive")
		os.Exit(2)
	}
	if cfg.burst > 200 {
		// The pod network is a /24 shared by berth's pods and the floor's.
		fmt.Fprintln(os.Stderr, "bench/podstart: -burst is at most 200 (the pod network is a /24)")
		os.Exit(2)
	}
	benchkit.RequireRoot("podstart")
	cfg.out.Main("pods, sandboxes and processes stopped, temp dir removed",
		func(ctx context.Context) error { return run(ctx, cfg) })
}

// run does the whole benchmark. Everything it starts or creates is
// registered with a cleanup stack that runs before it returns, whatever
// happens (error, Ctrl-C).
func run(ctx context.Context, cfg config) (err error) {
	rig, err := benchkit.NewRig(ctx, benchkit.RigConfig{
		Bin: cfg.bin, TmpPrefix: "bps-", CIDRSecondByte: cidrSecondByte, Namespace: namespace, UserAgent: "berth-bench-podstart",
	})
	if err != nil {
		return err
	}
	defer func() {
		if cErr := rig.Close(); cErr != nil {
			err = errors.Join(err, cErr)
		}
	}()

	img, err := rig.Registry.Push(ctx, imageRepo, 0, imageTag)
	if err != nil {
		return err
	}
	benchkit.Progress("registry: pushed %s (%s)", img.Ref(imageTag), benchkit.Size(img.Size))

	env, err := startEnv(ctx, rig)
	if env != nil {
		rig.Add("stopping berth (pods, sandboxes, server, bridge, cgroups)", env.teardown)
	}
	if err != nil {
		return err
	}
	benchkit.Progress("berth: node ready in %s; containerd %s", env.Server.Ready.Round(time.Millisecond), env.RuntimeVersion)

	res, err := measure(ctx, cfg, env, img, filepath.Join(rig.Tmp, "floor"))
	if err != nil {
		return err
	}
	m := machine{Machine: rig.Machine, runtime: env.RuntimeVersion, cidr: env.CIDR, oci: berthOCIRuntime(env.Sock)}
	report(cfg.out.Stdout(), cfg, m, img, res)
	return nil
}

// results is everything measured, for the report.
type results struct {
	berthWarm, floorWarm   podTiming
	berthSeq, floorSeq     []podTiming
	berthBurst, floorBurst []podTiming
	berthAll, floorAll     time.Duration // first start → last running, at once
	// floors holds every floor by runtime handler, the first being the
	// one above.
	floors       []*floorRun
	berthDeploy  time.Duration // a Deployment of burst replicas: create → all ready
	berthRollout time.Duration // rolloutReplicas replicas rolled over (maxSurge 1, maxUnavailable 1)

	idle, busy, after memSample // before any pod; berth's burst running; after it was deleted

	diffs    []string // where the floor's configs differ from berth's
	compared int      // how many config fields were compared
	cmpErr   error    // why they could not be compared
}

// measure runs the pods. One at a time, berth's and the floor's pods
// alternate, so that both meet the same background load (a shared machine
// is noisy); then each side starts its burst.
func measure(ctx context.Context, cfg config, e *env, img benchkit.Image, floorDir string) (*results, error) {
	wctx, stopWatches := context.WithCancel(ctx)
	defer stopWatches()
	b, err := newBerth(wctx, e, img)
	if err != nil {
		return nil, fmt.Errorf("berth: %w", err)
	}
	if err := b.createServices(ctx, cfg.services); err != nil {
		return nil, fmt.Errorf("berth: %w", err)
	}
	r := &results{idle: e.memory()}
	if r.berthWarm, err = b.warmUp(ctx); err != nil {
		return nil, fmt.Errorf("berth: %w", err)
	}
	var fs []*floor
	for _, h := range cfg.floors {
		f, err := newFloor(ctx, e, img, filepath.Join(floorDir, h), h, b.sent)
		if err != nil {
			return nil, fmt.Errorf("floor on %s: %w", h, err)
		}
		defer f.cleanup(ctx)
		fr := &floorRun{handler: h}
		if fr.warm, err = f.warmUp(ctx, b.sent, b.sentErr); err != nil {
			return nil, fmt.Errorf("floor on %s: %w", h, err)
		}
		fs = append(fs, f)
		r.floors = append(r.floors, fr)
	}
	f := fs[0]
	r.floorWarm = r.floors[0].warm
	r.diffs, r.compared, r.cmpErr = f.diffs, f.compared, f.cmpErr

	benchkit.Progress("%d pods one at a time, alternately on berth (create → Running; delete, wait until gone) "+
		"and on the floor on %s (RunPodSandbox … StartContainer; stop, remove)", cfg.n, strings.Join(cfg.floors, ", "))
	for i := range cfg.n {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		// Who goes first turns each round: the side right after berth
		// meets what berth's agent still does after a pod is gone.
		sides := len(fs) + 1
		for k := range sides {
			switch j := (i + k) % sides; j {
			case 0:
				bt, err := b.one(ctx, i)
				if err != nil {
					return nil, fmt.Errorf("berth: %w", err)
				}
				r.berthSeq = append(r.berthSeq, bt)
			default:
				f := fs[j-1]
				ft, err := f.one(ctx, i)
				if err != nil {
					return nil, fmt.Errorf("floor on %s: %w", f.handler, err)
				}
				r.floors[j-1].seq = append(r.floors[j-1].seq, ft)
			}
		}
	}
	r.floorSeq = r.floors[0].seq

	benchkit.Progress("berth: %d pods at once", cfg.burst)
	if r.berthBurst, r.berthAll, r.busy, r.after, err = b.burst(ctx, cfg.burst); err != nil {
		return nil, fmt.Errorf("berth: %w", err)
	}
	benchkit.Progress("berth: one Deployment of %d replicas", cfg.burst)
	if r.berthDeploy, err = b.deployment(ctx, cfg.burst); err != nil {
		return nil, fmt.Errorf("berth: %w", err)
	}
	benchkit.Progress("berth: rolling update of a Deployment of %d replicas", rolloutReplicas)
	if r.berthRollout, err = b.rollingUpdate(ctx, rolloutReplicas); err != nil {
		return nil, fmt.Errorf("berth: %w", err)
	}
	for j, f := range fs {
		benchkit.Progress("floor on %s: %d pods at once", f.handler, cfg.burst)
		fr := r.floors[j]
		if fr.burst, fr.all, err = f.burst(ctx, cfg.burst); err != nil {
			return nil, fmt.Errorf("floor on %s: %w", f.handler, err)
		}
	}
	r.floorBurst, r.floorAll = r.floors[0].burst, r.floors[0].all
	return r, nil
}

// floorRun is the floor on one runtime handler.
type floorRun struct {
	handler    string
	warm       podTiming
	seq, burst []podTiming
	all        time.Duration
}

// berthOCIRuntime is the default runtime in berth's containerd config
// (next to its socket), "" if unknown.
func berthOCIRuntime(sock string) string {
	b, err := os.ReadFile(filepath.Join(filepath.Dir(sock), "config.toml"))
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "default_runtime_name = "); ok {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}
