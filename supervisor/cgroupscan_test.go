//go:build linux

package supervisor

import (
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/resreap/resreap/health"
	"github.com/resreap/resreap/internal/cgroup"
	"github.com/resreap/resreap/internal/cgroup/cgrouptest"
	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/testchild"
)

// bigLeakerSpec is leakerSpec for a child that holds fds more fds besides
// its n CLOSE_WAIT sockets, with the fd check on (15,000 of the 20,000
// the machine allows stays under its ratio).
func bigLeakerSpec(name, addr string, n, fds int) config.ChildSpec {
	spec := leakerSpec(name, addr, n)
	spec.Env[testchild.HoldFDsEnv] = strconv.Itoa(fds)
	spec.Health.Policy.FDs = health.FDPolicy{MaxRatio: 0.9, Persist: 2}
	return spec
}

// scanCounter sums the fd tables the health scans read (Options.OnScan).
type scanCounter struct{ scans, fdTables atomic.Int64 }

func (c *scanCounter) onScan(r ScanReport) {
	c.scans.Add(1)
	c.fdTables.Add(int64(r.FDTables))
}

// firstRestart waits for the child's first close_wait restart and returns
// the evidence of its stop record.
func firstRestart(t *testing.T, h *harness, name string) (history.Record, *health.Evidence) {
	t.Helper()
	recs := h.hist.waitFor(t, 60*time.Second, "a close_wait restart", func(r []history.Record) bool {
		return count(r, name, history.EventRestart) >= 1
	})
	for _, r := range recs {
		if r.Child == name && r.Event == history.EventStop {
			if r.Reason != history.ReasonCloseWait || r.Evidence == nil || r.Evidence.Reason != health.ReasonCloseWait {
				t.Fatalf("stop %+v evidence %+v, want close_wait", r, r.Evidence)
			}
			return r, r.Evidence
		}
	}
	t.Fatalf("no stop record:\n%s", dumpRecords(recs))
	return history.Record{}, nil
}

// A child in a cgroup that holds 15,000 fds and leaks CLOSE_WAIT sockets
// is restarted for close_wait without a single fd table read: its
// sockets carry its cgroup's id. The fd check still counts its fds, and
// the status shows its CLOSE_WAIT sockets before any has persisted.
func TestCgroupLeakerJudgedWithoutFDTables(t *testing.T) {
	cgrouptest.Need(t)
	addr := testchild.ClosingListener(t, "127.0.0.1:0")
	var sc scanCounter
	h := startConfig(t, cgroupConfig(t, config.CgroupAuto, bigLeakerSpec("fe", addr, 5, 15000)), Options{OnScan: sc.onScan})
	t.Cleanup(func() { stopAndCheckSubtree(t, h) })

	stop, ev := firstRestart(t, h, "fe")
	if mode, subtree := h.sup.Ownership(); mode != OwnCgroup {
		t.Fatalf("ownership %s (%s), want cgroup", mode, subtree)
	}
	if ev.CloseWait != 5 || len(ev.Samples) != 5 || ev.ByForeign[addr] != 5 {
		t.Errorf("evidence %+v, want 5 sockets to %s", ev, addr)
	}
	for _, s := range ev.Samples {
		if s.PID != 0 {
			t.Errorf("sample %+v: PID %d, want 0 (owner by cgroup, not looked up)", s, s.PID)
		}
	}
	if ev.FDs == nil || ev.FDs.PID != stop.PID || ev.FDs.Open < 15000 {
		t.Errorf("fd usage %+v, want >= 15000 open in %d", ev.FDs, stop.PID)
	}
	// The next process leaks at once too: its first scan counts its
	// sockets, none persistent yet.
	testchild.WaitFor(t, "a scan counting CLOSE_WAIT now", func() bool {
		for _, st := range h.sup.Status() {
			if st.Name == "fe" && st.PID != stop.PID && st.Health.CloseWaitNow == 5 {
				return true
			}
		}
		return false
	})
	if n := sc.fdTables.Load(); n != 0 || sc.scans.Load() == 0 {
		t.Errorf("%d fd tables read over %d scans, want none", n, sc.scans.Load())
	}
}

// stopAndCheckSubtree stops the supervisor and fails the test if its
// cgroup subtree is left behind.
func stopAndCheckSubtree(t *testing.T, h *harness) {
	_, subtree := h.sup.Ownership()
	h.stop()
	hi, err := cgroup.Detect()
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	if g, err := hi.Group(subtree); err == nil {
		if ok, _ := g.Exists(); ok {
			t.Errorf("cleanup: subtree %s left after shutdown", subtree)
		}
	}
}

// With cgroup = "off" a leaking child is judged by fd walks: the owner of
// the sockets is found in its fd table, and the samples name it. (1,000
// fds rather than 15,000: under -race, checkptr aborts the walk of a
// table that takes more than one getdents buffer, see procfile.DirFD.)
func TestCgroupOffLeakerJudgedByFDWalk(t *testing.T) {
	addr := testchild.ClosingListener(t, "127.0.0.1:0")
	var sc scanCounter
	h := startConfig(t, cgroupConfig(t, config.CgroupOff, bigLeakerSpec("fe", addr, 5, 1000)), Options{OnScan: sc.onScan})
	stop, ev := firstRestart(t, h, "fe")
	if ev.CloseWait != 5 || len(ev.Samples) != 5 {
		t.Errorf("evidence %+v, want 5 sockets", ev)
	}
	for _, s := range ev.Samples {
		if s.PID != stop.PID {
			t.Errorf("sample %+v, want pid %d", s, stop.PID)
		}
	}
	if n := sc.fdTables.Load(); n == 0 {
		t.Error("no fd table read: the walk did not run")
	}
	if st := h.sup.Status()[0]; st.Health.CloseWaitNow != -1 && !st.HealthAt.IsZero() {
		t.Errorf("CloseWaitNow %d without a cgroup, want -1", st.Health.CloseWaitNow)
	}
}
