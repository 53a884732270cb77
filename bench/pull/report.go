package main

import (
	"bytes"
	"debug/buildinfo"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// results is everything measured.
type results struct {
	warmBerth   berthRun
	warmFloor   floorRun
	berth       []berthRun
	floor       []floorRun
	coldChecked bool // the content store was checked empty before every pull
}

// machine is where the numbers come from.
type machine struct {
	date     time.Time
	cpus     int
	cpuModel string
	kernel   string
	goVer    string
	berth    string // the binary and what built it
	tmp      string // the temp dir and its file system (containerd's content and snapshots live there)
	runtime  string
	cidr     string
	loadAvg  string // 1, 5, 15 min at the start: other load makes the runs noisy
}

func describeMachine(bin, tmp string) machine {
	m := machine{
		date:   time.Now(),
		cpus:   runtime.NumCPU(),
		goVer:  runtime.Version(),
		kernel: strings.TrimSpace(readFile("/proc/sys/kernel/osrelease")),
		tmp:    tmp + " (" + fsType(tmp) + ")",
	}
	if f := strings.Fields(readFile("/proc/loadavg")); len(f) >= 3 {
		m.loadAvg = strings.Join(f[:3], " ")
	}
	for _, line := range strings.Split(readFile("/proc/cpuinfo"), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			m.cpuModel = strings.TrimSpace(v)
			break
		}
	}
	m.berth = bin
	if bi, err := buildinfo.ReadFile(bin); err == nil {
		desc := []string{bi.GoVersion}
		var rev, modified string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value
			}
		}
		if rev != "" {
			if len(rev) > 12 {
				rev = rev[:12]
			}
			if modified == "true" {
				rev += "+dirty"
			}
			desc = append(desc, "rev "+rev)
		}
		m.berth += " (" + strings.Join(desc, ", ") + ")"
	}
	return m
}

func (m machine) oneLine() string {
	s := fmt.Sprintf("%d CPUs", m.cpus)
	if m.cpuModel != "" {
		s += " (" + m.cpuModel + ")"
	}
	return s + ", " + runtime.GOOS + "/" + runtime.GOARCH + " " + m.kernel + ", " + m.goVer
}

func readFile(name string) string {
	b, _ := os.ReadFile(name)
	return string(b)
}

// fsType names the file system under dir, from statfs's magic number.
func fsType(dir string) string {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return "unknown fs"
	}
	switch uint64(st.Type) {
	case 0x01021994:
		return "tmpfs"
	case 0xEF53:
		return "ext4"
	case 0x58465342:
		return "xfs"
	case 0x9123683E:
		return "btrfs"
	case 0x794C7630:
		return "overlayfs"
	case 0x2FC12FC1:
		return "zfs"
	}
	return fmt.Sprintf("fs magic %#x", uint64(st.Type))
}

// latencies are durations of one measure, one per run.
type latencies []time.Duration

// pct returns the q-th percentile (0 < q ≤ 100) by nearest rank; p50 of
// an even count is the lower middle.
func (l latencies) pct(q float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	s := slices.Clone(l)
	slices.Sort(s)
	rank := int(q/100*float64(len(s))+0.999999) - 1
	return s[min(max(rank, 0), len(s)-1)]
}

func (l latencies) min() time.Duration {
	if len(l) == 0 {
		return 0
	}
	return slices.Min(l)
}

func (l latencies) max() time.Duration {
	if len(l) == 0 {
		return 0
	}
	return slices.Max(l)
}

func collect[T any](rs []T, f func(T) time.Duration) latencies {
	out := make(latencies, 0, len(rs))
	for _, r := range rs {
		out = append(out, f(r))
	}
	return out
}

// report prints the tables.
func report(w io.Writer, cfg config, m machine, reg *registry, img image, res *results) {
	var out bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&out, format, args...) }

	toPulled := collect(res.berth, berthRun.toPulled)
	reported := collect(res.berth, func(r berthRun) time.Duration { return r.reported })
	floor := collect(res.floor, func(r floorRun) time.Duration { return r.pull })
	fp50 := floor.pct(50)

	p("## berth image pull vs the CRI floor\n\n")
	p("- date: %s\n", m.date.Format("2006-01-02 15:04:05 MST"))
	p("- machine: %s (nproc %d); load average at the start %s\n", m.oneLine(), m.cpus, orUnknown(m.loadAvg, "unknown"))
	p("- berth: %s; runtime %s (berth's child); data under %s\n", m.berth, m.runtime, m.tmp)
	p("- registry: %s on %s (plain HTTP on loopback), htpasswd basic auth; berth gets the credentials from a "+
		"`kubernetes.io/dockerconfigjson` secret in the pod's `imagePullSecrets`, the floor sends the same username and "+
		"password in the CRI `AuthConfig`\n", orUnknown(reg.version, "docker-registry"), reg.host)
	p("- image: busybox-static + %s of incompressible padding: %d layers, %s compressed (%d bytes) — every pull "+
		"downloads all of it; MB/s = 10⁶ bytes of that per second\n", size(img.padding), img.layers, size(img.size), img.size)
	cold := "the image absent from containerd (CRI ImageStatus)"
	if res.coldChecked {
		cold += " and none of its blobs in containerd's content store"
	}
	p("- runs: %d cold pulls on each side, interleaved (the order alternating), after one warm-up each (not counted); "+
		"a fresh tag every pull; before each: %s; after each: the pod deleted and gone, then CRI RemoveImage\n\n", cfg.n, cold)

	p("| cold pull (n = %d) | p50 | min | max | MB/s at p50 | vs floor p50 |\n", cfg.n)
	p("|---|---|---|---|---|---|\n")
	row := func(name string, l latencies, vs bool) {
		cmp := "–"
		if vs {
			cmp = fmt.Sprintf("%s, %s", ratio(l.pct(50), fp50), diffMS(l.pct(50), fp50))
		}
		p("| %s | %s | %s | %s | %s | %s |\n", name, dur(l.pct(50)), dur(l.min()), dur(l.max()), mbps(img.size, l.pct(50)), cmp)
	}
	row("**berth: pod create call → `Pulled` event seen**", toPulled, true)
	row("berth: its pull, as the `Pulled` event reports it (\"Successfully pulled image … in X\")", reported, true)
	row("**floor: CRI PullImage, same containerd, same credentials**", floor, false)
	p("\n")
	r := float64(toPulled.pct(50)) / float64(fp50)
	d := toPulled.pct(50) - fp50
	p("Target for create → Pulled against the floor (p50): within 1.1× — %s (%.2f×); under 100 ms more — %s (%s).\n\n",
		yesNo(r <= 1.1), r, yesNo(d < 100*time.Millisecond), diffMS(toPulled.pct(50), fp50))

	p("Where berth's create → Pulled goes (each step as the benchmark's watches saw it):\n\n")
	p("| berth step | p50 | min | max |\n|---|---|---|---|\n")
	step := func(name string, l latencies) {
		p("| %s | %s | %s | %s |\n", name, dur(l.pct(50)), dur(l.min()), dur(l.max()))
	}
	step("create call (request → response)", collect(res.berth, func(r berthRun) time.Duration { return r.created.Sub(r.start) }))
	step("create → `Pulling` event seen (scheduling, pod sandbox: pause container and CNI)", collect(res.berth, berthRun.toPulling))
	step("`Pulling` → `Pulled` events seen (the pull, the secret's credentials, event delivery)", collect(res.berth, berthRun.pullSeen))
	step("`Pulled` reports \"X including waiting\"", collect(res.berth, func(r berthRun) time.Duration { return r.reportedTotal }))
	step("`Pulled` seen → Running seen (container create and start)", collect(res.berth, func(r berthRun) time.Duration { return sub(r.running, r.pulled) }))
	step("create → Running seen", collect(res.berth, berthRun.toRunning))

	p("\n| run | berth create → Pulled | berth pull (event) | berth create → Running | floor CRI pull | image size (event / CRI) |\n")
	p("|---|---|---|---|---|---|\n")
	p("| warm-up (not counted) | %s | %s | %s | %s | %d / %d |\n", dur(res.warmBerth.toPulled()), dur(res.warmBerth.reported),
		dur(res.warmBerth.toRunning()), dur(res.warmFloor.pull), res.warmBerth.reportedSize, res.warmFloor.size)
	for i := range min(len(res.berth), len(res.floor)) {
		b, f := res.berth[i], res.floor[i]
		order := "berth first"
		if i%2 == 1 {
			order = "floor first"
		}
		p("| %d (%s) | %s | %s | %s | %s | %d / %d |\n", i+1, order, dur(b.toPulled()), dur(b.reported), dur(b.toRunning()),
			dur(f.pull), b.reportedSize, f.size)
	}
	w.Write(out.Bytes())
}

// dur prints a duration with three significant digits or so.
func dur(d time.Duration) string {
	switch {
	case d <= 0:
		return "–"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
	case d < 100*time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.3f s", d.Seconds())
}

func ratio(a, b time.Duration) string {
	if a <= 0 || b <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", float64(a)/float64(b))
}

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

func size(n int64) string {
	switch {
	case n < 1024:
		return fmt.Sprintf("%d B", n)
	case n < 1024*1024:
		return fmt.Sprintf("%.1f KiB", float64(n)/1024)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1024*1024))
}
