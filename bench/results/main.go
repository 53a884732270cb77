// Command results turns the JSON files the benchmarks write with -json
// into bench/RESULTS.md: the machine, the versions, the date, every table
// of every benchmark, and one SVG bar chart per benchmark (berth ÷ its
// floor or anchor, each ratio from one run), written next to the JSON.
//
//	go run ./bench/results [-dir bench/results] [-out bench/RESULTS.md]
//
// `make bench` runs the benchmarks and then this.
package main

import (
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/berth-dev/berth/bench/internal/benchkit"
)

// order is how the benchmarks appear; others follow by name.
var order = []string{"startup", "api", "podstart", "pull", "dns"}

func main() {
	dir := flag.String("dir", "bench/results", "directory of the benchmarks' JSON files; the charts are written there too")
	out := flag.String("out", "bench/RESULTS.md", "the Markdown file to write")
	flag.Parse()
	if err := run(*dir, *out); err != nil {
		fmt.Fprintln(os.Stderr, "bench/results:", err)
		os.Exit(1)
	}
}

func run(dir, out string) error {
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return fmt.Errorf("no *.json in %s: run the benchmarks with -json first (make bench)", dir)
	}
	var rs []benchkit.Result
	for _, n := range names {
		r, err := benchkit.ReadResult(n)
		if err != nil {
			return err
		}
		if r.Bench == "" {
			r.Bench = strings.TrimSuffix(filepath.Base(n), ".json")
		}
		rs = append(rs, r)
	}
	sortResults(rs)
	// Links in RESULTS.md are relative to its own directory.
	rel, err := filepath.Rel(filepath.Dir(out), dir)
	if err != nil {
		rel = dir
	}
	charts := map[string]string{}
	for _, r := range rs {
		bs := bars(r)
		if len(bs) == 0 {
			continue
		}
		name := r.Bench + ".svg"
		if err := os.WriteFile(filepath.Join(dir, name), svgChart(r.Title, bs), 0o644); err != nil {
			return err
		}
		charts[r.Bench] = filepath.ToSlash(filepath.Join(rel, name))
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	writeMarkdown(f, rs, charts)
	return f.Close()
}

// sortResults puts rs in the order of order, then by name.
func sortResults(rs []benchkit.Result) {
	rank := func(b string) int {
		if i := slices.Index(order, b); i >= 0 {
			return i
		}
		return len(order)
	}
	slices.SortStableFunc(rs, func(a, b benchkit.Result) int {
		if d := rank(a.Bench) - rank(b.Bench); d != 0 {
			return d
		}
		return strings.Compare(a.Bench, b.Bench)
	})
}

// writeMarkdown writes RESULTS.md: rs in order, with the charts (bench →
// path relative to the Markdown file).
func writeMarkdown(w io.Writer, rs []benchkit.Result, charts map[string]string) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("# berth benchmark results\n\n")
	p("Written by `make bench` (`bench/results` from the `-json` files in `bench/results/`). Each benchmark measures berth " +
		"and its floor (the same work done straight on etcd, containerd or the DNS library) or anchor side by side in one " +
		"run: every ratio below comes from that one run, never from figures of another day.\n\n")
	var busy []string
	for _, r := range rs {
		if r.Busy != "" {
			busy = append(busy, fmt.Sprintf("`%s`: %s", r.Bench, r.Busy))
		}
	}
	if len(busy) > 0 {
		p("> **The machine was busy** while these ran, so the absolute numbers are noisy (ratios less so, since both sides of " +
			"each shared the load):\n")
		for _, b := range busy {
			p("> - %s\n", b)
		}
		p("\n")
	}
	if len(rs) > 0 {
		writeHost(w, rs)
	}
	p("## Contents\n\n")
	for _, r := range rs {
		p("- [`%s`](#%s): %s\n", r.Bench, anchor(r), r.Title)
	}
	p("\n")
	for _, r := range rs {
		p("## %s\n\n", heading(r))
		p("`bench/%s`, %s", r.Bench, r.Date.UTC().Format("2006-01-02 15:04 MST"))
		if r.Host.Berth != "" {
			p(", berth %s", r.Host.Berth)
		}
		p(", load %.2f on %d cores at the start", r.Host.Load1, r.Host.Cores)
		if r.Busy != "" {
			p(" — **%s**", r.Busy)
		}
		p(".\n\n")
		if c, ok := charts[r.Bench]; ok {
			p("![%s: berth ÷ floor](%s)\n\n", r.Bench, c)
		}
		for _, n := range r.Notes {
			p("%s\n", n)
		}
		if len(r.Notes) > 0 {
			p("\n")
		}
		last := r.Title
		for _, t := range r.Tables {
			if t.Title != "" && t.Title != last {
				p("### %s\n\n", t.Title)
				last = t.Title
			}
			t.WriteMarkdown(w)
			p("\n")
		}
	}
}

// heading is a result's section heading: "api: berth API vs the etcd floor".
func heading(r benchkit.Result) string {
	if r.Title == "" {
		return r.Bench
	}
	return r.Bench + ": " + r.Title
}

// anchor is GitHub's anchor for heading(r): lower case, spaces to
// hyphens, punctuation other than hyphens and underscores dropped.
func anchor(r benchkit.Result) string {
	var b strings.Builder
	for _, c := range strings.ToLower(heading(r)) {
		switch {
		case c == ' ':
			b.WriteRune('-')
		case c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c > 127 && c != '×' && c != '÷' && c != '→':
			b.WriteRune(c)
		}
	}
	return b.String()
}

// writeHost is the machine and versions table, from the first result; a
// result from another machine or commit says so in its own section.
func writeHost(w io.Writer, rs []benchkit.Result) {
	h := rs[0].Host
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	or := func(s string) string {
		if s == "" {
			return "not installed"
		}
		return s
	}
	commits := map[string]bool{}
	for _, r := range rs {
		commits[r.Host.Berth] = true
	}
	p("## Machine and versions\n\n| | |\n|---|---|\n")
	p("| CPU | %s, %d cores |\n", or(h.CPUModel), h.Cores)
	p("| memory | %.1f GiB |\n", float64(h.MemoryBytes)/(1<<30))
	p("| kernel | %s |\n", h.Kernel)
	p("| Go | %s |\n", h.GoVersion)
	p("| containerd | %s |\n", or(h.Containerd))
	p("| runc | %s |\n", or(h.Runc))
	p("| crun | %s |\n", or(h.Crun))
	p("| berth commit | %s |\n", strings.Join(slices.Sorted(maps.Keys(commits)), ", "))
	first, lastDate := rs[0].Date, rs[0].Date
	for _, r := range rs {
		if r.Date.Before(first) {
			first = r.Date
		}
		if r.Date.After(lastDate) {
			lastDate = r.Date
		}
	}
	p("| date | %s to %s |\n\n", first.UTC().Format("2006-01-02 15:04"), lastDate.UTC().Format("15:04 MST"))
}
