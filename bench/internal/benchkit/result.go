package benchkit

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Table is one table of a benchmark's report.
type Table struct {
	Title   string     `json:"title"`
	Columns []string   `json:"columns"`
	Rows    [][]string `json:"rows"`
	// Notes are the sentences printed under the table (targets, verdicts).
	Notes []string `json:"notes,omitempty"`
}

// Result is what a benchmark writes with -json FILE: where it ran, and
// every table of its report. bench/results turns a set of them into
// bench/RESULTS.md.
type Result struct {
	Bench string    `json:"bench"` // "api", "podstart", …
	Title string    `json:"title"` // the report's first heading
	Date  time.Time `json:"date"`
	Host  Host      `json:"host"`
	// Busy is "machine busy: load X on N cores" when the run was allowed
	// on a busy machine with -busy-ok; empty on a quiet one.
	Busy   string   `json:"busy,omitempty"`
	Notes  []string `json:"notes,omitempty"` // what the report says before its first table
	Tables []Table  `json:"tables"`
}

// WriteJSON writes r, indented, to the file name.
func (r Result) WriteJSON(name string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(name, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing the -json file: %w", err)
	}
	return nil
}

// ReadResult reads a file written by WriteJSON.
func ReadResult(name string) (Result, error) {
	var r Result
	b, err := os.ReadFile(name)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("%s: not a benchmark result: %w", name, err)
	}
	return r, nil
}

// WriteMarkdown prints t as a Markdown table, its notes after it.
func (t Table) WriteMarkdown(w io.Writer) {
	cell := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	var b strings.Builder
	b.WriteString("|")
	for _, c := range t.Columns {
		b.WriteString(" " + cell(c) + " |")
	}
	b.WriteString("\n|")
	for range t.Columns {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, r := range t.Rows {
		b.WriteString("|")
		for i := range t.Columns {
			v := ""
			if i < len(r) {
				v = r[i]
			}
			b.WriteString(" " + cell(v) + " |")
		}
		b.WriteString("\n")
	}
	if len(t.Columns) == 0 {
		b.Reset() // a section of notes only
	}
	if len(t.Notes) > 0 {
		if len(t.Columns) > 0 {
			b.WriteString("\n")
		}
		for _, n := range t.Notes {
			b.WriteString(n + "\n")
		}
	}
	_, _ = io.WriteString(w, b.String())
}

// ParseMarkdown reads a report printed as Markdown back into tables: each
// table is titled by the heading above it, and the lines between one table
// and the next heading or table are its notes; what comes before the first
// table is returned as notes. It lets the existing reports feed -json
// without being rewritten.
func ParseMarkdown(md string) (title string, notes []string, tables []Table) {
	lines := strings.Split(md, "\n")
	heading := ""
	var cur *Table
	for i := 0; i < len(lines); i++ {
		line := strings.TrimRight(lines[i], " \t\r")
		switch {
		case strings.HasPrefix(line, "#"):
			heading = strings.TrimSpace(strings.TrimLeft(line, "#"))
			if title == "" {
				title = heading
			}
			cur = nil
		case strings.HasPrefix(line, "|") && i+1 < len(lines) && isSeparator(lines[i+1]):
			tables = append(tables, Table{Title: heading, Columns: splitRow(line)})
			cur = &tables[len(tables)-1]
			i++ // the separator
			for i+1 < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i+1]), "|") {
				i++
				cur.Rows = append(cur.Rows, splitRow(strings.TrimSpace(lines[i])))
			}
		case strings.TrimSpace(line) == "":
			// A paragraph break: kept (as ""), so that sentences of
			// separate paragraphs are not run together.
			switch {
			case cur != nil && len(cur.Notes) > 0 && cur.Notes[len(cur.Notes)-1] != "":
				cur.Notes = append(cur.Notes, "")
			case cur == nil && len(tables) == 0 && len(notes) > 0 && notes[len(notes)-1] != "":
				notes = append(notes, "")
			}
		case cur != nil:
			cur.Notes = append(cur.Notes, line)
		case len(tables) == 0:
			notes = append(notes, line)
		default:
			// Text under a heading of its own, with no table (yet): a
			// section of notes only.
			tables = append(tables, Table{Title: heading, Notes: []string{line}})
			cur = &tables[len(tables)-1]
		}
	}
	for i := range tables {
		tables[i].Notes = trimBlank(tables[i].Notes)
	}
	return title, trimBlank(notes), tables
}

// trimBlank drops the paragraph breaks at the end of notes.
func trimBlank(notes []string) []string {
	for len(notes) > 0 && notes[len(notes)-1] == "" {
		notes = notes[:len(notes)-1]
	}
	return notes
}

func isSeparator(line string) bool {
	s := strings.TrimSpace(line)
	if !strings.HasPrefix(s, "|") {
		return false
	}
	return strings.Trim(s, "|-: ") == ""
}

// splitRow splits "| a | b \| c |" into its cells.
func splitRow(line string) []string {
	s := strings.TrimSpace(line)
	s = strings.TrimPrefix(s, "|")
	s = strings.TrimSuffix(s, "|")
	var cells []string
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s) && s[i+1] == '|':
			b.WriteByte('|')
			i++
		case s[i] == '|':
			cells = append(cells, strings.TrimSpace(b.String()))
			b.Reset()
		default:
			b.WriteByte(s[i])
		}
	}
	return append(cells, strings.TrimSpace(b.String()))
}
