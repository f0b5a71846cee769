//go:build linux

package proc

import (
	"io"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/procfs"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"
	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/testchild"
)

// testReaper is the one Reaper of the test binary (wait4(-1) is
// process-wide, so every test shares it).
var testReaper *Reaper

func TestMain(m *testing.M) {
	RunExecShim()
	testchild.Main()
	var err error
	testReaper, err = NewReaper(zerolog.New(os.Stderr).Level(zerolog.WarnLevel))
	if err != nil {
		panic(err)
	}
	goleak.VerifyTestMain(m,
		goleak.IgnoreTopFunction("github.com/resreap/resreap/internal/proc.(*Reaper).forkLoop"),
		goleak.IgnoreTopFunction("github.com/resreap/resreap/internal/proc.(*Reaper).reapLoop"),
		goleak.IgnoreTopFunction("os/signal.signal_recv"),
		goleak.IgnoreAnyFunction("os/signal.loop"),
	)
}

// helper is the start of the test binary as a helper child in mode (see
// testchild), with the parameters in kv.
func helper(tb testing.TB, mode string, kv ...string) Command {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	return Command{Path: exe, Args: testchild.Argv(""), Env: testchild.EnvMap(mode, kv...)}
}

// spawn starts c through the test Reaper. At cleanup, a process still
// unreaped is killed with its group and reaped, and its outputs closed.
func spawn(tb testing.TB, c Command) *Process {
	tb.Helper()
	p, err := testReaper.Spawn(c)
	if err != nil {
		tb.Fatalf("spawn %v: %v", c.Args, err)
	}
	tb.Cleanup(func() {
		if err := p.Signal(unix.SIGKILL); err == nil {
			waitExit(tb, p)
		}
		closeAll(p.Outputs())
	})
	return p
}

// waitExit receives p's exit, failing the test after testchild.Timeout.
func waitExit(tb testing.TB, p *Process) ExitStatus {
	tb.Helper()
	select {
	case ex := <-p.Exit():
		return ex
	case <-time.After(testchild.Timeout):
		tb.Fatalf("pid %d did not exit within %s", p.PID(), testchild.Timeout)
		return ExitStatus{}
	}
}

// readLine reads one line from f (a pipe) within testchild.Timeout.
func readLine(tb testing.TB, f *os.File) string {
	tb.Helper()
	f.SetReadDeadline(time.Now().Add(testchild.Timeout)) //nolint:errcheck // a pipe supports deadlines
	var b strings.Builder
	var c [1]byte // byte by byte: nothing past the line is taken from the pipe
	for {
		if _, err := f.Read(c[:]); err != nil {
			tb.Fatalf("read %s: %v (so far %q)", f.Name(), err, b.String())
		}
		if c[0] == '\n' {
			return b.String()
		}
		b.WriteByte(c[0])
	}
}

// readAll reads f (a pipe) to its end within testchild.Timeout.
func readAll(tb testing.TB, f *os.File) string {
	tb.Helper()
	f.SetReadDeadline(time.Now().Add(testchild.Timeout)) //nolint:errcheck // a pipe supports deadlines
	data, err := io.ReadAll(f)
	if err != nil {
		tb.Fatalf("read %s: %v", f.Name(), err)
	}
	return string(data)
}

// ready waits for a helper's ready line on its stdout and returns its
// fields after "ready <pid>". Lines of other processes are passed over.
func ready(tb testing.TB, p *Process) []string {
	tb.Helper()
	for {
		f := strings.Fields(readLine(tb, p.Outputs()[0]))
		if len(f) >= 2 && f[0] == "ready" && f[1] == strconv.Itoa(p.PID()) {
			return f[2:]
		}
	}
}

// readyGrandchild waits for the ready lines of a helper in mode
// "grandchild" and of its grandchild, in either order, and returns the
// grandchild's PID.
func readyGrandchild(tb testing.TB, p *Process) int {
	tb.Helper()
	seen := map[string]bool{}
	grandchild := ""
	for grandchild == "" || !seen[grandchild] {
		f := strings.Fields(readLine(tb, p.Outputs()[0]))
		if len(f) < 2 || f[0] != "ready" {
			continue
		}
		seen[f[1]] = true
		if f[1] == strconv.Itoa(p.PID()) && len(f) == 4 && f[2] == "grandchild" {
			grandchild = f[3]
		}
	}
	pid, _ := strconv.Atoi(grandchild)
	return pid
}

// procState is the state of pid ("S", "T", ...), "" when it is gone.
func procState(pid int) string {
	p, err := procfs.NewProc(pid)
	if err != nil {
		return ""
	}
	st, err := p.Stat()
	if err != nil {
		return ""
	}
	return st.State
}

// gone reports whether no process (not even a zombie) has pid.
func gone(pid int) bool { return unix.Kill(pid, 0) == unix.ESRCH }
