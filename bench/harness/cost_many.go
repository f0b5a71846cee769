//go:build linux

package harness

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/resreap/resreap/internal/procfile"
)

// ManyResult is starting and stopping many children: each build's
// `resreap run` and the floor (bench/cmd/forkfloor), round by round.
type ManyResult struct {
	Children int
	Rounds   int
	// Start and Stop by build name, "floor" included: start is from the
	// exec of resreap (of forkfloor's first fork) to the last child
	// forked; stop from SIGTERM to resreap's exit (from the first kill to
	// the last child reaped).
	Start, Stop map[string][]time.Duration
}

// Ratio returns the median over rounds of what's figure (Start or Stop)
// over the floor's in the same round.
func (m *ManyResult) Ratio(figure map[string][]time.Duration, what string) float64 {
	var rs []float64
	floor := figure["floor"]
	for i, d := range figure[what] {
		if i < len(floor) && floor[i] > 0 {
			rs = append(rs, float64(d)/float64(floor[i]))
		}
	}
	return median(rs)
}

// measureMany runs cfg.Cost.Rounds rounds of: each build starting and
// stopping cfg.Cost.Many idle children, and the floor doing as much.
func measureMany(ctx context.Context, cfg Config, dir string, logf func(string, ...any)) (*ManyResult, error) {
	n := cfg.Cost.Many
	m := &ManyResult{Children: n, Rounds: cfg.Cost.Rounds, Start: map[string][]time.Duration{}, Stop: map[string][]time.Duration{}}
	names := []string{"floor"}
	for _, b := range cfg.builds() {
		names = append(names, b.Name)
	}
	paths := map[string]string{}
	for _, b := range cfg.builds() {
		paths[b.Name] = b.Path
	}
	for r := range cfg.Cost.Rounds {
		for k := range names {
			name := names[(k+r)%len(names)]
			var start, stop time.Duration
			var err error
			if name == "floor" {
				start, stop, err = runFloor(ctx, cfg.Cost.ForkFloor, n)
			} else {
				start, stop, err = startStop(ctx, paths[name], filepath.Join(dir, fmt.Sprintf("%s-%d", name, r)), n)
			}
			if err != nil {
				return m, fmt.Errorf("%s: %w", name, err)
			}
			m.Start[name] = append(m.Start[name], start)
			m.Stop[name] = append(m.Stop[name], stop)
		}
	}
	for _, name := range names {
		logf("  %-6s start median %s, stop median %s", name, summarize(m.Start[name]).Median, summarize(m.Stop[name]).Median)
	}
	return m, nil
}

// runFloor runs forkfloor with n children.
func runFloor(ctx context.Context, forkfloor string, n int) (start, stop time.Duration, err error) {
	out, err := exec.CommandContext(ctx, forkfloor, "-n", strconv.Itoa(n)).Output()
	if err != nil {
		return 0, 0, fmt.Errorf("forkfloor: %w", err)
	}
	var s, t float64
	if _, err := fmt.Sscanf(strings.TrimSpace(string(out)), "start %g stop %g", &s, &t); err != nil {
		return 0, 0, fmt.Errorf("forkfloor printed %q: %w", out, err)
	}
	return time.Duration(s * float64(time.Second)), time.Duration(t * float64(time.Second)), nil
}

// startStop starts `resreap run` with n idle children, times until it has
// forked them all, lets them settle, then times SIGTERM to its exit.
func startStop(ctx context.Context, resreap, dir string, n int) (start, stop time.Duration, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, 0, err
	}
	s, err := startSupervisor(resreap, dir, idleConfig(n, 0))
	if err != nil {
		return 0, 0, err
	}
	defer s.stop()
	buf := make([]byte, 64<<10)
	for {
		if k := childCount(s.pid(), buf); k >= n {
			start = time.Since(s.started)
			break
		}
		if err := s.exited(); err != nil {
			return 0, 0, err
		}
		if time.Since(s.started) > 2*time.Minute {
			return 0, 0, errors.New("children not started after 2 minutes")
		}
		if err := sleepCtx(ctx, 2*time.Millisecond); err != nil {
			return 0, 0, err
		}
	}
	if err := sleepCtx(ctx, 3*time.Second); err != nil { // Running, a scan or two in
		return 0, 0, err
	}
	t0 := time.Now()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(time.Minute):
		return 0, 0, errors.New("not stopped after a minute")
	}
	return start, time.Since(t0), nil
}

// childCount counts the children of every thread of pid (the fork thread
// of resreap forks them all), from /proc/PID/task/*/children.
func childCount(pid int, buf []byte) int {
	n := 0
	task := "/proc/" + strconv.Itoa(pid) + "/task"
	_ = procfile.DirNames(task, buf[:8<<10], func(tid []byte) bool {
		k, err := procfile.Read(task+"/"+string(tid)+"/children", buf[8<<10:])
		if err == nil {
			n += len(strings.Fields(string(buf[8<<10 : 8<<10+k])))
		}
		return true
	})
	return n
}
