// Command startup measures how fast `berth server` starts and how much
// memory it holds once idle: exec → node Ready (the admin kubeconfig
// written, which berth does only once the API answers and the node is
// Ready), n times on a fresh data dir and n times on a warm one (the same
// data dir restarted), with where the time goes from berth's own log; then
// the resident memory of the berth process alone (containerd is a process
// of its own) after it has idled with every controller running. It prints
// Markdown tables.
//
//	make release && sudo go run ./bench/startup [-bin bin/berth] [-n 5] [-idle 30s]
//
// It must run as root (berth starts containerd, runc and CNI).
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berth-dev/berth/bench/internal/benchkit"
)

type config struct {
	out  *benchkit.Output
	bin  string
	n    int
	idle time.Duration
}

// cidrSecondByte is this benchmark's pod ranges: 10.206.N.0/24.
const cidrSecondByte = 206

// targets, from issue 12.
const (
	targetReady = time.Second
	targetRSS   = 100 << 20
	// trimAfter is internal/app's: when berth returns free heap to the OS.
	trimAfter = 10 * time.Second
)

func main() {
	var cfg config
	cfg.out = benchkit.Flags("startup")
	flag.StringVar(&cfg.bin, "bin", "bin/berth", "berth binary to benchmark (`make release` builds it)")
	flag.IntVar(&cfg.n, "n", 5, "starts measured on a fresh data dir, and again on a warm one")
	flag.DurationVar(&cfg.idle, "idle", 40*time.Second, "how long berth idles before its memory is read")
	flag.Parse()
	if cfg.n < 1 || cfg.idle < 0 {
		fmt.Fprintln(os.Stderr, "bench/startup: -n must be positive and -idle not negative")
		os.Exit(2)
	}
	benchkit.RequireRoot("startup")
	cfg.out.Main("servers stopped, temp dir removed", func(ctx context.Context) error { return run(ctx, cfg) })
}

// start is one measured start.
type start struct {
	ready      time.Duration            // exec → kubeconfig written
	milestones map[string]time.Duration // exec → first log line with the message
	stop       time.Duration
}

// milestones are messages of berth's log, in the order a start logs them.
var milestones = []struct{ msg, name string }{
	{"created namespace", "API serving, bootstrap objects written"},
	{"containerd started", "containerd started"},
	{"containerd ready", "containerd answers CRI"},
	{"pause image imported", "pause image checked/imported"},
	{"berth server ready", "node Ready, kubeconfig written"},
}

func run(ctx context.Context, cfg config) (err error) {
	bin, err := benchkit.FindBinary(cfg.bin)
	if err != nil {
		return err
	}
	fi, err := os.Stat(bin)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("/tmp", "bsu-")
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, os.RemoveAll(tmp)) }()
	cidr, err := benchkit.PickClusterCIDR(cidrSecondByte)
	if err != nil {
		return err
	}
	m := benchkit.DescribeMachine(bin, tmp)
	benchkit.Progress("machine: %s", m.OneLine())
	// berth runs as installed: a copy written with write(2), as cp, install
	// or a package manager write it. The file the Go linker wrote (through
	// mmap) sits in the page cache in a layout that maps 5–15 MiB more of
	// it into each process; that file is measured once more at the end.
	linked := bin
	if bin, err = installCopy(linked, filepath.Join(tmp, "installed")); err != nil {
		return err
	}

	var fresh, warm []start
	for i := range cfg.n {
		benchkit.Progress("fresh data dir, start %d/%d", i+1, cfg.n)
		s, err := startStop(ctx, bin, filepath.Join(tmp, fmt.Sprintf("fresh-%d", i)), cidr, 0)
		if err != nil {
			return err
		}
		fresh = append(fresh, s)
	}
	warmDir := filepath.Join(tmp, "fresh-0")
	var idle []sample
	for i := range cfg.n {
		benchkit.Progress("warm data dir, start %d/%d", i+1, cfg.n)
		hold := time.Duration(0)
		if i == cfg.n-1 {
			hold = cfg.idle
		}
		s, err := startStop(ctx, bin, warmDir, cidr, hold, &idle)
		if err != nil {
			return err
		}
		warm = append(warm, s)
	}
	benchkit.Progress("warm data dir, the linker's file %s", linked)
	var idleLinked []sample
	if _, err := startStop(ctx, linked, warmDir, cidr, cfg.idle, &idleLinked); err != nil {
		return err
	}
	report(cfg.out.Stdout(), cfg, m, fi.Size(), fresh, warm, idle, idleLinked)
	return nil
}

// installCopy copies bin into dir as an installer would, and returns the
// copy's path.
func installCopy(bin, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	src, err := os.Open(bin)
	if err != nil {
		return "", err
	}
	defer src.Close()
	dst := filepath.Join(dir, filepath.Base(bin))
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(out, src); err != nil {
		out.Close()
		return "", fmt.Errorf("installing a copy of %s: %w", bin, err)
	}
	return dst, out.Close()
}

// sample is berth's resident memory some time after it was ready.
type sample struct {
	after           time.Duration
	rss, anon, file int64 // VmRSS, RssAnon, RssFile
}

// memSample reads pid's resident memory, split into anonymous (heap,
// stacks) and file-backed (the binary's pages, etcd's mapped database).
func memSample(pid int, after time.Duration) sample {
	s := sample{after: after, rss: -1, anon: -1, file: -1}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		f := strings.Fields(v)
		if len(f) != 2 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "VmRSS":
			s.rss = n << 10
		case "RssAnon":
			s.anon = n << 10
		case "RssFile":
			s.file = n << 10
		}
	}
	return s
}

// startStop starts berth on dataDir, waits until it is ready, holds it
// that long while sampling its memory into samples, then stops it.
func startStop(ctx context.Context, bin, dataDir, cidr string, hold time.Duration, samples ...*[]sample) (start, error) {
	var s start
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return s, err
	}
	kubeconfig := filepath.Join(dataDir, "kubeconfig")
	_ = os.Remove(kubeconfig) // berth removes a stale one too, but only once it runs
	logName := dataDir + ".log"
	began := time.Now()
	c, err := benchkit.StartChild(logName, syscall.SIGTERM, bin, "server", "--data-dir", dataDir,
		"--listen", "127.0.0.1:0", "--cluster-cidr", cidr)
	if err != nil {
		return s, err
	}
	stop := func() error {
		d, err := c.Stop(benchkit.ServerStopTimeout)
		s.stop = d
		if err != nil {
			return fmt.Errorf("stopping berth: %w; its log:\n%s", err, c.LogTail())
		}
		return nil
	}
	deadline := time.Now().Add(benchkit.NodeReadyTimeout)
	for {
		if _, err := os.Stat(kubeconfig); err == nil {
			s.ready = time.Since(began)
			break
		}
		select {
		case <-c.Exited():
			return s, fmt.Errorf("berth server exited before it was ready (%v); its log:\n%s", c.WaitErr(), c.LogTail())
		case <-ctx.Done():
			return s, errors.Join(ctx.Err(), stop())
		default:
		}
		if time.Now().After(deadline) {
			return s, errors.Join(fmt.Errorf("berth server not ready after %s; its log:\n%s", benchkit.NodeReadyTimeout, c.LogTail()), stop())
		}
		time.Sleep(2 * time.Millisecond)
	}
	if hold > 0 && len(samples) > 0 {
		t := time.NewTicker(5 * time.Second)
		end := time.After(hold)
	wait:
		for {
			select {
			case <-t.C:
				*samples[0] = append(*samples[0], memSample(c.Pid(), time.Since(began)-s.ready))
			case <-end:
				*samples[0] = append(*samples[0], memSample(c.Pid(), time.Since(began)-s.ready))
				break wait
			case <-ctx.Done():
				t.Stop()
				return s, errors.Join(ctx.Err(), stop())
			}
		}
		t.Stop()
	}
	if err := stop(); err != nil {
		return s, err
	}
	s.milestones = readMilestones(logName, began)
	return s, nil
}

// readMilestones finds, in berth's log, when each milestone was first
// logged, relative to began.
func readMilestones(logName string, began time.Time) map[string]time.Duration {
	out := map[string]time.Duration{}
	f, err := os.Open(logName)
	if err != nil {
		return out
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		ts, ok := strings.CutPrefix(line, "time=")
		if !ok {
			continue
		}
		ts, _, _ = strings.Cut(ts, " ")
		at, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			continue
		}
		for _, m := range milestones {
			if _, seen := out[m.msg]; !seen && strings.Contains(line, `msg="`+m.msg+`"`) {
				out[m.msg] = at.Sub(began)
			}
		}
	}
	return out
}

func report(w io.Writer, cfg config, m benchkit.Machine, size int64, fresh, warm []start, idle, idleLinked []sample) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("## berth server: start and size\n\n")
	p("- date: %s\n", m.Date.Format("2006-01-02 15:04:05 MST"))
	p("- machine: %s (load %s)\n", m.OneLine(), m.LoadAvg)
	p("- berth: %s, %s on disk, run as installed: a copy written with write(2) as cp, install or a package manager "+
		"write it (the file as the Go linker wrote it is measured apart, below)\n", m.Berth, benchkit.MiB(size, 1))
	p("- each start: exec of `berth server` → its kubeconfig written (the API answers and the node is Ready); "+
		"%d on a fresh data dir each, then %d on one warm data dir (etcd, certificates and the pause image "+
		"already there); every server stopped with SIGTERM before the next\n\n", cfg.n, cfg.n)

	p("| start, exec → node Ready | p50 | p99 | min | max | p50 vs the 1 s target |\n|---|---|---|---|---|---|\n")
	row := func(name string, ss []start) {
		var l benchkit.Latencies
		for _, s := range ss {
			l = append(l, s.ready)
		}
		p("| %s (×%d) | %s | %s | %s | %s | %s |\n", name, len(ss), benchkit.Dur(l.Pct(50)), benchkit.Dur(l.Pct(99)),
			benchkit.Dur(l.Min()), benchkit.Dur(l.Max()), benchkit.Ratio(l.Pct(50), targetReady, 2))
	}
	row("fresh data dir", fresh)
	row("warm data dir", warm)

	p("\n### Where a start goes (p50 of exec → the first log line with the message)\n\n")
	p("| milestone (berth's log) | fresh | warm |\n|---|---|---|\n")
	for _, ms := range milestones {
		cell := func(ss []start) string {
			var l benchkit.Latencies
			for _, s := range ss {
				if d, ok := s.milestones[ms.msg]; ok {
					l = append(l, d)
				}
			}
			return benchkit.Dur(l.Pct(50))
		}
		p("| %s (`%s`) | %s | %s |\n", ms.name, ms.msg, cell(fresh), cell(warm))
	}
	var stops benchkit.Latencies
	for _, s := range append(append([]start{}, fresh...), warm...) {
		stops = append(stops, s.stop)
	}
	p("\nStop (SIGTERM → exit), p50 %s, max %s.\n", benchkit.Dur(stops.Pct(50)), benchkit.Dur(stops.Max()))

	p("\n### Memory of the berth process, idle (containerd excluded)\n\n")
	p("| when | VmRSS | anonymous (heap, stacks) | file-backed (binary, etcd's mapped db) | VmRSS vs the 100 MiB target |\n|---|---|---|---|---|\n")
	for _, s := range idle {
		p("| idle, %s after ready | %s | %s | %s | %s |\n", s.after.Round(time.Second), benchkit.MiB(s.rss, 1), benchkit.MiB(s.anon, 1), benchkit.MiB(s.file, 1),
			benchkit.Ratio(time.Duration(s.rss), time.Duration(targetRSS), 2))
	}
	p("\nFile-backed pages (the binary's code and data that start-up touched, etcd's mapped database) are clean, "+
		"shared with the page cache and reclaimed under memory pressure, but count in VmRSS; berth does not drop them. "+
		"It returns the heap start-up left free to the OS %s after ready.\n", trimAfter)
	if n := len(idleLinked); n > 0 {
		last := idleLinked[n-1]
		p("\nThe same binary run from %s itself, %s after ready: VmRSS %s, anonymous %s, file-backed %s (%s). "+
			"Right after a build its pages are in the page cache as the Go linker's mmap writes left them, a layout "+
			"from which the kernel maps more of the file into each process that runs it; a copy, or the same file once "+
			"its pages were evicted and read back, gives the table's file-backed part.\n", cfg.bin, last.after.Round(time.Second),
			benchkit.MiB(last.rss, 1), benchkit.MiB(last.anon, 1), benchkit.MiB(last.file, 1),
			benchkit.Ratio(time.Duration(last.rss), time.Duration(targetRSS), 2)+" of the target")
	}
}
