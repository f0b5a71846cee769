//go:build linux

package harness

import (
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// chartScans builds four table sizes by hand, with the awkward cases: a name
// that needs escaping, a reference tool, a tool that never ran, a tool that
// failed at one size and a scan too fast for the clock.
func chartScans() []ScanResult {
	tools := []Tool{
		{Name: "ss -tn state close-wait", Floor: true},
		{Name: "resreap watch --reader <netlink> & co"},
		{Name: "netstat -ntp"},
		{Name: "resreap version", Reference: true},
		{Name: "missing"},
		{Name: "too fast"},
	}
	ms := func(v float64) []time.Duration {
		d := time.Duration(v * float64(time.Millisecond))
		return []time.Duration{d, d, d}
	}
	sizes := []int{1215, 10212, 50180, 100240}
	cpu := [][]float64{
		{4.81, 8.91, 23.3, 43.7},
		{25.7, 94.1, 160, 213},
		{38.7, 272, 1876, 7335},
		{5.38, 5.66, 4.82, 6.05},
	}
	var scans []ScanResult
	for si, n := range sizes {
		s := ScanResult{Target: n, Sockets: n, Rounds: 3}
		for ti, t := range tools {
			r := ToolResult{Tool: t}
			switch {
			case ti < len(cpu) && !(ti == 2 && si == 1):
				r.CPU = ms(cpu[ti][si])
			case t.Name == "too fast":
				r.CPU = ms(0)
			default:
				r.Err = "exec: not found"
			}
			s.Tools = append(s.Tools, r)
		}
		scans = append(scans, s)
	}
	return scans
}

// svgLine is a polyline of the chart, with the tool name of its tooltip.
type svgLine struct {
	title  string
	dashed bool
	points [][2]float64
}

// parseChart reads the SVG back with encoding/xml, failing the test if it is
// not well-formed, and returns the root, the lines and every text.
func parseChart(t *testing.T, path string) (root xml.StartElement, lines []svgLine, texts []string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d := xml.NewDecoder(f)
	d.Strict = true
	var stack []string
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("the chart is not well-formed XML: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if len(stack) == 0 {
				root = tok.Copy()
			}
			stack = append(stack, tok.Name.Local)
			if tok.Name.Local != "polyline" {
				continue
			}
			var l svgLine
			for _, a := range tok.Attr {
				switch a.Name.Local {
				case "stroke-dasharray":
					l.dashed = a.Value != ""
				case "points":
					for _, xy := range strings.Fields(a.Value) {
						xs, ys, _ := strings.Cut(xy, ",")
						x, err1 := strconv.ParseFloat(xs, 64)
						y, err2 := strconv.ParseFloat(ys, 64)
						if err1 != nil || err2 != nil {
							t.Fatalf("bad polyline point %q", xy)
						}
						l.points = append(l.points, [2]float64{x, y})
					}
				}
			}
			lines = append(lines, l)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			s := strings.TrimSpace(string(tok))
			if s == "" || len(stack) == 0 {
				continue
			}
			switch stack[len(stack)-1] {
			case "text":
				texts = append(texts, s)
			case "title":
				if len(stack) >= 2 && stack[len(stack)-2] == "polyline" {
					lines[len(lines)-1].title = s
				}
			}
		}
	}
	if len(stack) != 0 {
		t.Fatalf("unclosed elements %v", stack)
	}
	return root, lines, texts
}

func TestWriteChart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scan-cost.svg")
	if err := WriteChart(path, chartScans()); err != nil {
		t.Fatal(err)
	}
	root, lines, texts := parseChart(t, path)

	if root.Name.Local != "svg" {
		t.Fatalf("root element is <%s>, want <svg>", root.Name.Local)
	}
	attr := func(name string) string {
		for _, a := range root.Attr {
			if a.Name.Local == name {
				return a.Value
			}
		}
		return ""
	}
	if attr("viewBox") != "0 0 576 396" || attr("width") != "576pt" || attr("height") != "396pt" {
		t.Errorf("size: width %q height %q viewBox %q, want 576pt × 396pt", attr("width"), attr("height"), attr("viewBox"))
	}

	// One line per tool with a result, reference tools and tools without
	// a result left out, in the order of the tool set.
	var titles []string
	for _, l := range lines {
		titles = append(titles, l.title)
	}
	want := []string{"ss -tn state close-wait (floor)", "resreap watch --reader <netlink> & co", "netstat -ntp", "too fast"}
	if !slices.Equal(titles, want) {
		t.Fatalf("lines %q, want %q", titles, want)
	}
	for i, l := range lines {
		if l.dashed != (i == 0) {
			t.Errorf("line %q: dashed %v, want it only for the floor", l.title, l.dashed)
		}
	}
	// netstat failed at one size: three points.
	for i, n := range []int{4, 4, 3, 4} {
		if len(lines[i].points) != n {
			t.Errorf("line %q has %d points, want %d", lines[i].title, len(lines[i].points), n)
		}
	}
	// Everything inside the canvas, and the data in the lower two thirds
	// so that the legend has the top to itself.
	for _, l := range lines {
		for _, p := range l.points {
			if p[0] < 0 || p[0] > 576 || p[1] < 396.0/3 || p[1] > 396 {
				t.Errorf("line %q: point %v outside the data area", l.title, p)
			}
		}
	}
	// More CPU is higher up: the floor sits below netstat at the largest size.
	if floor, netstat := lines[0].points[3][1], lines[2].points[2][1]; floor <= netstat {
		t.Errorf("floor at y=%v is not below netstat at y=%v", floor, netstat)
	}

	for _, s := range append(want,
		"CPU time of one scan vs TCP sockets on the host",
		"TCP sockets in the host's table (log scale)",
		"CPU time, user + system (ms, log scale)",
		"1000", "10000", "100000", // x decades
		"0.001", "1", "10", "100", "1000", // y decades, down to the clamped 0
	) {
		if !slices.Contains(texts, s) {
			t.Errorf("no text %q in the chart; texts: %q", s, texts)
		}
	}
	for _, s := range []string{"resreap version", "missing"} {
		if slices.Contains(texts, s) {
			t.Errorf("%q is in the legend, but has no line", s)
		}
	}
}

func TestWriteChartErrors(t *testing.T) {
	dir := t.TempDir()
	// Only the reference tool has a result; the others failed, or ran
	// without a measured round.
	onlyRef := chartScans()
	for _, s := range onlyRef {
		for i := range s.Tools {
			switch r := &s.Tools[i]; {
			case r.Tool.Reference:
			case r.Tool.Floor:
				r.CPU = nil
			default:
				*r = ToolResult{Tool: r.Tool, Err: "exec: not found"}
			}
		}
	}
	for _, tc := range []struct {
		name, file string
		scans      []ScanResult
		want       string
	}{
		{"no scans", "a.svg", nil, "no scan results to draw"},
		{"no tool with a result", "b.svg", onlyRef, "no tool has a result to draw"},
		{"not svg", "c.png", chartScans(), "only .svg"},
	} {
		path := filepath.Join(dir, tc.file)
		err := WriteChart(path, tc.scans)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: %s was written (stat: %v)", tc.name, tc.file, err)
		}
	}
}
