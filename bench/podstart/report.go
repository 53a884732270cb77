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

// target is DESIGN's goal for the ratio of p50s.
const target = 1.2

// machine is where the numbers come from.
type machine struct {
	date     time.Time
	cpus     int
	cpuModel string
	kernel   string
	goVer    string
	berth    string // the binary and what built it
	tmp      string // the temp dir and its file system
	runtime  string // containerd's name and version, from CRI
	cidr     string
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
func report(w io.Writer, cfg config, m machine, img image, r *results) {
	var out bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&out, format, args...) }

	p("## berth pod start vs the CRI floor\n\n")
	p("- date: %s\n", m.date.Format("2006-01-02 15:04:05 MST"))
	p("- machine: %s (nproc %d)\n", m.oneLine(), m.cpus)
	p("- berth: %s\n", m.berth)
	p("- runtime: %s, berth's child (both sides use it); pod network %s; data under %s\n", m.runtime, m.cidr, m.tmp)
	p("- image: %s (%s, busybox; pulled once by berth's first pod, then present); container: `sh -c %q`\n",
		img.ref, size(int(img.size)), containerScript)
	p("- berth: create with client-go → a watch sees phase Running and the container's state.running; " +
		"floor: RunPodSandbox + PodSandboxStatus + CreateContainer + StartContainer returned, raw CRI, same configs\n\n")

	p("| scenario | berth p50 | berth p99 | floor p50 | floor p99 | ratio p50 |\n")
	p("|---|---|---|---|---|---|\n")
	bSeq, fSeq := step(r.berthSeq, atStart, atRunning), step(r.floorSeq, atStart, atRunning)
	bBurst, fBurst := step(r.berthBurst, atStart, atRunning), step(r.floorBurst, atStart, atRunning)
	p("| 1 pod at a time (×%d): create → Running | %s | %s | %s | %s | %s |\n", cfg.n,
		dur(bSeq.pct(50)), dur(bSeq.pct(99)), dur(fSeq.pct(50)), dur(fSeq.pct(99)), ratio(bSeq.pct(50), fSeq.pct(50)))
	p("| %d pods at once: each create → Running | %s | %s | %s | %s | %s |\n", cfg.burst,
		dur(bBurst.pct(50)), dur(bBurst.pct(99)), dur(fBurst.pct(50)), dur(fBurst.pct(99)), ratio(bBurst.pct(50), fBurst.pct(50)))
	p("| %d pods at once: first create → all Running | %s | – | %s | – | %s |\n", cfg.burst,
		dur(r.berthAll), dur(r.floorAll), ratio(r.berthAll, r.floorAll))
	p("\nTarget (DESIGN): berth p50 within %.1f× of the floor — one at a time: %s; %d at once: %s.\n",
		target, verdict(bSeq.pct(50), fSeq.pct(50)), cfg.burst, verdict(bBurst.pct(50), fBurst.pct(50)))
	p("First pod (image pull included, not in the table): berth %s; the floor's first pod (image present) %s.\n\n",
		dur(r.berthWarm.total()), dur(r.floorWarm.total()))

	p("### Where the time goes (p50 over the pods of each step)\n\n")
	p("| step | berth, 1 at a time | floor, 1 at a time | berth, %d at once | floor, %d at once |\n", cfg.burst, cfg.burst)
	p("|---|---|---|---|---|\n")
	srow := func(name string, bl, fl func([]podTiming) latencies) {
		cell := func(get func([]podTiming) latencies, ps []podTiming) string {
			if get == nil {
				return "–"
			}
			return dur(get(ps).pct(50))
		}
		p("| %s | %s | %s | %s | %s |\n", name, cell(bl, r.berthSeq), cell(fl, r.floorSeq), cell(bl, r.berthBurst), cell(fl, r.floorBurst))
	}
	between := func(from, to func(podTiming) time.Time) func([]podTiming) latencies {
		return func(ps []podTiming) latencies { return step(ps, from, to) }
	}
	srow("create call returned (API round trip)", between(atStart, atCreated), nil)
	srow("create → bound to the node (watch sees spec.nodeName)", between(atStart, atBound), nil)
	srow("bound → RunPodSandbox began (containerd's sandbox CreatedAt) · floor: from the call",
		between(atBound, atSandboxCreated), between(atStart, atSandboxCreated))
	srow("RunPodSandbox call → returned", nil, between(atStart, atSandboxed))
	srow("sandbox CreatedAt → container CreatedAt (pod network, pause, sandbox status, image check, CreateContainer)",
		between(atSandboxCreated, atContainerCreated), between(atSandboxCreated, atContainerCreated))
	srow("container CreatedAt → StartedAt (StartContainer)",
		between(atContainerCreated, atContainerStarted), between(atContainerCreated, atContainerStarted))
	srow("StartedAt → Running seen by the watch (status write, watch) · floor: StartContainer returned",
		between(atContainerStarted, atRunning), between(atContainerStarted, atRunning))
	srow("**total**", between(atStart, atRunning), between(atStart, atRunning))
	p("\nEvents, first arrival at the benchmark's watch after the create call (p50; event timestamps have 1 s resolution):\n")
	for _, sc := range []struct {
		name string
		ps   []podTiming
	}{{"1 at a time", r.berthSeq}, {fmt.Sprintf("%d at once", cfg.burst), r.berthBurst}} {
		var parts []string
		for _, r := range []string{"Scheduled", "Pulled", "Created", "Started"} {
			l := step(sc.ps, atStart, atEvent(r))
			if len(l) == 0 {
				parts = append(parts, r+" (none)")
				continue
			}
			parts = append(parts, fmt.Sprintf("%s %s", r, dur(l.pct(50))))
		}
		p("- %s: %s; Running (status) %s\n", sc.name, strings.Join(parts, ", "), dur(step(sc.ps, atStart, atRunning).pct(50)))
	}

	p("\n### Memory (VmRSS)\n\n")
	p("| process | idle, before any pod | %d pods running | after they were deleted |\n", cfg.burst)
	p("|---|---|---|---|\n")
	p("| berth server (API, etcd, controllers, agent) | %s | %s | %s |\n", mib(r.idle.berth), mib(r.busy.berth), mib(r.after.berth))
	p("| containerd (berth's child) | %s | %s | %s |\n", mib(r.idle.containerd), mib(r.busy.containerd), mib(r.after.containerd))
	p("| berth + containerd | %s | %s | %s |\n", mib(sum(r.idle.berth, r.idle.containerd)),
		mib(sum(r.busy.berth, r.busy.containerd)), mib(sum(r.after.berth, r.after.containerd)))
	p("| containerd-shim-runc-v2 (one per pod) | %s | %s | %s |\n", shimCell(r.idle), shimCell(r.busy), shimCell(r.after))

	p("\n### Floor configuration check\n\n")
	switch {
	case r.cmpErr != nil:
		p("Could not compare the floor's configs with berth's: %v.\n", r.cmpErr)
	default:
		p("The floor's sandbox and container configs were read back from containerd (CRI verbose status) and compared "+
			"with berth's for its first pod, %d fields (names, UIDs and pod directories replaced by placeholders; the container "+
			"hash annotation not compared).", r.compared)
		expected, other := splitDiffs(r.diffs)
		if len(other) == 0 {
			p(" They match, except %s.\n", strings.Join(expected, "; "))
		} else {
			p(" Differences:\n\n")
			for _, d := range other {
				p("- %s\n", d)
			}
			for _, d := range expected {
				p("- %s\n", d)
			}
		}
	}
	w.Write(out.Bytes())
}

// splitDiffs separates the intended difference (berth.dev/managed, which
// keeps berth's orphan clean-up away from the floor's sandboxes) from the rest.
func splitDiffs(diffs []string) (expected, other []string) {
	for _, d := range diffs {
		if strings.Contains(d, "labels."+labelManaged+":") {
			continue
		}
		other = append(other, d)
	}
	expected = append(expected, fmt.Sprintf("the %s label, on purpose (%q on the floor, so that berth's agent does not "+
		"remove the floor's sandboxes as orphans)", labelManaged, floorManagedValue))
	return expected, other
}

func verdict(b, f time.Duration) string {
	if b <= 0 || f <= 0 {
		return "unknown"
	}
	r := float64(b) / float64(f)
	if r <= target {
		return fmt.Sprintf("met (%.2f×)", r)
	}
	return fmt.Sprintf("**not met** (%.2f×)", r)
}

func shimCell(m memSample) string {
	if m.shims == 0 {
		return "none"
	}
	return fmt.Sprintf("%d, %s in all", m.shims, mib(m.shimRSS))
}

func sum(a, b int64) int64 {
	if a < 0 || b < 0 {
		return -1
	}
	return a + b
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
	return fmt.Sprintf("%.2f×", float64(a)/float64(b))
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

func mib(n int64) string {
	if n < 0 {
		return "unknown"
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1024*1024))
}
