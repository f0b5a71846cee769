//go:build linux

package harness

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// TickResult is one case of the health-tick benchmark
// (health.BenchmarkScanBigLeaker): CPU per op and fd links read per op.
type TickResult struct {
	Name      string // "ss", "tick/netlink/cgroup", "tick/netlink/walk", …
	CPU       time.Duration
	Readlinks float64
	HasLinks  bool
}

// TickPattern selects the cases of the health tick: the `ss` floor and one
// scan of a 15,000-fd leaker that leaks one more socket per tick, judged
// by cgroup id or by fd walk, with the live reader and with a frozen one
// (the Scanner's own work). go test matches each level of a benchmark's
// name apart, and a leaf shorter than the pattern never matches, so the
// pattern cannot say "ss, or tick with netlink": MeasureTick keeps those.
const TickPattern = "BenchmarkScanBigLeaker/^(ss|tick)$"

// MeasureTick runs the health-tick benchmark of the health package with
// `go test` (ops iterations per case) while the caller's load is up, and
// returns its cases in the order printed. It runs from inside the module
// (`go env GOMOD` finds its root), as `make bench` does.
func MeasureTick(ctx context.Context, ops int) ([]TickResult, error) {
	goBin := os.Getenv("GO")
	if goBin == "" {
		goBin = "go"
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	mod, err := exec.CommandContext(ctx, goBin, "env", "GOMOD").Output()
	if err != nil || len(bytes.TrimSpace(mod)) == 0 || string(bytes.TrimSpace(mod)) == os.DevNull {
		return nil, fmt.Errorf("go env GOMOD: not inside the resreap module (%v)", err)
	}
	cmd := exec.CommandContext(ctx, goBin, "test", "-count=1", "-run", "^$", "-bench", TickPattern,
		"-benchtime", strconv.Itoa(ops)+"x", "./health/")
	cmd.Dir = filepath.Dir(string(bytes.TrimSpace(mod)))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		tail := out.String()
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		return nil, fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, tail)
	}
	var res []TickResult
	for _, r := range parseTick(out.Bytes()) {
		if r.Name == "ss" || strings.HasPrefix(r.Name, "tick/netlink/") {
			res = append(res, r)
		}
	}
	if len(res) == 0 {
		return nil, fmt.Errorf("no benchmark lines in the output of %s", strings.Join(cmd.Args, " "))
	}
	return res, nil
}

var tickLine = regexp.MustCompile(`^BenchmarkScanBigLeaker/(\S+?)(?:-\d+)?\s+\d+\s+(.*)$`)

// parseTick reads the result lines of `go test -bench`: after the name and
// the iterations come pairs of value and unit.
func parseTick(out []byte) []TickResult {
	var res []TickResult
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := tickLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		r := TickResult{Name: m[1]}
		f := strings.Fields(m[2])
		for i := 0; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "cpu-ns/op":
				r.CPU = time.Duration(v)
			case "readlinks/op":
				r.Readlinks, r.HasLinks = v, true
			}
		}
		res = append(res, r)
	}
	return res
}

func (r *Report) writeTick(p func(string, ...any)) {
	if len(r.Tick) == 0 {
		return
	}
	var floor time.Duration
	for _, t := range r.Tick {
		if t.Name == "ss" {
			floor = t.CPU
		}
	}
	p("## Health tick of a leaker with 15,000 fds\n\n")
	p("One scan of a child that holds 15,000 fds and leaks one more CLOSE_WAIT socket per "+
		"tick (the newest socket's owner unknown, at the end of the fd table), while the "+
		"%s-socket load is up: the child in a cgroup (sockets mapped by the cgroup id the kernel "+
		"reports) vs the same child without one (process-group mode: the owner is found by an fd "+
		"walk), against `ss -tn state close-wait` run once. `go test -bench '%s' ./health/`, "+
		"%d ops per case; CPU is user + system time of the scanning process (of `ss` alone for "+
		"the floor, start-up included).\n\n", sizeLabel(r.Config.SupervisorAt), TickPattern, r.Config.TickOps)
	p("| case | CPU per tick | fd links read per tick | × `ss` |\n|---|---:|---:|---:|\n")
	for _, t := range r.Tick {
		name := map[string]string{
			"ss":                  "`ss -tn state close-wait`",
			"tick/netlink/cgroup": "cgroup mode (netlink dump, cgroup id)",
			"tick/netlink/walk":   "process-group mode (netlink dump, fd walk)",
		}[t.Name]
		if name == "" {
			name = t.Name
		}
		links, ratio := "", ""
		if t.HasLinks {
			links = strconv.FormatFloat(t.Readlinks, 'f', 0, 64)
		}
		if floor > 0 {
			ratio = fmt.Sprintf("%.2f", float64(t.CPU)/float64(floor))
		}
		p("| %s | %s | %s | %s |\n", name, ms(float64(t.CPU)/1e6), links, ratio)
	}
	p("\n")
}
