package benchkit

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"
)

// Output is what every benchmark shares around its report: the -json and
// -busy-ok flags, the busy-machine check, and the JSON result built from
// the Markdown report it prints.
//
//	out := benchkit.Flags("api")  // before flag.Parse
//	flag.Parse()
//	out.Main(undone, run)         // instead of benchkit.Main; run prints to out.Stdout()
type Output struct {
	bench  string
	json   string
	busyOK bool
	busy   string // the busy note, once checked
	load1  float64
	start  time.Time
	report bytes.Buffer
	stdout io.Writer
}

// Flags registers -json and -busy-ok on the command line's flag set.
func Flags(bench string) *Output {
	o := &Output{bench: bench, stdout: os.Stdout}
	flag.StringVar(&o.json, "json", "", "also write the report's tables to this file as JSON (bench/results reads them)")
	flag.BoolVar(&o.busyOK, "busy-ok", false, "run even when the machine is busy (load average over the last minute above the core count); the report says so")
	return o
}

// BusyNote is "machine busy: load X on N cores" when the load average over
// the last minute is above the core count; "" otherwise.
func BusyNote(load1 float64, cores int) string {
	if load1 <= float64(cores) {
		return ""
	}
	return fmt.Sprintf("machine busy: load %.2f on %d cores", load1, cores)
}

// CheckBusy refuses to go on (exit status 2) on a busy machine unless
// -busy-ok was given; with it, the busy note goes in front of the report
// and into the JSON result.
func (o *Output) CheckBusy() {
	o.load1 = Load1()
	o.busy = BusyNote(o.load1, runtime.NumCPU())
	if o.busy == "" {
		return
	}
	if !o.busyOK {
		fmt.Fprintf(os.Stderr, "bench/%s: %s: other work would skew every number. Wait until `uptime` shows a "+
			"load below %d, or pass -busy-ok to run anyway (the report then says the machine was busy).\n",
			o.bench, o.busy, runtime.NumCPU())
		os.Exit(2)
	}
	Progress("%s; running anyway (-busy-ok), the report says so", o.busy)
}

// Stdout is where the benchmark prints its Markdown report: standard
// output, and a copy that becomes the JSON result. A busy machine's note
// comes first.
func (o *Output) Stdout() io.Writer {
	w := io.MultiWriter(o.stdout, &o.report)
	if o.busy != "" && o.report.Len() == 0 {
		fmt.Fprintf(w, "> **%s** — the numbers below were measured alongside other work.\n\n", o.busy)
	}
	return w
}

// Main checks the machine, then runs the benchmark as benchkit.Main does;
// when it succeeded and -json was given, it writes the report's tables as
// JSON. bin is read from the -bin flag when the benchmark has one.
func (o *Output) Main(undone string, run func(ctx context.Context) error) {
	o.CheckBusy()
	o.start = time.Now()
	Main(o.bench, undone, func(ctx context.Context) error {
		if err := run(ctx); err != nil {
			return err
		}
		return o.writeJSON()
	})
}

// Result is the report printed so far as a Result.
func (o *Output) Result() Result {
	bin := ""
	if f := flag.Lookup("bin"); f != nil {
		bin = f.Value.String()
	}
	title, notes, tables := ParseMarkdown(o.report.String())
	if o.start.IsZero() {
		o.start = time.Now()
	}
	h := DescribeHost(bin)
	if o.load1 > 0 {
		h.Load1 = o.load1 // at the start, as the busy check saw it
	}
	return Result{Bench: o.bench, Title: title, Date: o.start, Host: h, Busy: o.busy,
		Notes: dropBusy(notes), Tables: tables}
}

func (o *Output) writeJSON() error {
	if o.json == "" {
		return nil
	}
	return o.Result().WriteJSON(o.json)
}

// dropBusy removes the busy note the Output printed itself: the Result
// has it in Busy.
func dropBusy(notes []string) []string {
	if len(notes) > 0 && strings.HasPrefix(notes[0], "> **machine busy") {
		notes = notes[1:]
		for len(notes) > 0 && notes[0] == "" {
			notes = notes[1:]
		}
	}
	return notes
}
