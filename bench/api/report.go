package main

import (
	"bytes"
	"fmt"
	"io"

	"github.com/berth-dev/berth/bench/internal/benchkit"
)

// report prints the tables.
func report(w io.Writer, cfg config, m benchkit.Machine, b *berthResult, f *floorResult) {
	var out bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&out, format, args...) }

	podBytes := 0
	for _, j := range b.podJSON {
		podBytes += len(j)
	}
	lists := listCount(cfg.n)

	p("## berth API vs the etcd floor\n\n")
	p("- date: %s\n", m.Date.Format("2006-01-02 15:04:05 MST"))
	p("- machine: %s (nproc %d)\n", m.OneLine(), m.CPUs)
	p("- berth: %s\n", m.Berth)
	p("- data dirs under: %s\n", m.Tmp)
	p("- workload: %d pods created one at a time (%s of JSON each, stored), %d random gets, %d lists; "+
		"throughput with %d clients for %s each\n\n",
		cfg.pods, benchkit.Size(int64(podBytes/max(len(b.podJSON), 1))), cfg.n, lists, cfg.clients, cfg.duration)

	p("| operation | berth p50 | berth p99 | etcd floor p50 | floor p99 | ratio p50 |\n")
	p("|---|---|---|---|---|---|\n")
	row := func(name string, bl, fl benchkit.Latencies) {
		p("| %s | %s | %s | %s | %s | %s |\n", name, benchkit.Dur(bl.Pct(50)), benchkit.Dur(bl.Pct(99)),
			benchkit.Dur(fl.Pct(50)), benchkit.Dur(fl.Pct(99)), benchkit.Ratio(bl.Pct(50), fl.Pct(50), 1))
	}
	row(fmt.Sprintf("create pod (×%d, one at a time) · floor: Put", cfg.pods), b.create, f.create)
	row(fmt.Sprintf("get pod (×%d, random) · floor: Get", cfg.n), b.get, f.get)
	row(fmt.Sprintf("list %d pods, decoded by client-go (×%d) · floor: Range", b.listItems, lists), b.list, f.list)
	row(fmt.Sprintf("list %d pods, raw JSON, not decoded (×%d) · floor: Range", b.listItems, lists), b.listRaw, f.list)
	p("\nOne list: berth sends %d pods as %s of JSON; the etcd range returns %d keys holding %s of values.\n\n",
		b.listItems, benchkit.Size(int64(b.listBytes)), f.listItems, benchkit.Size(int64(f.listBytes)))

	p("| throughput, %d clients × %s | berth ops/s | floor ops/s | ratio (berth/floor) | berth p99 | floor p99 |\n", cfg.clients, cfg.duration)
	p("|---|---|---|---|---|---|\n")
	trow := func(name string, br, fr rate) {
		r := "–"
		if fr.perSecond() > 0 {
			r = fmt.Sprintf("%.2f×", br.perSecond()/fr.perSecond())
		}
		p("| %s | %.0f | %.0f | %s | %s | %s |\n", name, br.perSecond(), fr.perSecond(), r,
			benchkit.Dur(br.lat.Pct(99)), benchkit.Dur(fr.lat.Pct(99)))
	}
	trow("get pod · floor: Get", b.gets, f.gets)
	trow("create configmap · floor: Put", b.creates, f.creates)
	trow("mixed: 4 gets : 1 create", b.mixed, f.mixed)

	p("\n| berth server | |\n|---|---|\n")
	p("| start (exec → kubeconfig written) | %s |\n", benchkit.Dur(b.ready))
	p("| peak RSS (VmHWM, before SIGTERM) | %s |\n", benchkit.MiB(b.peakRSS, 0))
	p("| RSS before SIGTERM | %s |\n", benchkit.MiB(b.rss, 0))
	stop := benchkit.Dur(b.stop)
	if b.stopErr != nil {
		stop += " (" + b.stopErr.Error() + ")"
	}
	p("| stop (SIGTERM → exit) | %s |\n", stop)
	p("| embedded etcd alone: start | %s |\n", benchkit.Dur(f.start))
	_, _ = w.Write(out.Bytes())
}
