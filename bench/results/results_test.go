package main

import (
	"bytes"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/bench/internal/benchkit"
)

func TestParseRatio(t *testing.T) {
	for cell, want := range map[string]float64{
		"1.23×":         1.23,
		"**0.91×**":     0.91,
		"1.05×, +50 ms": 1.05,
		"2×":            2,
		"–":             0,
		"1.10× of berth's 30 at once (target ≤ 1.3)": 0,
		"met (1.2×)": 0,
		"12 ms":      0,
	} {
		got, ok := parseRatio(cell)
		if ok != (want > 0) || got != want {
			t.Errorf("parseRatio(%q) = %v, %v; want %v", cell, got, ok, want)
		}
	}
}

// result is a small result with a latency table (two ratio columns), a
// throughput table and a table without ratios.
func result() benchkit.Result {
	return benchkit.Result{
		Bench: "api", Title: "berth API vs the etcd floor", Date: time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC),
		Busy:  "machine busy: load 3.10 on 2 cores",
		Host:  benchkit.Host{CPUModel: "AMD EPYC", Cores: 2, MemoryBytes: 4 << 30, Kernel: "6.1", GoVersion: "go1.26", Containerd: "1.6.20", Runc: "1.1.5", Berth: "abc123", Load1: 3.1},
		Notes: []string{"- workload: 10 pods"},
		Tables: []benchkit.Table{
			{Title: "berth API vs the etcd floor", Columns: []string{"operation", "berth p50", "ratio p50", "ratio p99"},
				Rows: [][]string{{"**create pod** <x>", "3 ms", "1.50×", "0.80×"}, {"get pod", "1 ms", "–", "1.00×"}}},
			{Title: "berth API vs the etcd floor", Columns: []string{"throughput", "berth ops/s", "ratio (berth/floor)"},
				Rows: [][]string{{"get", "1892", "0.60×"}}, Notes: []string{"Target: met."}},
			{Title: "Memory", Columns: []string{"process", "RSS"}, Rows: [][]string{{"berth", "80 MiB"}}},
		},
	}
}

func TestBars(t *testing.T) {
	bs := bars(result())
	want := []bar{
		{label: "create pod <x> (ratio p50)", ratio: 1.5},
		{label: "create pod <x> (ratio p99)", ratio: 0.8},
		{label: "get pod (ratio p99)", ratio: 1},
		{label: "get", ratio: 0.6, higher: true},
	}
	if len(bs) != len(want) {
		t.Fatalf("bars = %+v, want %+v", bs, want)
	}
	for i := range want {
		if bs[i] != want[i] {
			t.Errorf("bar %d = %+v, want %+v", i, bs[i], want[i])
		}
	}
}

func TestSVGChart(t *testing.T) {
	svg := svgChart("berth <API> & co", bars(result()))
	// Well-formed XML, one bar per ratio, labels escaped, colours by
	// which side is better.
	dec := xml.NewDecoder(bytes.NewReader(svg))
	var rects, texts int
	var labels []string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, svg)
		}
		if se, ok := tok.(xml.StartElement); ok {
			switch se.Name.Local {
			case "rect":
				for _, a := range se.Attr {
					if a.Name.Local == "class" && a.Value == "bar" {
						rects++
					}
				}
			case "text":
				texts++
				var s string
				if err := dec.DecodeElement(&s, &se); err != nil {
					t.Fatal(err)
				}
				labels = append(labels, s)
			}
		}
	}
	if rects != 4 {
		t.Errorf("%d bars, want 4", rects)
	}
	joined := strings.Join(labels, "\n")
	for _, want := range []string{"berth <API> & co", "create pod <x> (ratio p50)", "1.50×", "0.60×", "1×"} {
		if !strings.Contains(joined, want) {
			t.Errorf("chart text lacks %q:\n%s", want, joined)
		}
	}
	s := string(svg)
	// 1.50× latency: worse (red); 0.80× latency: better (green); 0.60×
	// throughput: worse (red); 1.00×: grey.
	if strings.Count(s, `fill="#c62828"`) != 2 || strings.Count(s, `fill="#2e7d32"`) != 1 || strings.Count(s, `fill="#757575"`) != 1 {
		t.Errorf("bar colours wrong:\n%s", s)
	}
	if !strings.HasPrefix(s, `<svg xmlns="http://www.w3.org/2000/svg"`) {
		t.Errorf("not an SVG document: %.80s", s)
	}
}

func TestMarkdown(t *testing.T) {
	other := result()
	other.Bench, other.Title, other.Busy = "dns", "berth cluster DNS vs the miekg/dns floor", ""
	other.Tables = other.Tables[2:]
	rs := []benchkit.Result{other, result()}
	sortResults(rs)
	if rs[0].Bench != "api" {
		t.Fatalf("order: %s first, want api", rs[0].Bench)
	}
	var b bytes.Buffer
	writeMarkdown(&b, rs, map[string]string{"api": "results/api.svg"})
	md := b.String()
	for _, want := range []string{
		"# berth benchmark results\n",
		"> **The machine was busy**",
		"> - `api`: machine busy: load 3.10 on 2 cores\n",
		"| CPU | AMD EPYC, 2 cores |\n",
		"| containerd | 1.6.20 |\n",
		"| crun | not installed |\n",
		"| berth commit | abc123 |\n",
		"- [`api`](#api-berth-api-vs-the-etcd-floor): berth API vs the etcd floor\n",
		"- [`dns`](#dns-berth-cluster-dns-vs-the-miekgdns-floor)",
		"## api: berth API vs the etcd floor\n",
		"— **machine busy: load 3.10 on 2 cores**",
		"![api: berth ÷ floor](results/api.svg)\n",
		"| operation | berth p50 | ratio p50 | ratio p99 |\n|---|---|---|---|\n| **create pod** <x> | 3 ms | 1.50× | 0.80× |\n",
		"| get | 1892 | 0.60× |\n\nTarget: met.\n",
		"### Memory\n\n| process | RSS |\n",
		"## dns: berth cluster DNS vs the miekg/dns floor\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("RESULTS.md lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "![dns") {
		t.Error("dns has no chart but got a link")
	}
	if strings.Index(md, "## api:") > strings.Index(md, "## dns:") {
		t.Error("api should come before dns")
	}
}

func TestRun(t *testing.T) {
	dir := t.TempDir()
	if err := result().WriteJSON(filepath.Join(dir, "api.json")); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(filepath.Dir(dir), filepath.Base(dir)+"-RESULTS.md")
	t.Cleanup(func() { os.Remove(out) })
	if err := run(dir, out); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "]("+filepath.Base(dir)+"/api.svg)") {
		t.Errorf("chart link not relative to RESULTS.md:\n%s", md)
	}
	if _, err := os.Stat(filepath.Join(dir, "api.svg")); err != nil {
		t.Error(err)
	}
	if err := run(t.TempDir(), out); err == nil || !strings.Contains(err.Error(), "make bench") {
		t.Errorf("empty dir: err = %v, want one that says to run make bench", err)
	}
}
