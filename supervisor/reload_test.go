//go:build linux

package supervisor

import (
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// threadBlocked is the signal mask of the calling thread, from
// /proc/thread-self/status.
func threadBlocked(t *testing.T) uint64 {
	t.Helper()
	data, err := os.ReadFile("/proc/thread-self/status")
	if err != nil {
		t.Fatal(err)
	}
	for l := range strings.Lines(string(data)) {
		if v, ok := strings.CutPrefix(l, "SigBlk:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return mask
		}
	}
	t.Fatal("no SigBlk in /proc/thread-self/status")
	return 0
}

// While f runs, its thread blocks the signals sent to resreap (so the
// kernel hands them to another thread) but not those of its own faults;
// afterwards the thread has its mask back.
func TestOffSignalsBlocksAsyncSignalsOnly(t *testing.T) {
	runtime.LockOSThread() // the same thread before, in and after f
	defer runtime.UnlockOSThread()
	bit := func(sig unix.Signal) uint64 { return 1 << (sig - 1) }
	before := threadBlocked(t)
	var during uint64
	offSignals(func() { during = threadBlocked(t) })
	for _, sig := range []unix.Signal{unix.SIGTERM, unix.SIGINT, unix.SIGHUP, unix.SIGCHLD, unix.SIGQUIT, unix.SIGURG} {
		if during&bit(sig) == 0 {
			t.Errorf("%v not blocked while f runs (SigBlk %016x)", sig, during)
		}
	}
	for _, sig := range []unix.Signal{unix.SIGSEGV, unix.SIGBUS, unix.SIGFPE, unix.SIGILL, unix.SIGTRAP, unix.SIGSYS, unix.SIGABRT} {
		if during&bit(sig) != 0 {
			t.Errorf("%v blocked while f runs: a fault would kill resreap (SigBlk %016x)", sig, during)
		}
	}
	if after := threadBlocked(t); after != before {
		t.Errorf("SigBlk %016x after f, %016x before", after, before)
	}
}
