package benchkit

import (
	"bytes"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

const sampleReport = `> **machine busy: load 3.10 on 2 cores** — the numbers below were measured alongside other work.

## berth API vs the etcd floor

- date: today
- workload: 10 pods

| operation | berth p50 | ratio p50 |
|---|---|---|
| create pod | 3.29 ms | 1.2× |
| get a\|b | 0.96 ms | – |

One list: 10 pods.
Same paragraph.

Another paragraph.

| throughput | berth ops/s |
|---|---|
| get | 1892 |

### Floor configuration check

They match.
`

func TestParseMarkdown(t *testing.T) {
	title, notes, tables := ParseMarkdown(sampleReport)
	if title != "berth API vs the etcd floor" {
		t.Errorf("title = %q", title)
	}
	wantNotes := []string{"> **machine busy: load 3.10 on 2 cores** — the numbers below were measured alongside other work.",
		"", "- date: today", "- workload: 10 pods"}
	if !reflect.DeepEqual(notes, wantNotes) {
		t.Errorf("notes = %q, want %q", notes, wantNotes)
	}
	if len(tables) != 3 {
		t.Fatalf("%d tables, want 3: %+v", len(tables), tables)
	}
	want0 := Table{Title: "berth API vs the etcd floor", Columns: []string{"operation", "berth p50", "ratio p50"},
		Rows: [][]string{{"create pod", "3.29 ms", "1.2×"}, {"get a|b", "0.96 ms", "–"}}, Notes: []string{"One list: 10 pods.", "Same paragraph.", "", "Another paragraph."}}
	if !reflect.DeepEqual(tables[0], want0) {
		t.Errorf("table 0 = %+v, want %+v", tables[0], want0)
	}
	if got := tables[1].Rows; !reflect.DeepEqual(got, [][]string{{"get", "1892"}}) {
		t.Errorf("table 1 rows = %q", got)
	}
	if tables[2].Title != "Floor configuration check" || len(tables[2].Columns) != 0 || !reflect.DeepEqual(tables[2].Notes, []string{"They match."}) {
		t.Errorf("notes-only section = %+v", tables[2])
	}
	if got := dropBusy(notes); !reflect.DeepEqual(got, wantNotes[2:]) {
		t.Errorf("dropBusy left %q", got)
	}
}

func TestTableMarkdownRoundTrip(t *testing.T) {
	tb := Table{Title: "x", Columns: []string{"a", "b"}, Rows: [][]string{{"1", "p|q"}, {"2"}}, Notes: []string{"note"}}
	var b bytes.Buffer
	tb.WriteMarkdown(&b)
	want := "| a | b |\n|---|---|\n| 1 | p\\|q |\n| 2 |  |\n\nnote\n"
	if b.String() != want {
		t.Fatalf("markdown:\n%s\nwant:\n%s", b.String(), want)
	}
	_, _, tables := ParseMarkdown("# x\n\n" + b.String())
	if len(tables) != 1 || !reflect.DeepEqual(tables[0].Rows[0], []string{"1", "p|q"}) || tables[0].Notes[0] != "note" {
		t.Errorf("round trip = %+v", tables)
	}
}

func TestResultJSON(t *testing.T) {
	r := Result{Bench: "api", Title: "t", Date: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Busy: "machine busy: load 3.00 on 2 cores",
		Host: Host{Cores: 2, Containerd: "1.6.20"}, Tables: []Table{{Title: "t", Columns: []string{"a"}, Rows: [][]string{{"1"}}}}}
	name := filepath.Join(t.TempDir(), "api.json")
	if err := r.WriteJSON(name); err != nil {
		t.Fatal(err)
	}
	got, err := ReadResult(name)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, r) {
		t.Errorf("read back %+v, want %+v", got, r)
	}
}

func TestBusyNote(t *testing.T) {
	for _, c := range []struct {
		load  float64
		cores int
		want  string
	}{
		{1.5, 2, ""},
		{2, 2, ""},
		{3.694, 2, "machine busy: load 3.69 on 2 cores"},
		{33, 8, "machine busy: load 33.00 on 8 cores"},
	} {
		if got := BusyNote(c.load, c.cores); got != c.want {
			t.Errorf("BusyNote(%v, %d) = %q, want %q", c.load, c.cores, got, c.want)
		}
	}
}

func TestVersionWord(t *testing.T) {
	for line, want := range map[string]string{
		"containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3": "1.6.20~ds1",
		"containerd containerd.io v1.7.24 88bf19b2":                                   "1.7.24",
		"runc version 1.1.5+ds1":                                                      "1.1.5+ds1",
		"crun version 1.8.1":                                                          "1.8.1",
		"something odd":                                                               "something odd",
	} {
		if got := versionWord(line); got != want {
			t.Errorf("versionWord(%q) = %q, want %q", line, got, want)
		}
	}
}
