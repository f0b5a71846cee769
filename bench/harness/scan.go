//go:build linux

package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// Sample is one run of a tool.
type Sample struct {
	CPU  time.Duration // user + system time of the process and the children it waited for
	Wall time.Duration
	Err  error
}

// RunTool runs t once with stdout discarded and returns its CPU and wall
// time. The CPU time is what wait4 reports for the process, so a tool's
// helpers count as long as it waits for them.
func RunTool(ctx context.Context, t Tool) Sample {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, t.Argv[0], t.Argv[1:]...)
	var stderr bytes.Buffer
	// Stdout stays nil: /dev/null, as cheap as output can be.
	cmd.Stderr = &limitedWriter{w: &stderr, n: 4096}
	start := time.Now()
	err := cmd.Run()
	s := Sample{Wall: time.Since(start)}
	if cmd.ProcessState != nil {
		s.CPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit) && slices.Contains(t.OKExit, exit.ExitCode()):
	default:
		msg := strings.TrimSpace(stderr.String())
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
		if msg != "" {
			err = fmt.Errorf("%w: %s", err, msg)
		}
		s.Err = err
	}
	return s
}

type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.n -= k
		_, _ = l.w.Write(p[:k])
	}
	return len(p), nil
}

// ToolResult is what one tool did at one table size.
type ToolResult struct {
	Tool  Tool
	CPU   []time.Duration // one per measured round
	Wall  []time.Duration
	Ratio []float64 // CPU / floor's CPU in the same round
	Err   string    // why the tool could not be measured; the rest is empty then
	// Walk is what the owner walks of one counting run cost (Tool.Count);
	// nil when the tool has no counting run or it failed (WalkErr).
	Walk    *WalkCount
	WalkErr string
}

// MedianCPU in milliseconds.
func (r ToolResult) MedianCPU() float64 { return median(millis(r.CPU)) }

// MedianWall in milliseconds.
func (r ToolResult) MedianWall() float64 { return median(millis(r.Wall)) }

// MedianRatio to the floor, of the per-round ratios.
func (r ToolResult) MedianRatio() float64 { return median(r.Ratio) }

// ScanResult is the comparison at one socket table size.
type ScanResult struct {
	Target    int // sockets asked of the load generator
	Sockets   int // TCP sockets in the host's table when measured (IPv4 + IPv6)
	CloseWait int // of which in CLOSE_WAIT
	Rounds    int
	Tools     []ToolResult
}

// Floor returns the result of the floor tool, or nil.
func (s ScanResult) Floor() *ToolResult {
	for i := range s.Tools {
		if s.Tools[i].Tool.Floor {
			return &s.Tools[i]
		}
	}
	return nil
}

// tool returns the result of the tool named name, or nil.
func (s ScanResult) tool(name string) *ToolResult {
	for i := range s.Tools {
		if s.Tools[i].Tool.Name == name {
			return &s.Tools[i]
		}
	}
	return nil
}

// ratioTo is the median over rounds of a's CPU time over b's in the same
// round.
func ratioTo(a, b ToolResult) float64 {
	var rs []float64
	for i := range min(len(a.CPU), len(b.CPU)) {
		if b.CPU[i] > 0 {
			rs = append(rs, float64(a.CPU[i])/float64(b.CPU[i]))
		}
	}
	return median(rs)
}

// MeasureScans runs a warm-up round and then rounds measured rounds of every
// tool, rotating the order each round. A tool that fails in the warm-up is
// reported with its error and dropped; one that fails later fails the
// measurement.
func MeasureScans(ctx context.Context, tools []Tool, rounds int, logf func(string, ...any)) ([]ToolResult, error) {
	res := make([]ToolResult, len(tools))
	var live []int
	for i, t := range tools {
		res[i].Tool = t
		if len(t.Probe) > 0 {
			if s := RunTool(ctx, Tool{Argv: t.Probe}); s.Err != nil {
				res[i].Err = fmt.Sprintf("%s: %v", strings.Join(t.Probe, " "), s.Err)
				logf("  %-34s unavailable: %s", t.Name, res[i].Err)
				continue
			}
		}
		if s := RunTool(ctx, t); s.Err != nil {
			res[i].Err = s.Err.Error()
			logf("  %-34s unavailable: %v", t.Name, s.Err)
			continue
		}
		live = append(live, i)
	}
	floor := -1
	for _, i := range live {
		if tools[i].Floor {
			floor = i
		}
	}
	for r := 0; r < rounds; r++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		cpu := make(map[int]time.Duration, len(live))
		for k := range live {
			i := live[(k+r)%len(live)]
			s := RunTool(ctx, tools[i])
			if s.Err != nil {
				return nil, fmt.Errorf("%s: %w", tools[i].Name, s.Err)
			}
			cpu[i] = s.CPU
			res[i].CPU = append(res[i].CPU, s.CPU)
			res[i].Wall = append(res[i].Wall, s.Wall)
		}
		if floor >= 0 && cpu[floor] > 0 {
			for _, i := range live {
				res[i].Ratio = append(res[i].Ratio, float64(cpu[i])/float64(cpu[floor]))
			}
		}
	}
	for _, i := range live {
		walk := ""
		if len(tools[i].Count) > 0 {
			if wc, err := CountWalk(ctx, tools[i]); err != nil {
				res[i].WalkErr = err.Error()
				walk = "  readlinks: " + err.Error()
			} else {
				res[i].Walk = &wc
				walk = fmt.Sprintf("  readlinks %d in %d fd tables", wc.Readlinks, wc.FDTables)
			}
		}
		logf("  %-34s cpu %9.2f ms  wall %9.2f ms  ×floor %6.2f%s",
			tools[i].Name, res[i].MedianCPU(), res[i].MedianWall(), res[i].MedianRatio(), walk)
	}
	return res, nil
}
