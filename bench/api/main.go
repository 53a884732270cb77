// Command api measures berth's Kubernetes API against kube-apiserver (on
// etcd) and against the floor set by its own storage: the same client-go
// workload, in the same run, against each. It prints Markdown tables.
//
//	make build && go run ./bench/api [-kube-apiserver PATH [-etcd /usr/bin/etcd]] [-bin bin/berth] [-pods 1000] [-n 300] [-clients 16] [-duration 10s]
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
	out           *benchkit.Output // -json, -busy-ok
	bin           string
	kubeAPIServer string // "" skips the kube-apiserver side
	etcd          string
	watchers      int
	events        int
	pods          int
	n             int
	clients       int
	duration      time.Duration
	profileDir    string // "" : no CPU profiles
	rounds        int    // rounds per server, in ABBA order
	clientFloor   bool   // also measure the workload against the stub server
}

func main() {
	var cfg config
	cfg.out = benchkit.Flags("api")
	flag.StringVar(&cfg.bin, "bin", "bin/berth", "berth binary to benchmark (built by `make build`)")
	flag.StringVar(&cfg.kubeAPIServer, "kube-apiserver", "", "kube-apiserver binary to run the same workload against (see README.md for how to build it); empty: berth and the etcd floor only")
	flag.StringVar(&cfg.etcd, "etcd", "/usr/bin/etcd", "etcd binary kube-apiserver stores in (Debian's etcd-server)")
	flag.IntVar(&cfg.watchers, "watchers", 100, "watchers in the watch fan-out")
	flag.IntVar(&cfg.events, "events", 50, "events sent to the watchers, one at a time")
	flag.IntVar(&cfg.pods, "pods", 1000, "pods created one after the other (create latency; the list size)")
	flag.IntVar(&cfg.n, "n", 300, "random gets measured; lists are n/10 (at least 20)")
	flag.IntVar(&cfg.clients, "clients", 16, "concurrent clients in the throughput runs")
	flag.DurationVar(&cfg.duration, "duration", 10*time.Second, "length of each throughput run")
	flag.StringVar(&cfg.profileDir, "cpuprofile-dir", "", "write each server's CPU profile of the create, watch, gets, writes and mixed phases here (LABEL-PHASE.pprof; each as long as -duration)")
	flag.BoolVar(&cfg.clientFloor, "client-floor", true, "also run the workload against a stub server that answers from pre-encoded bytes: the client's and the wire's share of every row")
	var stubAddr, stubDir, stubCert, stubKey string
	flag.StringVar(&stubAddr, "stub-serve", "", "internal: serve the client floor's stub on this address (the benchmark starts it itself)")
	flag.StringVar(&stubDir, "stub-dir", "", "internal: the stub's answers")
	flag.StringVar(&stubCert, "stub-cert", "", "internal: the stub's serving certificate")
	flag.StringVar(&stubKey, "stub-key", "", "internal: the stub's serving key")
	flag.IntVar(&cfg.rounds, "rounds", 2, "rounds on each server, each on a fresh one, alternating berth, kube-apiserver, kube-apiserver, berth, …; the rows pool every round")
	flag.Parse()
	if stubAddr != "" {
		if err := serveStub(stubAddr, stubDir, stubCert, stubKey); err != nil {
			fmt.Fprintln(os.Stderr, "bench/api stub:", err)
			os.Exit(1)
		}
		return
	}
	if cfg.pods < 1 || cfg.n < 1 || cfg.clients < 1 || cfg.duration <= 0 || cfg.watchers < 1 || cfg.events < 1 || cfg.rounds < 1 {
		fmt.Fprintln(os.Stderr, "bench/api: -pods, -n, -clients, -duration, -watchers, -events and -rounds must be positive")
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
	benchkit.Progress("machine: %s, load average %s", m.OneLine(), m.LoadAvg)
	if cfg.kubeAPIServer != "" {
		for _, p := range []*string{&cfg.kubeAPIServer, &cfg.etcd} {
			if fi, err := os.Stat(*p); err != nil || fi.IsDir() {
				return fmt.Errorf("%s not found: see bench/api/README.md for how to build kube-apiserver; "+
					"etcd is Debian's etcd-server package", *p)
			}
		}
	}

	b, k, c, err := runRounds(ctx, cfg, bin, tmp)
	if err != nil {
		return err
	}
	f, err := benchFloor(ctx, cfg, filepath.Join(tmp, "etcd"), b.podJSON, b.configMapJSON)
	if err != nil {
		return fmt.Errorf("etcd floor: %w", err)
	}
	report(cfg.out.Stdout(), cfg, m, b, k, f, c)
	return nil
}

// listCount is how many lists are measured.
func listCount(n int) int { return max(n/10, 20) }
