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
	"strconv"
	"strings"

	"github.com/berth-dev/berth/bench/internal/benchkit"
)

type config struct {
	out  *benchkit.Output // -json, -busy-ok
	bin  string
	size int64 // the padding layer, bytes
	n    int
}

const (
	// namespace holds the benchmark's pods and its pull secret.
	namespace = "bench-pull"
	// repo is the repository the benchmark's image is pushed to, under
	// one tag per pull.
	repo = "bench/pull"
	// cidrSecondByte is this benchmark's pod ranges: 10.203.N.0/24.
	cidrSecondByte = 203
)

func main() {
	var cfg config
	cfg.out = benchkit.Flags("pull")
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
	benchkit.RequireRoot("pull")
	cfg.out.Main("pods, images and processes stopped, temp dir removed",
		func(ctx context.Context) error { return run(ctx, cfg) })
}

// run does the whole benchmark. Everything it starts or creates is
// registered with a cleanup stack that runs before it returns, whatever
// happens (error, Ctrl-C).
func run(ctx context.Context, cfg config) (err error) {
	rig, err := benchkit.NewRig(ctx, benchkit.RigConfig{
		Bin: cfg.bin, TmpPrefix: "bpl-", RegistryAuth: true, CIDRSecondByte: cidrSecondByte,
		Namespace: namespace, UserAgent: "berth-bench-pull",
	})
	if err != nil {
		return err
	}
	defer func() {
		if cErr := rig.Close(); cErr != nil {
			err = errors.Join(err, cErr)
		}
	}()
	reg := rig.Registry

	// One tag per pull: a fresh name each time, on top of the removal
	// that makes it cold.
	tags := []string{"warm-berth", "warm-floor", "warm-crane"}
	for i := range cfg.n {
		tags = append(tags, fmt.Sprintf("berth-%d", i), fmt.Sprintf("floor-%d", i), fmt.Sprintf("crane-%d", i))
	}
	benchkit.Progress("registry: building busybox + %s of incompressible padding, pushing it under %d tags",
		benchkit.Size(cfg.size), len(tags))
	img, err := reg.Push(ctx, repo, cfg.size, tags...)
	if err != nil {
		return err
	}
	benchkit.Progress("registry: %s, %d layers, %s compressed (built in %s, pushed in %s)",
		img.Repo, img.Layers, benchkit.Size(img.Size), dur(img.Build), dur(img.Push))

	node, err := rig.StartNode(ctx)
	if node != nil {
		rig.Add("stopping berth (pods, sandboxes, images, server, bridge, cgroups)", func() error {
			return node.Teardown(func(ctx context.Context) error { return removeImages(ctx, node.CRI, img.Repo) })
		})
	}
	if err != nil {
		return err
	}
	benchkit.Progress("berth: node ready in %s; containerd %s", dur(node.Server.Ready), node.RuntimeVersion)
	m := machine{Machine: rig.Machine, runtime: node.RuntimeVersion, cidr: node.CIDR}

	wctx, stopWatches := context.WithCancel(ctx)
	defer stopWatches()
	b := &bench{node: node, reg: reg, img: img}
	if err := b.prepare(wctx); err != nil {
		return err
	}

	res := &results{}
	// Warm-up, not counted: the first pod makes the CNI bridge and the
	// registry's blobs enter the page cache; both sides then start equal.
	benchkit.Progress("warm-up: one pod through berth, one CRI pull (not counted)")
	if res.warmBerth, err = b.berth(ctx, "warm-berth", "pull-warm"); err != nil {
		return fmt.Errorf("berth warm-up: %w", err)
	}
	if res.warmFloor, err = b.floor(ctx, "warm-floor"); err != nil {
		return fmt.Errorf("floor warm-up: %w", err)
	}
	if res.warmCrane, err = b.crane(ctx, "warm-crane", rig.Tmp); err != nil {
		return fmt.Errorf("crane warm-up: %w", err)
	}
	benchkit.Progress("warm-up: berth create → Pulled %s (pull %s), CRI pull %s, crane pull %s",
		dur(res.warmBerth.toPulled()), dur(res.warmBerth.reported), dur(res.warmFloor.pull), dur(res.warmCrane.pull))

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
			benchkit.Progress("run %d/%d: berth create → Pulled %s (pull %s), → Running %s",
				i+1, cfg.n, dur(r.toPulled()), dur(r.reported), dur(r.toRunning()))
			return nil
		}
		doFloor := func() error {
			r, err := b.floor(ctx, fmt.Sprintf("floor-%d", i))
			if err != nil {
				return fmt.Errorf("floor, run %d: %w", i+1, err)
			}
			res.floor = append(res.floor, r)
			benchkit.Progress("run %d/%d: CRI pull %s", i+1, cfg.n, dur(r.pull))
			return nil
		}
		doCrane := func() error {
			r, err := b.crane(ctx, fmt.Sprintf("crane-%d", i), rig.Tmp)
			if err != nil {
				return fmt.Errorf("crane, run %d: %w", i+1, err)
			}
			res.crane = append(res.crane, r)
			benchkit.Progress("run %d/%d: crane pull %s", i+1, cfg.n, dur(r.pull))
			return nil
		}
		// The order turns each run, so that drift falls on every side alike.
		sides := []func() error{doBerth, doFloor, doCrane}
		for k := range sides {
			if err := sides[(i+k)%len(sides)](); err != nil {
				return err
			}
		}
	}
	stopWatches()
	res.coldChecked = b.coldChecked
	report(cfg.out.Stdout(), cfg, m, reg, img, res)
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
