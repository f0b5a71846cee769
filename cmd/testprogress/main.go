//go:build linux

// Command testprogress is what make test prints while the tests run: it
// reads `go test -json` on stdin and writes, as each package finishes, the
// line go test writes for it ("ok  pkg 12.3s", "FAIL pkg"), with the whole
// output of a package that failed; every interval, the tests still
// running and for how long; and at the end "N passed, N failed, N
// skipped". Plain go test prints packages in the order given, so one slow
// package (the fault suite: minutes) hid every line after it; -v streams
// only with -p 1 and prints thousands of lines.
//
//	go test -json ./... | go run ./cmd/testprogress
//
// It exits 1 when a test or a package failed, 0 otherwise; lines that are
// not JSON (a build error on stderr) pass through.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

func main() {
	os.Exit(run(os.Stdin, os.Stdout, 30*time.Second))
}

// event is one line of go test -json (cmd/test2json).
type event struct {
	Time    time.Time
	Action  string
	Package string
	Test    string
	Output  string
	Elapsed float64
}

// progress is what has been seen so far.
type progress struct {
	out     io.Writer
	output  map[string][]string             // each package's output, printed if it fails
	running map[string]map[string]time.Time // package -> top-level test -> started
	counts  map[string]int                  // pass, fail, skip of tests
	failed  bool
}

// run reads events from r until EOF, printing to w, and a line of the
// tests still running every interval.
func run(r io.Reader, w io.Writer, interval time.Duration) int {
	p := &progress{out: w, output: map[string][]string{}, running: map[string]map[string]time.Time{}, counts: map[string]int{}}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				fmt.Fprintf(w, "%d passed, %d failed, %d skipped\n", p.counts["pass"], p.counts["fail"], p.counts["skip"])
				if p.failed {
					return 1
				}
				return 0
			}
			p.line(line)
		case now := <-tick.C:
			p.still(now)
		}
	}
}

// line handles one line of input.
func (p *progress) line(line string) {
	var e event
	if !strings.HasPrefix(line, "{") || json.Unmarshal([]byte(line), &e) != nil {
		fmt.Fprintln(p.out, line)
		return
	}
	switch {
	case e.Action == "output" || e.Action == "build-output":
		p.output[e.Package] = append(p.output[e.Package], e.Output)
	case e.Test != "" && !strings.Contains(e.Test, "/") && e.Action == "run":
		if p.running[e.Package] == nil {
			p.running[e.Package] = map[string]time.Time{}
		}
		p.running[e.Package][e.Test] = time.Now()
	case e.Test != "" && (e.Action == "pass" || e.Action == "fail" || e.Action == "skip"):
		p.counts[e.Action]++
		p.failed = p.failed || e.Action == "fail"
		delete(p.running[e.Package], e.Test)
	case e.Test == "" && (e.Action == "pass" || e.Action == "fail" || e.Action == "skip" || e.Action == "build-fail"):
		p.done(e)
	}
}

// done prints the line of a finished package, its output first if it
// failed.
func (p *progress) done(e event) {
	switch e.Action {
	case "pass":
		fmt.Fprintf(p.out, "ok  \t%s\t%.3fs\n", e.Package, e.Elapsed)
	case "skip":
		fmt.Fprintf(p.out, "?   \t%s\t[no test files]\n", e.Package)
	default:
		p.failed = true
		fmt.Fprint(p.out, strings.Join(p.output[e.Package], ""))
		fmt.Fprintf(p.out, "FAIL\t%s\t%.3fs\n", e.Package, e.Elapsed)
	}
	delete(p.output, e.Package)
	delete(p.running, e.Package)
}

// still prints the top-level tests running now, longest first.
func (p *progress) still(now time.Time) {
	type test struct {
		name string
		for_ time.Duration
	}
	var ts []test
	for pkg, tests := range p.running {
		for name, start := range tests {
			ts = append(ts, test{pkg + " " + name, now.Sub(start).Round(time.Second)})
		}
	}
	if len(ts) == 0 {
		return
	}
	slices.SortFunc(ts, func(a, b test) int { return int(b.for_ - a.for_) })
	parts := make([]string, 0, 3)
	for _, t := range ts[:min(3, len(ts))] {
		parts = append(parts, fmt.Sprintf("%s (%s)", t.name, t.for_))
	}
	more := ""
	if len(ts) > 3 {
		more = fmt.Sprintf(" and %d more", len(ts)-3)
	}
	fmt.Fprintf(p.out, "... running: %s%s\n", strings.Join(parts, ", "), more)
}
