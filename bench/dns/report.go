package main

import (
	"fmt"
	"io"

	"github.com/berth-dev/berth/bench/internal/benchkit"
)

func report(w io.Writer, cfg config, m benchkit.Machine, rows []row, tb, tf rate) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("## berth cluster DNS vs the miekg/dns floor\n\n")
	p("- date: %s\n", m.Date.Format("2006-01-02 15:04:05 MST"))
	p("- machine: %s (load %s)\n", m.OneLine(), m.LoadAvg)
	p("- workload: %d ClusterIP Services and a headless one with 10 endpoints in %s; %d UDP queries per row "+
		"on each side, one at a time, berth and floor in turn; throughput with %d clients for %s each\n\n",
		cfg.services, namespace, cfg.n, cfg.clients, cfg.duration)

	p("| question | berth p50 | berth p99 | floor p50 | floor p99 | ratio p50 | ratio p99 |\n")
	p("|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		p("| %s | %s | %s | %s | %s | %s | %s |\n", r.name, benchkit.Dur(r.lb.Pct(50)), benchkit.Dur(r.lb.Pct(99)),
			benchkit.Dur(r.lf.Pct(50)), benchkit.Dur(r.lf.Pct(99)), benchkit.Ratio(r.lb.Pct(50), r.lf.Pct(50), 2),
			benchkit.Ratio(r.lb.Pct(99), r.lf.Pct(99), 2))
	}
	p("\n| throughput, %d clients × %s, Service A | ops/s | p50 | p99 |\n|---|---|---|---|\n", cfg.clients, cfg.duration)
	p("| berth | %.0f | %s | %s |\n", tb.perSecond(), benchkit.Dur(tb.lat.Pct(50)), benchkit.Dur(tb.lat.Pct(99)))
	p("| floor | %.0f | %s | %s |\n", tf.perSecond(), benchkit.Dur(tf.lat.Pct(50)), benchkit.Dur(tf.lat.Pct(99)))

	verdict := "met"
	if got := rows[0].lb.Pct(99); got >= target {
		verdict = "NOT met"
	}
	p("\nTarget: a Service lookup answers in under %s p99, one at a time — %s (%s).\n", benchkit.Dur(target), verdict, benchkit.Dur(rows[0].lb.Pct(99)))
}
