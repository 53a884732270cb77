// Command api measures berth's Kubernetes API against the floor set by its
// own storage: the same operations, in the same run, straight on an embedded
// etcd started through the package berth uses. It prints Markdown tables.
//
//	make build && go run ./bench/api [-bin bin/berth] [-pods 1000] [-n 300] [-clients 16] [-duration 10s]
//
// See README.md for what each row measures and how to read it.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/berth-dev/berth/bench/internal/benchkit"
)

type config struct {
	out      *benchkit.Output // -json, -busy-ok
	bin      string
	pods     int
	n        int
	clients  int
	duration time.Duration
}

func main() {
	var cfg config
	cfg.out = benchkit.Flags("api")
	flag.StringVar(&cfg.bin, "bin", "bin/berth", "berth binary to benchmark (built by `make build`)")
	flag.IntVar(&cfg.pods, "pods", 1000, "pods created one after the other (create latency; the list size)")
	flag.IntVar(&cfg.n, "n", 300, "random gets measured; lists are n/10 (at least 20)")
	flag.IntVar(&cfg.clients, "clients", 16, "concurrent clients in the throughput runs")
	flag.DurationVar(&cfg.duration, "duration", 10*time.Second, "length of each throughput run")
	flag.Parse()
	if cfg.pods < 1 || cfg.n < 1 || cfg.clients < 1 || cfg.duration <= 0 {
		fmt.Fprintln(os.Stderr, "bench/api: -pods, -n, -clients and -duration must be positive")
		os.Exit(2)
	}
	cfg.out.Main("processes stopped, temp dirs removed", func(ctx context.Context) error { return run(ctx, cfg) })
}

// run does the whole benchmark; everything it starts or creates is stopped
// and removed before it returns, whatever happens.
func run(ctx context.Context, cfg config) (err error) {
	bin, err := benchkit.FindBinary(cfg.bin)
	if err != nil {
		return err
	}

	tmp, err := os.MkdirTemp("", "berth-bench-api-")
	if err != nil {
		return err
	}
	defer func() {
		if rmErr := os.RemoveAll(tmp); rmErr != nil && err == nil {
			err = fmt.Errorf("removing %s: %w", tmp, rmErr)
		}
	}()

	m := benchkit.DescribeMachine(bin, tmp)
	benchkit.Progress("machine: %s", m.OneLine())

	b, err := benchBerth(ctx, cfg, bin, filepath.Join(tmp, "berth"))
	if err != nil {
		return fmt.Errorf("berth: %w", err)
	}
	f, err := benchFloor(ctx, cfg, filepath.Join(tmp, "etcd"), b.podJSON, b.configMapJSON)
	if err != nil {
		return fmt.Errorf("etcd floor: %w", err)
	}
	report(cfg.out.Stdout(), cfg, m, b, f)
	return nil
}

// listCount is how many lists are measured.
func listCount(n int) int { return max(n/10, 20) }
