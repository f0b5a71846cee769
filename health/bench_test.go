//go:build linux

package health

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/testchild"
)

// BenchmarkScan measures one Scan tick under socket load: ~20k established
// loopback connections (both ends open, so ~40k sockets; set
// RESREAP_BENCH_CONNS to change) spread over helper processes because one
// process may hold at most 20000 fds, plus 50 CLOSE_WAIT sockets held by a
// target. Each reader is measured with 1, 10 and 50 targets, next to the
// cost of `ss -tn state close-wait` and `ss -tnp state close-wait` on the
// same load. cpu-ns/op is user+system CPU time, the figure that matters on
// a busy host; for ss it is the child's.
func BenchmarkScan(b *testing.B) {
	if testing.Short() {
		b.Skip("socket load takes seconds to build")
	}
	conns := 20000
	if v, err := strconv.Atoi(os.Getenv("RESREAP_BENCH_CONNS")); err == nil {
		conns = v
	}
	const perHelper = 5000 // 2 fds per connection stays under 20000 fds
	for left := conns; left > 0; left -= perHelper {
		testchild.Start(b, testchild.Spec{Mode: "pairs", N: min(left, perHelper)})
	}
	addr := testchild.ClosingListener(b, "127.0.0.1:0")
	leaker := testchild.Start(b, testchild.Spec{Mode: "leak", N: 50, Addr: addr})
	targets := []Target{target("leaker", leaker.PID)}
	for i := 1; i < 50; i++ {
		targets = append(targets, target(fmt.Sprintf("idle%d", i), startSleeper(b)))
	}

	for _, kind := range readerKinds {
		s := newTestScanner(b, kind)
		testchild.WaitFor(b, "50 CLOSE_WAIT", func() bool { return len(closeWaitTo(b, s.reader, 0, addr)) == 50 })
		for _, n := range []int{1, 10, 50} {
			b.Run(fmt.Sprintf("reader=%s/targets=%d", kind, n), func(b *testing.B) {
				tg := targets[:n]
				// Steady state: persistence reached, owners cached.
				s.Scan(tg)
				if r := s.Scan(tg)[0]; r.CloseWait != 50 {
					b.Fatalf("leaker shows %d persistent sockets, want 50", r.CloseWait)
				}
				b.ReportAllocs()
				cpu := cpuTime()
				for b.Loop() {
					s.Scan(tg)
				}
				b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
			})
		}
	}
	for _, args := range [][]string{{"-tn", "state", "close-wait"}, {"-tnp", "state", "close-wait"}} {
		b.Run("ss"+args[0], func(b *testing.B) {
			if _, err := exec.LookPath("ss"); err != nil {
				b.Skip("ss not installed")
			}
			var cpu time.Duration
			for b.Loop() {
				cmd := exec.Command("ss", args...)
				if err := cmd.Run(); err != nil {
					b.Fatal(err)
				}
				cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			}
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the user+system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// startSleeper starts a process that does nothing, as a cheap extra target.
func startSleeper(tb testing.TB) int {
	tb.Helper()
	cmd := exec.Command("sleep", "infinity")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd.Process.Pid
}
