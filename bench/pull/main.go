// Command pull measures how long berth takes to pull a ~100 MB image from
// a registry that wants credentials, from the pod's create call to its
// Pulled event, against the floor set by its own container runtime: a CRI
// PullImage of the same image, with the same credentials, on the same
// containerd (berth's child, through its socket), in the same run. Every
// pull is cold. It prints Markdown tables.
//
//	make build && sudo go run ./bench/pull [-bin bin/berth] [-size 100MiB] [-n 5]
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
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type config struct {
	bin  string
	size int64 // the padding layer, bytes
	n    int
}

func main() {
	var cfg config
	var sizeFlag string
	flag.StringVar(&cfg.bin, "bin", "bin/berth", "berth binary to benchmark (built by `make build`)")
	flag.StringVar(&sizeFlag, "size", "100MiB", "incompressible padding layer added to busybox (B, KB, KiB, MB, MiB, GB, GiB)")
	flag.IntVar(&cfg.n, "n", 5, "cold pulls measured on each side (berth and the floor, interleaved)")
	flag.Parse()
	var err error
	if cfg.size, err = parseSize(sizeFlag); err != nil {
		fmt.Fprintln(os.Stderr, "bench/pull: -size:", err)
		os.Exit(2)
	}
	if cfg.n < 1 {
		fmt.Fprintln(os.Stderr, "bench/pull: -n must be positive")
		os.Exit(2)
	}
	if cfg.size > 2<<30 {
		fmt.Fprintln(os.Stderr, "bench/pull: -size is at most 2GiB (the image is built in memory)")
		os.Exit(2)
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench/pull: must run as root: berth starts containerd, runc and CNI "+
			"(make build && sudo go run ./bench/pull)")
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, a second one kills at once (the default).
		<-ctx.Done()
		stop()
	}()
	if err := run(ctx, cfg); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("interrupted (%w); pods, images and processes stopped, temp dir removed", err)
		}
		fmt.Fprintln(os.Stderr, "bench/pull:", err)
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
	tmp, err := os.MkdirTemp("/tmp", "bpl-")
	if err != nil {
		return err
	}
	cl.add("removing "+tmp, func() error { return os.RemoveAll(tmp) })
	m := describeMachine(bin, tmp)
	progress("machine: %s", m.oneLine())

	progress("registry: starting docker-registry on loopback, basic auth")
	reg, err := startRegistry(ctx, filepath.Join(tmp, "registry"))
	if err != nil {
		return err
	}
	cl.add("stopping the registry", reg.stop)

	// One tag per pull: a fresh name each time, on top of the removal
	// that makes it cold.
	tags := []string{"warm-berth", "warm-floor"}
	for i := range cfg.n {
		tags = append(tags, fmt.Sprintf("berth-%d", i), fmt.Sprintf("floor-%d", i))
	}
	progress("registry: building busybox + %s of incompressible padding, pushing it under %d tags", size(cfg.size), len(tags))
	img, err := reg.push(ctx, cfg.size, tags)
	if err != nil {
		return err
	}
	progress("registry: %s, %d layers, %s compressed (built in %s, pushed in %s)",
		img.repo, img.layers, size(img.size), dur(img.build), dur(img.push))

	cidr, err := pickClusterCIDR()
	if err != nil {
		return err
	}
	progress("berth: starting %s on %s (cluster CIDR %s)", bin, tmp, cidr)
	e, err := startEnv(ctx, bin, filepath.Join(tmp, "d"), cidr)
	if e != nil {
		cl.add("stopping berth (pods, sandboxes, images, server, bridge, cgroups)", func() error { return e.teardown(img.repo) })
	}
	if err != nil {
		return err
	}
	progress("berth: node ready in %s; containerd %s", dur(e.srv.ready), e.runtimeVersion)
	m.runtime, m.cidr = e.runtimeVersion, cidr

	wctx, stopWatches := context.WithCancel(ctx)
	defer stopWatches()
	b := &bench{e: e, reg: reg, img: img}
	if err := b.prepare(wctx); err != nil {
		return err
	}

	res := &results{}
	// Warm-up, not counted: the first pod makes the CNI bridge and the
	// registry's blobs enter the page cache; both sides then start equal.
	progress("warm-up: one pod through berth, one CRI pull (not counted)")
	if res.warmBerth, err = b.berth(ctx, "warm-berth", "pull-warm"); err != nil {
		return fmt.Errorf("berth warm-up: %w", err)
	}
	if res.warmFloor, err = b.floor(ctx, "warm-floor"); err != nil {
		return fmt.Errorf("floor warm-up: %w", err)
	}
	progress("warm-up: berth create → Pulled %s (pull %s), CRI pull %s",
		dur(res.warmBerth.toPulled()), dur(res.warmBerth.reported), dur(res.warmFloor.pull))

	// Interleaved, the order alternating, so that drift (page cache,
	// disk, other load) falls on both sides alike.
	for i := range cfg.n {
		if err := ctx.Err(); err != nil {
			return err
		}
		doBerth := func() error {
			r, err := b.berth(ctx, fmt.Sprintf("berth-%d", i), fmt.Sprintf("pull-%03d", i))
			if err != nil {
				return fmt.Errorf("berth, run %d: %w", i+1, err)
			}
			res.berth = append(res.berth, r)
			progress("run %d/%d: berth create → Pulled %s (pull %s), → Running %s",
				i+1, cfg.n, dur(r.toPulled()), dur(r.reported), dur(r.toRunning()))
			return nil
		}
		doFloor := func() error {
			r, err := b.floor(ctx, fmt.Sprintf("floor-%d", i))
			if err != nil {
				return fmt.Errorf("floor, run %d: %w", i+1, err)
			}
			res.floor = append(res.floor, r)
			progress("run %d/%d: CRI pull %s", i+1, cfg.n, dur(r.pull))
			return nil
		}
		first, second := doBerth, doFloor
		if i%2 == 1 {
			first, second = doFloor, doBerth
		}
		if err := first(); err != nil {
			return err
		}
		if err := second(); err != nil {
			return err
		}
	}
	stopWatches()
	res.coldChecked = b.coldChecked
	report(os.Stdout, cfg, m, reg, img, res)
	return nil
}

// parseSize reads "100MiB", "100MB", "1.5GiB", "1048576" (bytes).
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   float64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30},
		{"KB", 1e3}, {"kB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"K", 1e3}, {"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"B", 1}}
	mult := 1.0
	for _, u := range units {
		if rest, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("%q is not a size (e.g. 100MiB)", s)
	}
	n := int64(v * mult)
	if n < 1 {
		return 0, fmt.Errorf("%q: the padding must be at least one byte", s)
	}
	return n, nil
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
		if _, err := exec.LookPath(t.path); err != nil {
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
