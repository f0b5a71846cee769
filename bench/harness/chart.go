//go:build linux

package harness

import (
	"fmt"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// WriteChart draws the median CPU time of one scan against the number of
// sockets on the host, log-log, one line per tool (reference tools aside),
// and saves it to path; the format follows the extension (.svg, .png, …).
func WriteChart(path string, scans []ScanResult) error {
	p := plot.New()
	p.Title.Text = "CPU time of one scan vs TCP sockets on the host"
	p.X.Label.Text = "TCP sockets in the host's table (log scale)"
	p.Y.Label.Text = "CPU time, user + system (ms, log scale)"
	p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
	p.X.Tick.Marker, p.Y.Tick.Marker = plot.LogTicks{Prec: -1}, plot.LogTicks{Prec: -1}
	p.Legend.Top, p.Legend.Left = true, true
	p.Add(plotter.NewGrid())

	if len(scans) == 0 {
		return fmt.Errorf("no scan results to draw")
	}
	lines := 0
	lo, hi, left := math.Inf(1), math.Inf(-1), math.Inf(1)
	for ti, t := range scans[0].Tools {
		if t.Tool.Reference {
			continue
		}
		var pts plotter.XYs
		for _, s := range scans {
			if ti >= len(s.Tools) || s.Tools[ti].Err != "" || len(s.Tools[ti].CPU) == 0 {
				continue
			}
			// A log axis cannot show 0: a scan below the clock's
			// resolution is drawn at 1 µs.
			y := math.Max(s.Tools[ti].MedianCPU(), 0.001)
			pts = append(pts, plotter.XY{X: float64(s.Sockets), Y: y})
			lo, hi = math.Min(lo, y), math.Max(hi, y)
			left = math.Min(left, float64(s.Sockets))
		}
		if len(pts) == 0 {
			continue
		}
		l, sc, err := plotter.NewLinePoints(pts)
		if err != nil {
			return err
		}
		l.Color = plotutil.Color(lines)
		l.Width = vg.Points(1.5)
		if t.Tool.Floor {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		}
		sc.Color = l.Color
		sc.Shape = plotutil.Shape(lines)
		p.Add(l, sc)
		name := t.Tool.Name
		if t.Tool.Floor {
			name += " (floor)"
		}
		p.Legend.Add(name, l, sc)
		lines++
	}
	if lines == 0 {
		return fmt.Errorf("no tool has a result to draw")
	}
	// Leave the top third of the plot to the legend: the data spans the
	// lower two thirds of the (log) height.
	decades := math.Max(math.Log10(hi/lo), 1)
	p.Y.Min = lo / 1.5
	p.X.Min = math.Pow(10, math.Floor(math.Log10(left))) // a labelled tick at the left edge
	p.Y.Max = lo * math.Pow(10, decades*1.5)
	return p.Save(8*vg.Inch, 5.5*vg.Inch, path)
}
