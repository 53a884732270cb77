package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/berth-dev/berth/bench/internal/benchkit"
)

// Targets (issue 12): one at a time, berth's p50 within targetSeq × the
// floor's p50; at once, berth's p99 within targetBurst × the floor's p50.
// The floor is the first of -floor-runtimes (runc: what a kubelet on runc
// cannot beat).
const (
	targetSeq   = 0.8
	targetBurst = 1.5
)

// machine is where the numbers come from, with the runtime and the pod
// network of the run.
type machine struct {
	benchkit.Machine
	runtime string // containerd's name and version, from CRI
	cidr    string
	oci     string // berth's containerd's default OCI runtime
}

// report prints the tables.
func report(w io.Writer, cfg config, m machine, img benchkit.Image, r *results) {
	var out bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&out, format, args...) }

	p("## berth pod start vs the CRI floor\n\n")
	p("- date: %s\n", m.Date.Format("2006-01-02 15:04:05 MST"))
	p("- machine: %s (nproc %d)\n", m.OneLine(), m.CPUs)
	p("- berth: %s\n", m.Berth)
	p("- runtime: %s, berth's child (both sides use it); pod network %s; data under %s\n", m.runtime, m.cidr, m.Tmp)
	p("- OCI runtime: berth's pods on **%s** (containerd's default handler); the floor on %s (CRI runtime handlers of the same containerd); \"floor\" below is the floor on %s\n",
		orUnknown(m.oci), strings.Join(cfg.floors, " and "), cfg.floors[0])
	p("- image: %s (%s, busybox; pulled once by berth's first pod, then present); container: `sh -c %q`\n",
		img.Ref(imageTag), benchkit.Size(img.Size), containerScript)
	if cfg.services > 0 {
		p("- %d Services in the pods' namespace: every container gets their service-link variables (the floor sends the same config)\n", cfg.services)
	}
	p("- berth: create with client-go → a watch sees phase Running and the container's state.running; " +
		"floor: RunPodSandbox + PodSandboxStatus + CreateContainer + StartContainer returned, raw CRI, same configs\n\n")

	p("| scenario | berth p50 | berth p99 | floor p50 | floor p99 | ratio p50 |\n")
	p("|---|---|---|---|---|---|\n")
	bSeq, fSeq := step(r.berthSeq, atStart, atRunning), step(r.floorSeq, atStart, atRunning)
	bBurst, fBurst := step(r.berthBurst, atStart, atRunning), step(r.floorBurst, atStart, atRunning)
	p("| 1 pod at a time (×%d): create → Running | %s | %s | %s | %s | %s |\n", cfg.n,
		benchkit.Dur(bSeq.Pct(50)), benchkit.Dur(bSeq.Pct(99)),
		benchkit.Dur(fSeq.Pct(50)), benchkit.Dur(fSeq.Pct(99)), benchkit.Ratio(bSeq.Pct(50), fSeq.Pct(50), 2))
	p("| %d pods at once: each create → Running | %s | %s | %s | %s | %s |\n", cfg.burst,
		benchkit.Dur(bBurst.Pct(50)), benchkit.Dur(bBurst.Pct(99)),
		benchkit.Dur(fBurst.Pct(50)), benchkit.Dur(fBurst.Pct(99)), benchkit.Ratio(bBurst.Pct(50), fBurst.Pct(50), 2))
	p("| %d pods at once: first create → all Running | %s | – | %s | – | %s |\n", cfg.burst,
		benchkit.Dur(r.berthAll), benchkit.Dur(r.floorAll), benchkit.Ratio(r.berthAll, r.floorAll, 2))
	p("| one Deployment of %d replicas: create → %d ready | %s | – | – | – | %s of berth's %d at once (target ≤ 1.3) |\n", cfg.burst, cfg.burst,
		benchkit.Dur(r.berthDeploy), benchkit.Ratio(r.berthDeploy, r.berthAll, 2), cfg.burst)
	p("| rolling update of %d replicas (maxSurge 1, maxUnavailable 1): template change → all updated and available | %s | – | – | – | %s of %d × berth's one-at-a-time p50 (target ≤ 1.5) |\n",
		rolloutReplicas, benchkit.Dur(r.berthRollout), benchkit.Ratio(r.berthRollout, time.Duration(rolloutReplicas)*bSeq.Pct(50), 2), rolloutReplicas)
	p("\nTargets (issue 12), against the floor on %s: one at a time, berth p50 ≤ %.1f× the floor's p50: %s; %d at once, berth p99 ≤ %.1f× the floor's p50: %s.\n",
		cfg.floors[0], targetSeq, verdict(bSeq.Pct(50), fSeq.Pct(50), targetSeq), cfg.burst, targetBurst, verdict(bBurst.Pct(99), fBurst.Pct(50), targetBurst))
	if len(r.floors) > 0 {
		p("\n| runtime | 1 at a time p50 | 1 at a time p99 | %d at once p50 | %d at once p99 | all %d Running |\n", cfg.burst, cfg.burst, cfg.burst)
		p("|---|---|---|---|---|---|\n")
		row := func(name string, seq, burst []podTiming, all time.Duration) {
			s, b := step(seq, atStart, atRunning), step(burst, atStart, atRunning)
			p("| %s | %s | %s | %s | %s | %s |\n", name, benchkit.Dur(s.Pct(50)), benchkit.Dur(s.Pct(99)),
				benchkit.Dur(b.Pct(50)), benchkit.Dur(b.Pct(99)), benchkit.Dur(all))
		}
		row("berth on "+orUnknown(m.oci)+" (create → Running)", r.berthSeq, r.berthBurst, r.berthAll)
		for _, f := range r.floors {
			row("floor on "+f.handler+" (RunPodSandbox … StartContainer)", f.seq, f.burst, f.all)
		}
		p("\n")
	}
	p("First pod (image pull included, not in the table): berth %s; the floor's first pod (image present) %s.\n\n",
		benchkit.Dur(r.berthWarm.total()), benchkit.Dur(r.floorWarm.total()))

	p("### Where the time goes (p50 over the pods of each step)\n\n")
	// One column per side and scenario: berth, then every floor.
	floors := r.floors
	if len(floors) == 0 {
		floors = []*floorRun{{handler: cfg.floors[0], seq: r.floorSeq, burst: r.floorBurst}}
	}
	head, rule := "| step | berth, 1 at a time", "|---|---"
	for _, f := range floors {
		head += " | floor on " + f.handler + ", 1 at a time"
		rule += "|---"
	}
	head += fmt.Sprintf(" | berth, %d at once", cfg.burst)
	rule += "|---"
	for _, f := range floors {
		head += fmt.Sprintf(" | floor on %s, %d at once", f.handler, cfg.burst)
		rule += "|---"
	}
	p("%s |\n%s|\n", head, rule)
	srow := func(name string, bl, fl func([]podTiming) benchkit.Latencies) {
		cell := func(get func([]podTiming) benchkit.Latencies, ps []podTiming) string {
			if get == nil {
				return "–"
			}
			return benchkit.Dur(get(ps).Pct(50))
		}
		line := "| " + name + " | " + cell(bl, r.berthSeq)
		for _, f := range floors {
			line += " | " + cell(fl, f.seq)
		}
		line += " | " + cell(bl, r.berthBurst)
		for _, f := range floors {
			line += " | " + cell(fl, f.burst)
		}
		p("%s |\n", line)
	}
	between := func(from, to func(podTiming) time.Time) func([]podTiming) benchkit.Latencies {
		return func(ps []podTiming) benchkit.Latencies { return step(ps, from, to) }
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
			parts = append(parts, fmt.Sprintf("%s %s", r, benchkit.Dur(l.Pct(50))))
		}
		p("- %s: %s; Running (status) %s\n", sc.name, strings.Join(parts, ", "), benchkit.Dur(step(sc.ps, atStart, atRunning).Pct(50)))
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
	_, _ = w.Write(out.Bytes())
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

func verdict(b, f time.Duration, target float64) string {
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

// mib prints memory in MiB, one decimal.
func mib(n int64) string { return benchkit.MiB(n, 1) }

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}
