//go:build linux

package harness

import (
	"bufio"
	"bytes"
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

	"github.com/resreap/resreap/internal/cgroup"
)

// watchSetting is one setting of the watchdog comparison. In both the
// load's CLOSE_WAIT sockets are held by its first worker, the process
// with the most fds, and another small process holds persistent
// CLOSE_WAIT sockets of its own beside it (as some other service on a
// busy host always does).
type watchSetting struct {
	Name  string
	Alone bool // the leaker in a cgroup of its own, as systemd runs a service
}

var watchCases = []watchSetting{
	{Name: "leaker alone in its cgroup, another process leaking beside", Alone: true},
	{Name: "leaker sharing its cgroup and holding the most fds, another process leaking beside", Alone: false},
}

// WatchCase is the comparison in one setting.
type WatchCase struct {
	Setting   watchSetting
	Scan      ScanResult
	HolderFDs int // fds of the leaker
	HostFDs   int // fds of every process: what `ss -tnp` reads
	Processes int
}

// watchTools are the commands of a setting: the floor, each build's
// `watch --once` with -f HOLDER and without, `ss -tnp`, and `netstat -ntp`
// where the goal names it.
func watchTools(cfg Config, alone bool, tag string) []Tool {
	tools := []Tool{{Name: "ss -tn state close-wait", Argv: []string{"ss", "-tn", "state", "close-wait"}, Floor: true}}
	for _, f := range []bool{true, false} {
		for _, b := range cfg.builds() {
			argv := []string{b.Path, "watch", "--once", "-d", "-i", "0.05", "--reader", "netlink"}
			name := "resreap watch --once"
			if f {
				argv = append(argv, "-f", TaggedHolder(tag))
				name += " -f HOLDER"
			}
			tools = append(tools, Tool{Name: name + " (" + b.Name + ")", Argv: argv,
				Count: append(append([]string(nil), argv...), "--json", "-D"), OKExit: []int{0, 1},
				Probe: []string{b.Path, "watch", "--help"}})
		}
	}
	tools = append(tools, Tool{Name: "ss -tnp state close-wait", Argv: []string{"ss", "-tnp", "state", "close-wait"}})
	if alone {
		tools = append(tools, Tool{Name: "netstat -ntp", Argv: []string{"netstat", "-ntp"}})
	}
	return tools
}

// measureWatchCase puts the load of the setting in place (the leaker in a
// cgroup of its own if Alone, another leaker beside) and measures the
// tools.
func measureWatchCase(ctx context.Context, cfg Config, ws watchSetting, dir string, logf func(string, ...any)) (WatchCase, error) {
	cc := cfg.Cost
	wc := WatchCase{Setting: ws}
	holderCg := ""
	if ws.Alone {
		g, err := benchCgroup("holder")
		if err != nil {
			return wc, fmt.Errorf("a cgroup for the leaker: %w", err)
		}
		defer g.Remove() //nolint:errcheck // empty once the load has stopped
		holderCg = g.Dir()
	}
	foreign, err := startForeignLeak(ctx, cfg.Child, dir, cc.Foreign)
	if err != nil {
		return wc, err
	}
	defer foreign()
	tag := fmt.Sprintf("resreap-bench-%d", os.Getpid())
	load, err := StartLoadIn(ctx, cfg.Sockload, cc.At, cc.CloseWait, false, holderCg, tag)
	if err != nil {
		return wc, err
	}
	defer load.Stop()
	res := ScanResult{Target: cc.At, Rounds: cc.Rounds}
	if res.Sockets, res.CloseWait, err = CountSockets(); err != nil {
		return wc, err
	}
	if wc.HolderFDs, _, err = holderFDs(load.Ready, false); err != nil {
		return wc, err
	}
	wc.HostFDs, wc.Processes = hostFDs()
	logf("  %s; table holds %d sockets, %d in CLOSE_WAIT; leaker %d fds; host %d fds in %d processes",
		load.Ready, res.Sockets, res.CloseWait, wc.HolderFDs, wc.HostFDs, wc.Processes)
	if res.Tools, err = MeasureScans(ctx, watchTools(cfg, ws.Alone, tag), cc.Rounds, logf); err != nil {
		return wc, err
	}
	wc.Scan = res
	return wc, nil
}

// benchCgroup creates a cgroup v2 directory for the benchmark below the
// harness's own cgroup; the caller removes it once empty.
func benchCgroup(name string) (cgroup.Group, error) {
	h, err := cgroup.Detect()
	if err != nil {
		return cgroup.Group{}, err
	}
	own, err := h.OwnGroup()
	if err != nil {
		return cgroup.Group{}, err
	}
	g, err := own.Child(fmt.Sprintf("resreap-bench-%s-%d", name, os.Getpid()))
	if err != nil {
		return cgroup.Group{}, err
	}
	return g, g.Create()
}

// startForeignLeak starts a benchchild holding n CLOSE_WAIT sockets, in
// the harness's cgroup, and waits until it holds them. The function
// returned stops it.
func startForeignLeak(ctx context.Context, child, dir string, n int) (func(), error) {
	if n <= 0 {
		return func() {}, nil
	}
	log := filepath.Join(dir, "foreign.log")
	cmd := exec.Command(child, "leak", "-log", log, "-after-min", "0s", "-after-max", "1ms", "-count", strconv.Itoa(n))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("foreign leaker: %w", err)
	}
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		evs, err := readChildLog(log)
		if err == nil && countChild(evs, "leak") > 0 {
			return stop, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			stop()
			return nil, errors.New("foreign leaker: no leak after 30 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// SyscallCount is what one `resreap watch --once` of a build asks of the
// kernel, by system call, as `strace -f -c` counts them.
type SyscallCount struct {
	Build     string
	Processes int            // processes on the host
	Calls     map[string]int // by system call name
	Total     int
}

// syscallsShown are the calls the report shows: the opens and reads of
// /proc, what an os.File adds to each (fcntl, epoll_ctl), the fd links.
var syscallsShown = []string{"openat", "read", "close", "fcntl", "epoll_ctl", "getdents64", "readlinkat", "newfstatat"}

// countSyscalls runs `resreap watch --once` (every process a candidate)
// of each build under `strace -f -c`.
func countSyscalls(ctx context.Context, cfg Config) ([]SyscallCount, error) {
	strace, err := exec.LookPath("strace")
	if err != nil {
		return nil, errors.New("strace not installed")
	}
	var out []SyscallCount
	for _, b := range cfg.builds() {
		f, err := os.CreateTemp("", "resreap-strace-")
		if err != nil {
			return out, err
		}
		f.Close()
		defer os.Remove(f.Name())
		cmd := exec.CommandContext(ctx, strace, "-f", "-c", "-o", f.Name(), b.Path, "watch", "--once", "-d", "-i", "0.05", "--reader", "netlink")
		var exit *exec.ExitError
		if err := cmd.Run(); err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 1) {
			return out, fmt.Errorf("strace %s: %w", b.Name, err)
		}
		data, err := os.ReadFile(f.Name())
		if err != nil {
			return out, err
		}
		sc := SyscallCount{Build: b.Name, Calls: parseStraceSummary(data)}
		sc.Total = sc.Calls["total"]
		_, sc.Processes = hostFDs()
		out = append(out, sc)
	}
	return out, nil
}

// parseStraceSummary reads the table of `strace -c`: "% time seconds
// usecs/call calls [errors] syscall" lines, and the total line.
func parseStraceSummary(data []byte) map[string]int {
	out := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 {
			continue
		}
		name := f[len(f)-1]
		calls, err := strconv.Atoi(f[3])
		if err != nil {
			continue
		}
		out[name] = calls
	}
	return out
}
