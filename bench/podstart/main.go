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
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

type config struct {
	bin   string
	n     int
	burst int
}

func main() {
	var cfg config
	flag.StringVar(&cfg.bin, "bin", "bin/berth", "berth binary to benchmark (built by `make build`)")
	flag.IntVar(&cfg.n, "n", 20, "pods started one at a time, on berth and on the floor")
	flag.IntVar(&cfg.burst, "burst", 30, "pods started at once, on berth and on the floor")
	flag.Parse()
	if cfg.n < 1 || cfg.burst < 1 {
		fmt.Fprintln(os.Stderr, "bench/podstart: -n and -burst must be positive")
		os.Exit(2)
	}
	if cfg.burst > 200 {
		// The pod network is a /24 shared by berth's pods and the floor's.
		fmt.Fprintln(os.Stderr, "bench/podstart: -burst is at most 200 (the pod network is a /24)")
		os.Exit(2)
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench/podstart: must run as root: berth starts containerd, runc and CNI "+
			"(make build && sudo go run ./bench/podstart)")
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, a second one kills at once (the default).
		<-ctx.Done()
		stop()
	}()
	err := run(ctx, cfg)
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("interrupted (%w); pods, sandboxes and processes stopped, temp dir removed", err)
		}
		fmt.Fprintln(os.Stderr, "bench/podstart:", err)
		os.Exit(1)
	}
}

// run does the whole benchmark. Everything it starts or creates is
// registered with a cleanup stack that runs before it returns, whatever
// happens (error, Ctrl-C).
func run(ctx context.Context, cfg config) (err error) {
	bin, err := filepath.Abs(cfg.bin)
	if err != nil {
		return err
	}
	if fi, statErr := os.Stat(bin); statErr != nil || fi.IsDir() {
		return fmt.Errorf("%s not found: run make build first (or pass -bin PATH)", cfg.bin)
	}
	if err := checkTools(); err != nil {
		return err
	}

	var cl cleanups
	defer func() {
		if cErr := cl.run(); cErr != nil {
			err = errors.Join(err, cErr)
		}
	}()

	// Short: containerd's socket lives under it and unix socket paths are
	// limited to 107 bytes.
	tmp, err := os.MkdirTemp("/tmp", "bps-")
	if err != nil {
		return err
	}
	cl.add("removing "+tmp, func() error { return os.RemoveAll(tmp) })
	m := describeMachine(bin, tmp)
	progress("machine: %s", m.oneLine())

	progress("registry: starting docker-registry on loopback")
	reg, err := startRegistry(ctx, filepath.Join(tmp, "registry"))
	if err != nil {
		return err
	}
	cl.add("stopping the registry", reg.stop)
	img, err := reg.push("bench/busybox:podstart")
	if err != nil {
		return err
	}
	progress("registry: pushed %s (%s)", img.ref, size(int(img.size)))

	cidr, err := pickClusterCIDR()
	if err != nil {
		return err
	}
	progress("berth: starting %s on %s (cluster CIDR %s)", bin, tmp, cidr)
	env, err := startEnv(ctx, bin, filepath.Join(tmp, "d"), cidr)
	if env != nil {
		cl.add("stopping berth (pods, sandboxes, server, bridge, cgroups)", env.teardown)
	}
	if err != nil {
		return err
	}
	progress("berth: node ready in %s; containerd %s", env.srv.ready.Round(time.Millisecond), env.runtimeVersion)

	res, err := measure(ctx, cfg, env, img, filepath.Join(tmp, "floor"))
	if err != nil {
		return err
	}
	m.runtime = env.runtimeVersion
	m.cidr = cidr
	report(os.Stdout, cfg, m, img, res)
	return nil
}

// results is everything measured, for the report.
type results struct {
	berthWarm, floorWarm   podTiming
	berthSeq, floorSeq     []podTiming
	berthBurst, floorBurst []podTiming
	berthAll, floorAll     time.Duration // first start → last running, at once

	idle, busy, after memSample // before any pod; berth's burst running; after it was deleted

	diffs    []string // where the floor's configs differ from berth's
	compared int      // how many config fields were compared
	cmpErr   error    // why they could not be compared
}

// measure runs the pods. One at a time, berth's and the floor's pods
// alternate, so that both meet the same background load (a shared machine
// is noisy); then each side starts its burst.
func measure(ctx context.Context, cfg config, e *env, img image, floorDir string) (*results, error) {
	wctx, stopWatches := context.WithCancel(ctx)
	defer stopWatches()
	b, err := newBerth(wctx, e, img)
	if err != nil {
		return nil, fmt.Errorf("berth: %w", err)
	}
	r := &results{idle: e.memory()}
	if r.berthWarm, err = b.warmUp(ctx); err != nil {
		return nil, fmt.Errorf("berth: %w", err)
	}
	f, err := newFloor(ctx, e, img, floorDir)
	if err != nil {
		return nil, fmt.Errorf("floor: %w", err)
	}
	defer f.cleanup(ctx)
	if r.floorWarm, err = f.warmUp(ctx, b.sent, b.sentErr); err != nil {
		return nil, fmt.Errorf("floor: %w", err)
	}
	r.diffs, r.compared, r.cmpErr = f.diffs, f.compared, f.cmpErr

	progress("%d pods one at a time, alternately on berth (create → Running; delete, wait until gone) "+
		"and on the floor (RunPodSandbox … StartContainer; stop, remove)", cfg.n)
	for i := range cfg.n {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		bt, err := b.one(ctx, i)
		if err != nil {
			return nil, fmt.Errorf("berth: %w", err)
		}
		r.berthSeq = append(r.berthSeq, bt)
		ft, err := f.one(ctx, i)
		if err != nil {
			return nil, fmt.Errorf("floor: %w", err)
		}
		r.floorSeq = append(r.floorSeq, ft)
	}

	progress("berth: %d pods at once", cfg.burst)
	if r.berthBurst, r.berthAll, r.busy, r.after, err = b.burst(ctx, cfg.burst); err != nil {
		return nil, fmt.Errorf("berth: %w", err)
	}
	progress("floor: %d pods at once", cfg.burst)
	if r.floorBurst, r.floorAll, err = f.burst(ctx, cfg.burst); err != nil {
		return nil, fmt.Errorf("floor: %w", err)
	}
	return r, nil
}

// checkTools fails early, and clearly, when something the run needs is
// missing (berth itself reports containerd, runc and CNI problems).
func checkTools() error {
	for _, t := range []struct{ path, pkg string }{
		{"docker-registry", "docker-registry"},
		{"containerd", "containerd"},
		{"runc", "runc"},
		{"ip", "iproute2"},
	} {
		if _, err := lookPath(t.path); err != nil {
			return fmt.Errorf("%s not found on PATH (apt-get install %s)", t.path, t.pkg)
		}
	}
	if _, err := os.Stat(busyboxPath); err != nil {
		return fmt.Errorf("the test image is built from %s (apt-get install busybox-static): %w", busyboxPath, err)
	}
	return nil
}

// cleanups is a stack of things to undo, run last-in first-out.
type cleanups struct {
	steps []cleanupStep
}

type cleanupStep struct {
	what string
	fn   func() error
}

func (c *cleanups) add(what string, fn func() error) {
	c.steps = append(c.steps, cleanupStep{what, fn})
}

// run undoes everything, even after errors, and joins the errors.
func (c *cleanups) run() error {
	var errs []error
	for i := len(c.steps) - 1; i >= 0; i-- {
		s := c.steps[i]
		if err := s.fn(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.what, err))
		}
	}
	c.steps = nil
	return errors.Join(errs...)
}

// progress tells the person waiting what is happening, on stderr, so that
// stdout holds only the report.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
