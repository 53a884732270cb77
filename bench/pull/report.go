package main

import (
	"bytes"
	"fmt"
	"io"
	"time"

	"github.com/berth-dev/berth/bench/internal/benchkit"
)

// results is everything measured.
type results struct {
	warmBerth   berthRun
	warmFloor   floorRun
	warmCrane   craneRun
	berth       []berthRun
	floor       []floorRun
	crane       []craneRun
	coldChecked bool // the content store was checked empty before every pull
}

// machine is where the numbers come from, with the runtime and the pod
// network of the run.
type machine struct {
	benchkit.Machine
	runtime string // containerd's name and version, from CRI
	cidr    string
}

// collect is f of every run.
func collect[T any](rs []T, f func(T) time.Duration) benchkit.Latencies {
	out := make(benchkit.Latencies, 0, len(rs))
	for _, r := range rs {
		out = append(out, f(r))
	}
	return out
}

// report prints the tables.
func report(w io.Writer, cfg config, m machine, reg *benchkit.Registry, img benchkit.Image, res *results) {
	var out bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&out, format, args...) }

	toPulled := collect(res.berth, berthRun.toPulled)
	reported := collect(res.berth, func(r berthRun) time.Duration { return r.reported })
	floor := collect(res.floor, func(r floorRun) time.Duration { return r.pull })
	fp50 := floor.Pct(50)

	p("## berth image pull vs the CRI floor\n\n")
	p("- date: %s\n", m.Date.Format("2006-01-02 15:04:05 MST"))
	p("- machine: %s (nproc %d); load average at the start %s\n", m.OneLine(), m.CPUs, orUnknown(m.LoadAvg, "unknown"))
	p("- berth: %s; runtime %s (berth's child); data under %s\n", m.Berth, m.runtime, m.Tmp)
	p("- registry: %s on %s (plain HTTP on loopback), htpasswd basic auth; berth gets the credentials from a "+
		"`kubernetes.io/dockerconfigjson` secret in the pod's `imagePullSecrets`, the floor sends the same username and "+
		"password in the CRI `AuthConfig`\n", orUnknown(reg.Version, "docker-registry"), reg.Host)
	p("- image: busybox-static + %s of incompressible padding: %d layers, %s compressed (%d bytes) — every pull "+
		"downloads all of it; MB/s = 10⁶ bytes of that per second\n", benchkit.Size(cfg.size), img.Layers, benchkit.Size(img.Size), img.Size)
	cold := "the image absent from containerd (CRI ImageStatus)"
	if res.coldChecked {
		cold += " and none of its blobs in containerd's content store"
	}
	p("- runs: %d cold pulls on each side, interleaved (the order alternating), after one warm-up each (not counted); "+
		"a fresh tag every pull; before each: %s; after each: the pod deleted and gone, then CRI RemoveImage\n\n", cfg.n, cold)

	p("| cold pull (n = %d) | p50 | min | max | MB/s at p50 | vs floor p50 |\n", cfg.n)
	p("|---|---|---|---|---|---|\n")
	row := func(name string, l benchkit.Latencies, vs bool) {
		cmp := "–"
		if vs {
			cmp = fmt.Sprintf("%s, %s", benchkit.Ratio(l.Pct(50), fp50, 2), diffMS(l.Pct(50), fp50))
		}
		p("| %s | %s | %s | %s | %s | %s |\n", name, dur(l.Pct(50)), dur(l.Min()), dur(l.Max()), mbps(img.Size, l.Pct(50)), cmp)
	}
	row("**berth: pod create call → `Pulled` event seen**", toPulled, true)
	row("berth: its pull, as the `Pulled` event reports it (\"Successfully pulled image … in X\")", reported, true)
	row("**floor: CRI PullImage, same containerd, same credentials**", floor, false)
	cr := collect(res.crane, func(r craneRun) time.Duration { return r.pull })
	if len(cr) > 0 {
		row("plain registry client: `crane pull` (go-containerregistry; download to an OCI layout, no unpack)", cr, true)
	}
	p("\n")
	r := float64(toPulled.Pct(50)) / float64(fp50)
	d := toPulled.Pct(50) - fp50
	p("Target for create → Pulled against the floor (p50): within 1.05× — %s (%.2f×); under 100 ms more — %s (%s).\n",
		yesNo(r <= 1.05), r, yesNo(d < 100*time.Millisecond), diffMS(toPulled.Pct(50), fp50))
	if len(cr) > 0 {
		p("The CRI floor against a plain registry client (p50): %s at %s MB/s, crane %s at %s MB/s (%s).\n",
			dur(fp50), mbps(img.Size, fp50), dur(cr.Pct(50)), mbps(img.Size, cr.Pct(50)), benchkit.Ratio(fp50, cr.Pct(50), 2))
	}
	p("\n")

	p("Where berth's create → Pulled goes (each step as the benchmark's watches saw it):\n\n")
	p("| berth step | p50 | min | max |\n|---|---|---|---|\n")
	step := func(name string, l benchkit.Latencies) {
		p("| %s | %s | %s | %s |\n", name, dur(l.Pct(50)), dur(l.Min()), dur(l.Max()))
	}
	step("create call (request → response)", collect(res.berth, func(r berthRun) time.Duration { return r.created.Sub(r.start) }))
	step("create → `Pulling` event seen (scheduling, pod sandbox: pause container and CNI)", collect(res.berth, berthRun.toPulling))
	step("`Pulling` → `Pulled` events seen (the pull, the secret's credentials, event delivery)", collect(res.berth, berthRun.pullSeen))
	step("`Pulled` reports \"X including waiting\"", collect(res.berth, func(r berthRun) time.Duration { return r.reportedTotal }))
	step("`Pulled` seen → Running seen (container create and start)", collect(res.berth, func(r berthRun) time.Duration { return sub(r.running, r.pulled) }))
	step("create → Running seen", collect(res.berth, berthRun.toRunning))

	p("\n| run | berth create → Pulled | berth pull (event) | berth create → Running | floor CRI pull | crane pull | image size (event / CRI) |\n")
	p("|---|---|---|---|---|---|---|\n")
	p("| warm-up (not counted) | %s | %s | %s | %s | %s | %d / %d |\n", dur(res.warmBerth.toPulled()), dur(res.warmBerth.reported),
		dur(res.warmBerth.toRunning()), dur(res.warmFloor.pull), dur(res.warmCrane.pull), res.warmBerth.reportedSize, res.warmFloor.size)
	for i := range min(len(res.berth), len(res.floor), len(res.crane)) {
		b, f := res.berth[i], res.floor[i]
		order := [...]string{"berth, floor, crane", "floor, crane, berth", "crane, berth, floor"}[i%3]
		p("| %d (%s) | %s | %s | %s | %s | %s | %d / %d |\n", i+1, order, dur(b.toPulled()), dur(b.reported), dur(b.toRunning()),
			dur(f.pull), dur(res.crane[i].pull), b.reportedSize, f.size)
	}
	_, _ = w.Write(out.Bytes())
}

// dur prints a duration like benchkit.Dur, seconds to the millisecond:
// pulls take seconds, and their differences matter.
func dur(d time.Duration) string { return benchkit.FormatDuration(d, 3) }

// diffMS is a − b in milliseconds, signed.
func diffMS(a, b time.Duration) string {
	if a <= 0 || b <= 0 {
		return "–"
	}
	return fmt.Sprintf("%+.0f ms", float64(a-b)/float64(time.Millisecond))
}

func mbps(n int64, d time.Duration) string {
	if d <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.0f", float64(n)/d.Seconds()/1e6)
}

func yesNo(ok bool) string {
	if ok {
		return "met"
	}
	return "missed"
}

func orUnknown(s, unknown string) string {
	if s == "" {
		return unknown
	}
	return s
}
