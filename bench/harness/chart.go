//go:build linux

package harness

import (
	"encoding/xml"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// The chart is written by hand rather than with a plotting library: it is one
// log-log line chart, and a library would bring its fonts and back ends into
// the main module for it.

// Size of the chart: 8 × 5.5 inches at 72 points to the inch.
const chartW, chartH = 576.0, 396.0

// chartFont is a stack that every viewer can resolve; text widths below are
// estimated for it, as an SVG writer cannot measure text.
const (
	chartFont  = "DejaVu Sans, Verdana, Arial, Helvetica, sans-serif"
	fontSize   = 11.0
	charWidth  = 0.62 * fontSize // a little over the average advance, so boxes fit
	titleSize  = 13.0
	legendStep = 15.0
)

// chartPalette is Tableau 10 without its yellow and grey, which read poorly
// on white; the lines are told apart by their markers as well.
var chartPalette = []string{
	"#4e79a7", "#f28e2b", "#e15759", "#59a14f",
	"#b07aa1", "#9c755f", "#76b7b2", "#ff9da7",
}

// chartSeries is one tool's line.
type chartSeries struct {
	name  string // as shown in the legend
	floor bool
	pts   [][2]float64 // sockets, median CPU ms
}

// WriteChart draws the median CPU time of one scan against the number of
// sockets on the host, log-log, one line per tool (reference tools aside),
// and saves it to path as SVG.
func WriteChart(path string, scans []ScanResult) error {
	// Writing SVG under another extension would only make a broken image.
	if ext := filepath.Ext(path); !strings.EqualFold(ext, ".svg") {
		return fmt.Errorf("chart %s: only .svg is supported", path)
	}
	series, err := chartData(scans)
	if err != nil {
		return err
	}
	return os.WriteFile(path, []byte(renderChart(series)), 0o644)
}

// chartData picks the points to draw: the tools are matched across sizes by
// their position, as MeasureScans keeps the order of the tool set.
func chartData(scans []ScanResult) ([]chartSeries, error) {
	if len(scans) == 0 {
		return nil, fmt.Errorf("no scan results to draw")
	}
	var out []chartSeries
	for ti, t := range scans[0].Tools {
		if t.Tool.Reference {
			continue
		}
		sr := chartSeries{name: t.Tool.Name, floor: t.Tool.Floor}
		if sr.floor {
			sr.name += " (floor)"
		}
		for _, s := range scans {
			// A log axis cannot show a table of no sockets either.
			if ti >= len(s.Tools) || s.Tools[ti].Err != "" || len(s.Tools[ti].CPU) == 0 || s.Sockets <= 0 {
				continue
			}
			// A log axis cannot show 0: a scan below the clock's
			// resolution is drawn at 1 µs.
			y := math.Max(s.Tools[ti].MedianCPU(), 0.001)
			sr.pts = append(sr.pts, [2]float64{float64(s.Sockets), y})
		}
		if len(sr.pts) > 0 {
			out = append(out, sr)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no tool has a result to draw")
	}
	return out, nil
}

// logAxis maps values to pixels on a log scale: min to from, max to to.
type logAxis struct{ min, max, from, to float64 }

func (a logAxis) pos(v float64) float64 {
	lo, hi := math.Log10(a.min), math.Log10(a.max)
	return a.from + (math.Log10(v)-lo)/(hi-lo)*(a.to-a.from)
}

// decades returns the exponents k of the powers of ten within the axis, and
// the multiples 2–9 of them for the minor ticks.
func (a logAxis) decades() (major []int, minor []float64) {
	const eps = 1e-9 // so that an end that is a power of ten keeps its tick
	lo, hi := math.Log10(a.min), math.Log10(a.max)
	for k := int(math.Floor(lo)); k <= int(math.Ceil(hi)); k++ {
		if float64(k) >= lo-eps && float64(k) <= hi+eps {
			major = append(major, k)
		}
		for m := 2.0; m <= 9; m++ {
			if l := math.Log10(m) + float64(k); l >= lo-eps && l <= hi+eps {
				minor = append(minor, m*math.Pow(10, float64(k)))
			}
		}
	}
	return major, minor
}

// decadeLabel writes 10^k in full ("1000", "0.01"): the axes are read by
// people comparing milliseconds, not exponents.
func decadeLabel(k int) string {
	if k >= 0 {
		return "1" + strings.Repeat("0", k)
	}
	return "0." + strings.Repeat("0", -k-1) + "1"
}

func renderChart(series []chartSeries) string {
	lo, hi := math.Inf(1), math.Inf(-1)
	left, right := math.Inf(1), math.Inf(-1)
	for _, sr := range series {
		for _, p := range sr.pts {
			left, right = math.Min(left, p[0]), math.Max(right, p[0])
			lo, hi = math.Min(lo, p[1]), math.Max(hi, p[1])
		}
	}
	// A labelled tick at the left edge; a little room on the right so the
	// last markers are not cut by the frame.
	xMin := math.Pow(10, math.Floor(math.Log10(left)))
	xMax := math.Max(right, xMin*10)
	xMax *= math.Pow(xMax/xMin, 0.02)
	// Leave the top third of the plot to the legend: the data spans the
	// lower two thirds of the (log) height.
	span := math.Max(math.Log10(hi/lo), 1)
	yMin, yMax := lo/1.5, lo*math.Pow(10, span*1.5)

	y := logAxis{min: yMin, max: yMax}
	yMajor, yMinor := y.decades()
	widest := 0
	for _, k := range yMajor {
		widest = max(widest, len(decadeLabel(k)))
	}
	// The left margin holds the rotated axis label and the widest tick label.
	plotL := 10 + fontSize + 8 + float64(widest)*charWidth + 8
	plotR, plotT, plotB := chartW-24, 30.0, chartH-46
	x := logAxis{min: xMin, max: xMax, from: plotL, to: plotR}
	y.from, y.to = plotB, plotT
	xMajor, xMinor := x.decades()

	var b strings.Builder
	pr := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	pr(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	// Points, not pixels: the chart keeps its 8 × 5.5 inch size in viewers.
	pr(`<svg xmlns="http://www.w3.org/2000/svg" width="%gpt" height="%gpt" viewBox="0 0 %g %g" font-family="%s" font-size="%g">`+"\n",
		chartW, chartH, chartW, chartH, esc(chartFont), fontSize)
	pr(`<rect width="%g" height="%g" fill="#ffffff"/>`+"\n", chartW, chartH)

	// Grid: faint at the multiples, light at the decades.
	pr(`<g stroke-width="1" fill="none">` + "\n")
	for _, v := range xMinor {
		pr(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#f0f0f0"/>`+"\n", x.pos(v), plotT, x.pos(v), plotB)
	}
	for _, v := range yMinor {
		pr(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#f0f0f0"/>`+"\n", plotL, y.pos(v), plotR, y.pos(v))
	}
	for _, k := range xMajor {
		px := x.pos(math.Pow(10, float64(k)))
		pr(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#d0d0d0"/>`+"\n", px, plotT, px, plotB)
	}
	for _, k := range yMajor {
		py := y.pos(math.Pow(10, float64(k)))
		pr(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#d0d0d0"/>`+"\n", plotL, py, plotR, py)
	}
	pr("</g>\n")

	// The lines, each with its tool's name as a tooltip.
	for i, sr := range series {
		colour := chartPalette[i%len(chartPalette)]
		var pts strings.Builder
		for j, p := range sr.pts {
			if j > 0 {
				pts.WriteByte(' ')
			}
			fmt.Fprintf(&pts, "%.1f,%.1f", x.pos(p[0]), y.pos(p[1]))
		}
		pr(`<polyline points="%s" fill="none" stroke="%s" stroke-width="1.5" stroke-linejoin="round"%s><title>%s</title></polyline>`+"\n",
			pts.String(), colour, dashes(sr.floor), esc(sr.name))
		for _, p := range sr.pts {
			b.WriteString(marker(i, x.pos(p[0]), y.pos(p[1])))
		}
	}

	// Legend, top left, over a white box so the grid does not run through
	// the names.
	longest := 0
	for _, sr := range series {
		longest = max(longest, len([]rune(sr.name)))
	}
	lx, ly := plotL+8, plotT+6
	pr(`<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="#ffffff" fill-opacity="0.9" stroke="#cccccc"/>`+"\n",
		lx, ly, 42+float64(longest)*charWidth, 6+legendStep*float64(len(series)))
	for i, sr := range series {
		colour := chartPalette[i%len(chartPalette)]
		cy := ly + 3 + legendStep*(float64(i)+0.5)
		pr(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1.5"%s/>`+"\n",
			lx+6, cy, lx+30, cy, colour, dashes(sr.floor))
		b.WriteString(marker(i, lx+18, cy))
		pr(`<text x="%.1f" y="%.1f">%s</text>`+"\n", lx+36, cy+fontSize*0.35, esc(sr.name))
	}

	// Axes, ticks and their labels.
	pr(`<g stroke="#333333" stroke-width="1">` + "\n")
	pr(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`+"\n", plotL, plotB, plotR, plotB)
	pr(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`+"\n", plotL, plotB, plotL, plotT)
	for _, v := range xMinor {
		pr(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`+"\n", x.pos(v), plotB, x.pos(v), plotB+3)
	}
	for _, k := range xMajor {
		px := x.pos(math.Pow(10, float64(k)))
		pr(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`+"\n", px, plotB, px, plotB+6)
	}
	for _, v := range yMinor {
		pr(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`+"\n", plotL-3, y.pos(v), plotL, y.pos(v))
	}
	for _, k := range yMajor {
		py := y.pos(math.Pow(10, float64(k)))
		pr(`<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`+"\n", plotL-6, py, plotL, py)
	}
	pr("</g>\n")
	pr(`<g fill="#333333">` + "\n")
	for _, k := range xMajor {
		pr(`<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n",
			x.pos(math.Pow(10, float64(k))), plotB+8+fontSize, decadeLabel(k))
	}
	for _, k := range yMajor {
		pr(`<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`+"\n",
			plotL-8, y.pos(math.Pow(10, float64(k)))+fontSize*0.35, decadeLabel(k))
	}
	pr("</g>\n")

	midX, midY := (plotL+plotR)/2, (plotT+plotB)/2
	pr(`<text x="%.1f" y="%.1f" text-anchor="middle">%s</text>`+"\n",
		midX, chartH-10, esc("TCP sockets in the host's table (log scale)"))
	pr(`<text x="%.1f" y="%.1f" text-anchor="middle" transform="rotate(-90 %.1f %.1f)">%s</text>`+"\n",
		10+fontSize, midY, 10+fontSize, midY, esc("CPU time, user + system (ms, log scale)"))
	pr(`<text x="%.1f" y="%.1f" text-anchor="middle" font-size="%g" font-weight="bold">%s</text>`+"\n",
		midX, plotT-12, titleSize, esc("CPU time of one scan vs TCP sockets on the host"))
	pr("</svg>\n")
	return b.String()
}

// dashes is the stroke attribute that sets the floor apart from the tools
// measured against it.
func dashes(floor bool) string {
	if floor {
		return ` stroke-dasharray="5 3"`
	}
	return ""
}

// marker draws the point marker of line i at (cx, cy): a shape per line, open
// for the first four and filled for the next, so that lines stay apart where
// colours are hard to tell.
func marker(i int, cx, cy float64) string {
	colour := chartPalette[i%len(chartPalette)]
	fill := "#ffffff"
	if i/4%2 == 1 {
		fill = colour
	}
	style := fmt.Sprintf(`fill="%s" stroke="%s" stroke-width="1.2"`, fill, colour)
	const r = 3.2
	switch i % 4 {
	case 0:
		return fmt.Sprintf(`<circle cx="%.1f" cy="%.1f" r="%g" %s/>`+"\n", cx, cy, r, style)
	case 1:
		return fmt.Sprintf(`<rect x="%.1f" y="%.1f" width="%g" height="%g" %s/>`+"\n", cx-r, cy-r, 2*r, 2*r, style)
	case 2:
		return fmt.Sprintf(`<polygon points="%.1f,%.1f %.1f,%.1f %.1f,%.1f" %s/>`+"\n",
			cx, cy-r*1.2, cx+r*1.1, cy+r*0.8, cx-r*1.1, cy+r*0.8, style)
	default:
		return fmt.Sprintf(`<polygon points="%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f" %s/>`+"\n",
			cx, cy-r*1.3, cx+r*1.3, cy, cx, cy+r*1.3, cx-r*1.3, cy, style)
	}
}

// esc escapes s for XML text and attribute values.
func esc(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // a strings.Builder does not fail
	return b.String()
}
