package main

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/bench/internal/benchkit"
)

// bar is one ratio of a benchmark: berth ÷ its floor or anchor, from one
// row of one of its tables.
type bar struct {
	label  string
	ratio  float64
	higher bool // higher is better (a throughput); else lower (a latency)
}

// ratioCell matches a cell that is only a ratio, maybe bold, maybe with a
// difference after a comma: "1.23×", "**0.91×**", "1.05×, +50 ms".
var ratioCell = regexp.MustCompile(`^\**\s*([0-9]+(?:\.[0-9]+)?)×\s*\**(?:,.*)?$`)

// parseRatio reads a ratio cell; ok is false for anything else ("–", a
// ratio with words around it, which compares something other than berth
// with its floor).
func parseRatio(cell string) (float64, bool) {
	m := ratioCell.FindStringSubmatch(strings.TrimSpace(cell))
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return v, err == nil && v > 0
}

// isRatioColumn tells the columns that compare berth with its floor or
// anchor: "ratio p50", "ratio (berth/floor)", "vs floor p50", "p50 vs the 1 s target".
func isRatioColumn(name string) bool {
	n := strings.ToLower(name)
	return strings.Contains(n, "ratio") || strings.HasPrefix(n, "vs ") || strings.Contains(n, " vs ")
}

// bars collects every ratio of r's tables.
func bars(r benchkit.Result) []bar {
	var out []bar
	for _, t := range r.Tables {
		higher := false
		for _, c := range t.Columns {
			if strings.Contains(c, "ops/s") {
				higher = true
			}
		}
		var cols []int
		for i, c := range t.Columns {
			if i > 0 && isRatioColumn(c) {
				cols = append(cols, i)
			}
		}
		for _, row := range t.Rows {
			if len(row) == 0 {
				continue
			}
			for _, i := range cols {
				if i >= len(row) {
					continue
				}
				v, ok := parseRatio(row[i])
				if !ok {
					continue
				}
				label := plain(row[0])
				if len(cols) > 1 {
					label += " (" + plain(t.Columns[i]) + ")"
				}
				out = append(out, bar{label: label, ratio: v, higher: higher})
			}
		}
	}
	return out
}

// plain strips Markdown emphasis and code marks from a cell.
func plain(s string) string {
	s = strings.NewReplacer("**", "", "`", "", "\\|", "|").Replace(s)
	return strings.TrimSpace(s)
}

// truncate shortens s to n runes with an ellipsis.
func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// Chart geometry, in SVG user units (pixels).
const (
	chartWidth  = 820
	labelWidth  = 430
	barArea     = 300
	rowHeight   = 22
	chartTop    = 46
	chartBottom = 30
	labelRunes  = 70
)

// svgChart draws bs as horizontal bars against a line at 1× (parity with
// the floor, anchor or target); green where berth is better than the floor, red where it is
// worse. It is plain SVG 1.1, written by hand.
func svgChart(title string, bs []bar) []byte {
	maxV := 1.0
	for _, b := range bs {
		maxV = max(maxV, b.ratio)
	}
	maxV *= 1.15
	x := func(v float64) float64 { return labelWidth + v/maxV*barArea }
	height := chartTop + len(bs)*rowHeight + chartBottom

	var buf bytes.Buffer
	esc := func(s string) string {
		var e bytes.Buffer
		_ = xml.EscapeText(&e, []byte(s))
		return e.String()
	}
	p := func(format string, args ...any) { fmt.Fprintf(&buf, format, args...) }
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		chartWidth, height, chartWidth, height)
	p(`<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", chartWidth, height)
	p(`<text x="10" y="20" font-size="14" font-weight="bold">%s</text>`+"\n", esc(title))
	p(`<text x="10" y="36" fill="#555555">berth ÷ its floor, anchor or target, all from one run (latency: below 1× is better; throughput: above 1× is better)</text>` + "\n")
	for i, b := range bs {
		y := chartTop + i*rowHeight
		good := b.ratio < 1
		if b.higher {
			good = b.ratio > 1
		}
		color := "#c62828"
		if good {
			color = "#2e7d32"
		}
		if b.ratio == 1 {
			color = "#757575"
		}
		p(`<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", labelWidth-8, y+15, esc(truncate(b.label, labelRunes)))
		p(`<rect class="bar" x="%d" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", labelWidth, y+3, x(b.ratio)-labelWidth, rowHeight-6, color)
		p(`<text x="%.1f" y="%d">%s</text>`+"\n", x(b.ratio)+4, y+15, esc(strconv.FormatFloat(b.ratio, 'f', 2, 64)+"×"))
	}
	lx := x(1)
	p(`<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#212121" stroke-dasharray="4 3"/>`+"\n", lx, chartTop-2, lx, chartTop+len(bs)*rowHeight+2)
	p(`<text x="%.1f" y="%d" text-anchor="middle" fill="#212121">1×</text>`+"\n", lx, chartTop+len(bs)*rowHeight+18)
	p("</svg>\n")
	return buf.Bytes()
}
