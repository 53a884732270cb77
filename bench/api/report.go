package main

import (
	"bytes"
	"fmt"
	"io"
	"time"

	"github.com/berth-dev/berth/bench/internal/benchkit"
)

// stat is one server's figure for a row: latencies (p50, p99) or a rate.
type stat struct {
	P50, P99 time.Duration
	Rate     float64 // operations per second; 0 for latency rows
}

func latStat(l benchkit.Latencies) stat { return stat{P50: l.Pct(50), P99: l.Pct(99)} }

// row is one line of the comparison: the same workload step on berth and
// on kube-apiserver.
type row struct {
	Name        string
	Berth, Kube stat
	// Kube is zero when the run had no kube-apiserver.
}

// Speedup is how many times better berth is: kube-apiserver ÷ berth for
// latencies (p50 and p99), berth ÷ kube-apiserver for rates; 0 when unknown.
func (r row) Speedup() (p50, p99 float64) {
	if r.Berth.Rate > 0 || r.Kube.Rate > 0 {
		if r.Kube.Rate > 0 {
			return r.Berth.Rate / r.Kube.Rate, 0
		}
		return 0, 0
	}
	if r.Berth.P50 > 0 && r.Kube.P50 > 0 {
		p50 = float64(r.Kube.P50) / float64(r.Berth.P50)
	}
	if r.Berth.P99 > 0 && r.Kube.P99 > 0 {
		p99 = float64(r.Kube.P99) / float64(r.Berth.P99)
	}
	return p50, p99
}

// comparison is the rows of the berth vs kube-apiserver table, in order.
func comparison(cfg config, b *berthResult, k *kubeResult) []row {
	var kr apiResult
	if k != nil {
		kr = *k.apiResult
	}
	lists := listCount(cfg.n)
	proto := ""
	if !b.protoServed {
		proto = " (berth answered JSON)"
	}
	rows := []row{
		{Name: fmt.Sprintf("create pod (×%d, one at a time)", cfg.pods), Berth: latStat(b.create), Kube: latStat(kr.create)},
		{Name: fmt.Sprintf("get pod (×%d, random)", cfg.n), Berth: latStat(b.get), Kube: latStat(kr.get)},
		{Name: fmt.Sprintf("get pod, protobuf%s", proto), Berth: latStat(b.getProto), Kube: latStat(kr.getProto)},
		{Name: fmt.Sprintf("list %d pods, decoded (×%d)", b.listItems, lists), Berth: latStat(b.list), Kube: latStat(kr.list)},
		{Name: fmt.Sprintf("list %d pods, raw JSON, not decoded", b.listItems), Berth: latStat(b.listRaw), Kube: latStat(kr.listRaw)},
		{Name: fmt.Sprintf("list %d pods, protobuf%s", b.listItems, proto), Berth: latStat(b.listProto), Kube: latStat(kr.listProto)},
		{Name: fmt.Sprintf("list with labelSelector %s (%d of %d pods)", selectorLabel, b.selectorItems, b.listItems), Berth: latStat(b.listSelector), Kube: latStat(kr.listSelector)},
		{Name: fmt.Sprintf("watch fan-out, protobuf: %d watchers × %d events, patch sent → event decoded", b.watchers, cfg.events), Berth: latStat(b.watchLat), Kube: latStat(kr.watchLat)},
		{Name: fmt.Sprintf("writes/s: configmap creates, %d clients × %s", cfg.clients, cfg.duration), Berth: stat{Rate: b.creates.perSecond()}, Kube: stat{Rate: kr.creates.perSecond()}},
		{Name: fmt.Sprintf("gets/s, %d clients", cfg.clients), Berth: stat{Rate: b.gets.perSecond()}, Kube: stat{Rate: kr.gets.perSecond()}},
		{Name: fmt.Sprintf("mixed ops/s (4 gets : 1 create), %d clients", cfg.clients), Berth: stat{Rate: b.mixed.perSecond()}, Kube: stat{Rate: kr.mixed.perSecond()}},
	}
	return rows
}

// perThousandPods is a server's RSS growth over the pods, per 1,000 pods.
func perThousandPods(r *apiResult, pods int) int64 {
	if r.rssBefore <= 0 || r.rssAfterPods <= 0 || pods <= 0 {
		return -1
	}
	return (r.rssAfterPods - r.rssBefore) * 1000 / int64(pods)
}

// report prints the tables.
func report(w io.Writer, cfg config, m benchkit.Machine, b *berthResult, k *kubeResult, f *floorResult, c *apiResult) {
	var out bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&out, format, args...) }

	podBytes := 0
	for _, j := range b.podJSON {
		podBytes += len(j)
	}
	lists := listCount(cfg.n)

	p("## berth API vs kube-apiserver and the etcd floor\n\n")
	p("- date: %s\n", m.Date.Format("2006-01-02 15:04:05 MST"))
	p("- machine: %s (nproc %d)\n", m.OneLine(), m.CPUs)
	p("- load average at the start (1, 5, 15 min): %s", m.LoadAvg)
	if m.CPUs > 0 {
		p(" on %d CPUs", m.CPUs)
	}
	p("\n- berth: %s\n", m.Berth)
	if k != nil {
		p("- kube-apiserver: %s on %s\n", cfg.kubeAPIServer, cfg.etcd)
	}
	p("- data dirs under: %s\n", m.Tmp)
	p("- workload: %d pods created one at a time (%s of JSON each, stored), %d random gets, %d lists; "+
		"throughput with %d clients for %s each\n",
		cfg.pods, benchkit.Size(int64(podBytes/max(len(b.podJSON), 1))), cfg.n, lists, cfg.clients, cfg.duration)
	if cfg.rounds > 1 {
		p("- rounds: the workload ran %d times on each server, each time on a fresh server and data dir, in the order "+
			"berth, kube-apiserver, kube-apiserver, berth, …, so that a machine that drifts during the run weighs on both alike; "+
			"every row pools the rounds (all latencies in one sample, rates as all operations over all the time, memory growth as the mean); "+
			"start, stop and RSS below are the rounds' median and largest\n", cfg.rounds)
	}
	p("\n")

	p("| operation | berth p50 | berth p99 | kube-apiserver p50 | kube p99 | speed-up p50 | speed-up p99 |\n")
	p("|---|---|---|---|---|---|---|\n")
	ratio := func(x float64) string {
		if x <= 0 {
			return "–"
		}
		return fmt.Sprintf("%.2f×", x)
	}
	for _, r := range comparison(cfg, b, k) {
		s50, s99 := r.Speedup()
		if r.Berth.Rate > 0 {
			kube := "–"
			if r.Kube.Rate > 0 {
				kube = fmt.Sprintf("%.0f/s", r.Kube.Rate)
			}
			p("| %s | %.0f/s | | %s | | %s | |\n", r.Name, r.Berth.Rate, kube, ratio(s50))
			continue
		}
		p("| %s | %s | %s | %s | %s | %s | %s |\n", r.Name, benchkit.Dur(r.Berth.P50), benchkit.Dur(r.Berth.P99),
			benchkit.Dur(r.Kube.P50), benchkit.Dur(r.Kube.P99), ratio(s50), ratio(s99))
	}
	p("\nspeed-up = kube-apiserver ÷ berth for latencies, berth ÷ kube-apiserver for rates (above 1: berth is faster).\n")
	if c != nil {
		clientFloorTable(p, cfg, b, k, c)
	}
	p("\n| memory | berth | kube-apiserver (etcd apart) |\n|---|---|---|\n")
	kubePer, kubeRSS := int64(-1), int64(-1)
	if k != nil {
		kubePer, kubeRSS = perThousandPods(k.apiResult, cfg.pods), k.rss
	}
	p("| RSS growth per 1,000 pods (after create and lists) | %s | %s |\n",
		benchkit.MiB(perThousandPods(b.apiResult, cfg.pods), 1), benchkit.MiB(kubePer, 1))
	p("| RSS at the end | %s | %s |\n\n", benchkit.MiB(b.rss, 0), benchkit.MiB(kubeRSS, 0))

	p("### berth vs the etcd floor\n\n")
	p("| operation | berth p50 | berth p99 | etcd floor p50 | floor p99 | ratio p50 |\n")
	p("|---|---|---|---|---|---|\n")
	frow := func(name string, bl, fl benchkit.Latencies) {
		p("| %s | %s | %s | %s | %s | %s |\n", name, benchkit.Dur(bl.Pct(50)), benchkit.Dur(bl.Pct(99)),
			benchkit.Dur(fl.Pct(50)), benchkit.Dur(fl.Pct(99)), benchkit.Ratio(bl.Pct(50), fl.Pct(50), 1))
	}
	frow(fmt.Sprintf("create pod (×%d, one at a time) · floor: Put", cfg.pods), b.create, f.create)
	frow(fmt.Sprintf("get pod (×%d, random) · floor: Get", cfg.n), b.get, f.get)
	frow(fmt.Sprintf("list %d pods, decoded by client-go (×%d) · floor: Range", b.listItems, lists), b.list, f.list)
	frow(fmt.Sprintf("list %d pods, raw JSON, not decoded (×%d) · floor: Range", b.listItems, lists), b.listRaw, f.list)
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
	if k != nil {
		p("| kube-apiserver start (exec → /readyz ok, etcd already up) | %s |\n", benchkit.Dur(k.ready))
	}
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

// clientFloorTable prints each row against the client floor: the same
// workload against a stub server answering from pre-encoded bytes (see
// stub.go). The rest of a row is the server's own share.
func clientFloorTable(p func(string, ...any), cfg config, b *berthResult, k *kubeResult, c *apiResult) {
	withKube := comparison(cfg, b, k)
	withFloor := comparison(cfg, b, &kubeResult{apiResult: c})
	p("\n### The client floor: what is left to the server\n\n")
	p("The same client-go program against a stub server that answers every request with bytes encoded " +
		"before the first one (berth's own answers) over the same TLS and HTTP/2, in the same run (its " +
		"rounds between the servers'): the benchmark client's CPU and the wire at both ends, on the same " +
		"cores. No server can go below it; a row minus the floor is the server's own time.\n\n")
	if k != nil {
		p("| operation | client floor p50 | floor p99 | berth − floor, p50 | kube-apiserver − floor, p50 | speed-up of the server's share, p50 | best possible speed-up of the row, p50 | best possible, p99 |\n")
		p("|---|---|---|---|---|---|---|---|\n")
	} else {
		p("| operation | client floor p50 | floor p99 | berth − floor, p50 |\n|---|---|---|---|\n")
	}
	for i, fr := range withFloor {
		kr := withKube[i]
		floor := fr.Kube
		if floor.Rate > 0 || fr.Berth.Rate > 0 {
			// Rates: per operation, 1/rate.
			per := func(r float64) time.Duration {
				if r <= 0 {
					return 0
				}
				return time.Duration(float64(time.Second) / r)
			}
			bt, ft, kt := per(fr.Berth.Rate), per(floor.Rate), per(kr.Kube.Rate)
			if k == nil {
				p("| %s | %.0f/s | | %s per op |\n", fr.Name, floor.Rate, aboveFloor(bt, ft))
				continue
			}
			p("| %s | %.0f/s | | %s per op | %s per op | %s | %s | |\n", fr.Name, floor.Rate, aboveFloor(bt, ft), aboveFloor(kt, ft),
				shareSpeedup(bt, kt, ft), bestSpeedup(kt, ft))
			continue
		}
		if k == nil {
			p("| %s | %s | %s | %s |\n", fr.Name, benchkit.Dur(floor.P50), benchkit.Dur(floor.P99), aboveFloor(fr.Berth.P50, floor.P50))
			continue
		}
		p("| %s | %s | %s | %s | %s | %s | %s | %s |\n", fr.Name, benchkit.Dur(floor.P50), benchkit.Dur(floor.P99),
			aboveFloor(fr.Berth.P50, floor.P50), aboveFloor(kr.Kube.P50, floor.P50),
			shareSpeedup(fr.Berth.P50, kr.Kube.P50, floor.P50), bestSpeedup(kr.Kube.P50, floor.P50), bestSpeedup(kr.Kube.P99, floor.P99))
	}
	p("\nspeed-up of the server's share = (kube-apiserver − floor) ÷ (berth − floor); best possible speed-up of the row = " +
		"kube-apiserver ÷ floor, what a server taking no time at all would reach on this machine (rates per operation, 1/rate); " +
		"best possible, p99 = kube-apiserver's p99 ÷ the floor's p99: where it is under 2×, no server reaches 2× at p99 here.\n")
}

func aboveFloor(v, floor time.Duration) string {
	if v <= 0 || floor <= 0 {
		return "–"
	}
	if v <= floor {
		return "≤ floor"
	}
	return benchkit.Dur(v - floor)
}

func shareSpeedup(berth, kube, floor time.Duration) string {
	if berth <= floor || kube <= floor || floor <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", float64(kube-floor)/float64(berth-floor))
}

func bestSpeedup(kube, floor time.Duration) string {
	if kube <= 0 || floor <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", float64(kube)/float64(floor))
}
