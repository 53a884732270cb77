package main

import (
	"bytes"
	"debug/buildinfo"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// machine is where the numbers come from.
type machine struct {
	date     time.Time
	cpus     int
	cpuModel string
	kernel   string
	goVer    string
	berth    string // the binary and what built it
	tmp      string // the temp dir and its file system (fsync cost lives there)
}

func describeMachine(bin, tmp string) machine {
	m := machine{
		date:   time.Now(),
		cpus:   runtime.NumCPU(),
		goVer:  runtime.Version(),
		kernel: strings.TrimSpace(readFile("/proc/sys/kernel/osrelease")),
		tmp:    tmp + " (" + fsType(tmp) + ")",
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

// report prints the tables.
func report(w io.Writer, cfg config, m machine, b *berthResult, f *floorResult) {
	var out bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&out, format, args...) }

	podBytes := 0
	for _, j := range b.podJSON {
		podBytes += len(j)
	}
	lists := listCount(cfg.n)

	p("## berth API vs the etcd floor\n\n")
	p("- date: %s\n", m.date.Format("2006-01-02 15:04:05 MST"))
	p("- machine: %s (nproc %d)\n", m.oneLine(), m.cpus)
	p("- berth: %s\n", m.berth)
	p("- data dirs under: %s\n", m.tmp)
	p("- workload: %d pods created one at a time (%s of JSON each, stored), %d random gets, %d lists; "+
		"throughput with %d clients for %s each\n\n", cfg.pods, size(podBytes/max(len(b.podJSON), 1)), cfg.n, lists, cfg.clients, cfg.duration)

	p("| operation | berth p50 | berth p99 | etcd floor p50 | floor p99 | ratio p50 |\n")
	p("|---|---|---|---|---|---|\n")
	row := func(name string, bl, fl latencies) {
		p("| %s | %s | %s | %s | %s | %s |\n", name,
			dur(bl.pct(50)), dur(bl.pct(99)), dur(fl.pct(50)), dur(fl.pct(99)), ratio(bl.pct(50), fl.pct(50)))
	}
	row(fmt.Sprintf("create pod (×%d, one at a time) · floor: Put", cfg.pods), b.create, f.create)
	row(fmt.Sprintf("get pod (×%d, random) · floor: Get", cfg.n), b.get, f.get)
	row(fmt.Sprintf("list %d pods, decoded by client-go (×%d) · floor: Range", b.listItems, lists), b.list, f.list)
	row(fmt.Sprintf("list %d pods, raw JSON, not decoded (×%d) · floor: Range", b.listItems, lists), b.listRaw, f.list)
	p("\nOne list: berth sends %d pods as %s of JSON; the etcd range returns %d keys holding %s of values.\n\n",
		b.listItems, size(b.listBytes), f.listItems, size(f.listBytes))

	p("| throughput, %d clients × %s | berth ops/s | floor ops/s | ratio (berth/floor) | berth p99 | floor p99 |\n", cfg.clients, cfg.duration)
	p("|---|---|---|---|---|---|\n")
	trow := func(name string, br, fr rate) {
		r := "–"
		if fr.perSecond() > 0 {
			r = fmt.Sprintf("%.2f×", br.perSecond()/fr.perSecond())
		}
		p("| %s | %.0f | %.0f | %s | %s | %s |\n", name, br.perSecond(), fr.perSecond(), r, dur(br.lat.pct(99)), dur(fr.lat.pct(99)))
	}
	trow("get pod · floor: Get", b.gets, f.gets)
	trow("create configmap · floor: Put", b.creates, f.creates)
	trow("mixed: 4 gets : 1 create", b.mixed, f.mixed)

	p("\n| berth server | |\n|---|---|\n")
	p("| start (exec → kubeconfig written) | %s |\n", dur(b.ready))
	p("| peak RSS (VmHWM, before SIGTERM) | %s |\n", bytesOrUnknown(b.peakRSS))
	p("| RSS before SIGTERM | %s |\n", bytesOrUnknown(b.rss))
	stop := dur(b.stop)
	if b.stopErr != nil {
		stop += " (" + b.stopErr.Error() + ")"
	}
	p("| stop (SIGTERM → exit) | %s |\n", stop)
	p("| embedded etcd alone: start | %s |\n", dur(f.start))
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
	return fmt.Sprintf("%.2f s", d.Seconds())
}

func ratio(a, b time.Duration) string {
	if a <= 0 || b <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f×", float64(a)/float64(b))
}

func size(n int) string {
	switch {
	case n < 1024:
		return fmt.Sprintf("%d B", n)
	case n < 1024*1024:
		return fmt.Sprintf("%.1f KiB", float64(n)/1024)
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1024*1024))
}

func bytesOrUnknown(n int64) string {
	if n < 0 {
		return "unknown"
	}
	return fmt.Sprintf("%.0f MiB", float64(n)/(1024*1024))
}
