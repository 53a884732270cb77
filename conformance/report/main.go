// Command report turns the Ginkgo JSON report of a conformance run into
// docs/CONFORMANCE.md: counts per area, and every failure with the first
// line of its error. Failures that a known cause of this machine explains
// (conformance/environment.txt) are listed apart, with the evidence.
// It also prints the table to stdout.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2/types"
)

func main() {
	var o options
	flag.StringVar(&o.report, "report", "", "Ginkgo JSON report (--ginkgo.json-report)")
	flag.StringVar(&o.env, "environment", "", "known environment failures: lines of `spec-regexp<TAB>failure-regexp<TAB>cause`")
	flag.StringVar(&o.out, "out", "docs/CONFORMANCE.md", "markdown file to write")
	flag.StringVar(&o.focus, "focus", "", "the focus the suite ran with")
	flag.StringVar(&o.skip, "skip", "", "the skip the suite ran with")
	flag.BoolVar(&o.partial, "partial", false, "the focus is narrower than the default node areas")
	flag.StringVar(&o.version, "version", "", "the suite's version")
	flag.StringVar(&o.suiteBuild, "suite-build", "", "how long building the suite took (or `cached`)")
	flag.StringVar(&o.imagesBuild, "images-build", "", "how long building and pushing the images took")
	flag.StringVar(&o.intro, "intro", "", "markdown file put before the results")
	flag.Parse()
	if err := run(o, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "report: %v\n", err)
		os.Exit(1)
	}
}

type options struct {
	report, env, out, focus, skip, version, suiteBuild, imagesBuild, intro string
	partial                                                                bool
}

// envCause is one known cause of this machine: a failure is put down to
// it when both the spec's full text and the failure's first line match
// (the same test can also fail for a reason of berth's).
type envCause struct {
	name, msg *regexp.Regexp
	cause     string
}

func readEnvironment(path string) ([]envCause, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []envCause
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.SplitN(line, "\t", 3)
		if len(f) != 3 {
			return nil, fmt.Errorf("%s:%d: want `spec-regexp<TAB>failure-regexp<TAB>cause`", path, n)
		}
		name, err := regexp.Compile(f[0])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		msg, err := regexp.Compile(f[1])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		out = append(out, envCause{name, msg, strings.TrimSpace(f[2])})
	}
	return out, sc.Err()
}

type counts struct{ passed, failed, envFailed, skipped int }

type failure struct {
	area, name, first, cause string
}

// firstLine is the failure's first line, with the lines after it while it
// says too little on its own (Gomega starts with a bare "Expected").
func firstLine(s string) string {
	var out []string
	n := 0
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l == "" {
			continue
		}
		out = append(out, l)
		if n += len(l); n >= 40 || len(out) == 4 {
			break
		}
	}
	if len(out) == 0 {
		return "(no message)"
	}
	line := strings.Join(out, " ")
	if len(line) > 300 {
		line = line[:300] + "…"
	}
	return strings.ReplaceAll(line, "|", `\|`)
}

// where says in which node and after which step a spec failed, which
// tells apart failures with the same message (such as a timeout).
func where(s types.SpecReport) string {
	step := ""
	for _, e := range s.SpecEvents {
		if e.SpecEventType == types.SpecEventByStart && e.TimelineLocation.Order < s.Failure.TimelineLocation.Order {
			step = e.Message
		}
	}
	var parts []string
	if s.Failure.FailureNodeType != types.NodeTypeIt && s.Failure.FailureNodeType != types.NodeTypeInvalid {
		parts = append(parts, "in "+s.Failure.FailureNodeType.String())
	}
	if step != "" {
		parts = append(parts, "last step: "+strings.ReplaceAll(step, "|", `\|`))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func run(o options, stdout io.Writer) error {
	b, err := os.ReadFile(o.report)
	if err != nil {
		return err
	}
	var reports []types.Report
	if err := json.Unmarshal(b, &reports); err != nil {
		return fmt.Errorf("parsing %s: %w", o.report, err)
	}
	env, err := readEnvironment(o.env)
	if err != nil {
		return err
	}
	per := map[string]*counts{}
	var fails []failure
	var total counts
	var runTime time.Duration
	var started time.Time
	for _, r := range reports {
		runTime += r.RunTime
		if started.IsZero() || r.StartTime.Before(started) {
			started = r.StartTime
		}
		for _, s := range r.SpecReports {
			if s.LeafNodeType != types.NodeTypeIt {
				continue
			}
			// Specs outside the focus are reported as skipped without
			// having run; they are not part of the selection.
			if s.State == types.SpecStateSkipped && s.Failure.Message == "" {
				continue
			}
			if s.State == types.SpecStatePending {
				continue
			}
			area := "(top level)"
			if len(s.ContainerHierarchyTexts) > 0 {
				area = s.ContainerHierarchyTexts[0]
			}
			c := per[area]
			if c == nil {
				c = &counts{}
				per[area] = c
			}
			full := s.FullText()
			switch {
			case s.State == types.SpecStatePassed:
				c.passed++
				total.passed++
			case s.State == types.SpecStateSkipped:
				c.skipped++
				total.skipped++
			default:
				f := failure{area: area, name: full, first: firstLine(s.Failure.Message) + where(s)}
				for _, e := range env {
					if e.name.MatchString(full) && e.msg.MatchString(f.first) {
						f.cause = e.cause
						break
					}
				}
				if f.cause != "" {
					c.envFailed++
					total.envFailed++
				} else {
					c.failed++
					total.failed++
				}
				fails = append(fails, f)
			}
		}
	}
	areas := make([]string, 0, len(per))
	for a := range per {
		areas = append(areas, a)
	}
	sort.Strings(areas)

	var table strings.Builder
	fmt.Fprintf(&table, "| Area | Ran | Passed | Failed (berth) | Failed (environment) | Skipped at run time |\n|---|---:|---:|---:|---:|---:|\n")
	for _, a := range areas {
		c := per[a]
		fmt.Fprintf(&table, "| %s | %d | %d | %d | %d | %d |\n", a, c.passed+c.failed+c.envFailed, c.passed, c.failed, c.envFailed, c.skipped)
	}
	fmt.Fprintf(&table, "| **Total** | **%d** | **%d** | **%d** | **%d** | **%d** |\n",
		total.passed+total.failed+total.envFailed, total.passed, total.failed, total.envFailed, total.skipped)
	fmt.Fprint(stdout, table.String())

	date := started.UTC().Format("2006-01-02")
	if o.partial {
		// A focused rerun after a full run keeps the full run's results
		// and adds its own in the section for reruns.
		if old, err := os.ReadFile(o.out); err == nil && strings.Contains(string(old), fullRunHeading) {
			doc := strings.TrimRight(string(old), "\n") + "\n"
			if !strings.Contains(doc, rerunsHeading) {
				doc += "\n" + rerunsHeading + "\n\n" + rerunsIntro + "\n"
			}
			var sec strings.Builder
			fmt.Fprintf(&sec, "\n### Focused rerun of %s\n\n", date)
			writeResults(&sec, o, "####", runTime, table.String(), total, fails)
			return os.WriteFile(o.out, []byte(doc+sec.String()), 0o644)
		}
	}
	var md strings.Builder
	if o.intro != "" {
		intro, err := os.ReadFile(o.intro)
		if err != nil {
			return err
		}
		md.Write(intro)
		md.WriteString("\n")
	}
	if o.partial {
		fmt.Fprintf(&md, "## Results: PARTIAL run of %s\n\n", date)
		fmt.Fprintf(&md, "**This is a partial run**: only the areas matching the focus below ran, not the whole node selection. The figures say nothing about the other areas.\n\n")
	} else {
		fmt.Fprintf(&md, "%s%s\n\n", fullRunHeading, date)
	}
	writeResults(&md, o, "###", runTime, table.String(), total, fails)
	return os.WriteFile(o.out, []byte(md.String()), 0o644)
}

const (
	fullRunHeading = "## Results: run of "
	rerunsHeading  = "## Focused reruns after the full run"
	rerunsIntro    = "Each focused rerun (`make conformance FOCUS=...`) after the full run above adds its results here; the table above stays the full run's. A rerun tests the berth of its own commit, so a test listed above as failing and passing here was fixed after the full run."
)

// writeResults writes a run's facts, table and failures; level is the
// heading level of the failure lists.
func writeResults(md *strings.Builder, o options, level string, runTime time.Duration, table string, total counts, fails []failure) {
	fmt.Fprintf(md, "- Suite: `k8s.io/kubernetes/test/e2e` %s, against a fresh `berth server` on this machine\n", o.version)
	fmt.Fprintf(md, "- Focus: `%s`\n- Skip: `%s`\n", o.focus, o.skip)
	fmt.Fprintf(md, "- Suite run time: %v\n", runTime.Round(time.Second))
	if o.suiteBuild != "" {
		fmt.Fprintf(md, "- Building the suite: %s\n", o.suiteBuild)
	}
	if o.imagesBuild != "" {
		fmt.Fprintf(md, "- Building and pushing the test images: %s\n", o.imagesBuild)
	}
	fmt.Fprintf(md, "\n%s\n", table)

	fmt.Fprintf(md, "%s Failures of berth (%d)\n\n", level, total.failed)
	n := 0
	for _, f := range fails {
		if f.cause == "" {
			n++
			fmt.Fprintf(md, "%d. `%s`  \n   %s\n", n, f.name, f.first)
		}
	}
	if n == 0 {
		md.WriteString("None.\n")
	}
	fmt.Fprintf(md, "\n%s Failures caused by this environment (%d)\n\n", level, total.envFailed)
	n = 0
	for _, f := range fails {
		if f.cause != "" {
			n++
			fmt.Fprintf(md, "%d. `%s`  \n   %s  \n   Cause: %s\n", n, f.name, f.first, f.cause)
		}
	}
	if n == 0 {
		md.WriteString("None.\n")
	}
}
