//go:build linux

package watch

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/resreap/resreap/health"
	"github.com/resreap/resreap/internal/cgroup"
	"github.com/resreap/resreap/internal/cgroup/cgrouptest"
	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/testchild"
)

// leakerIn is leaker for a helper started inside g (clone3
// CLONE_INTO_CGROUP), in mode "leak" or "parent" (a parent whose child
// leaks; the helper's PID is the child's).
func leakerIn(t *testing.T, g cgroup.Group, mode string, n int) (*helper, string) {
	t.Helper()
	addr := testchild.ClosingListener(t, "127.0.0.1:0")
	f, err := g.OpenFD()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	token := fmt.Sprintf("watch-helper-%d-%s", os.Getpid(), strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()))
	c := testchild.Start(t, testchild.Spec{Mode: mode, N: n, Addr: addr, Token: token, SigLog: true, CgroupFD: int(f.Fd())})
	return &helper{Child: c, token: token}, addr
}

// A process alone in its cgroup, as a systemd service is, is judged by the
// cgroup id of its sockets, and the evidence still names it. (Its fd
// table may still be read, once, if some other process of the host holds
// persistent CLOSE_WAIT sockets meanwhile: see cgroups.)
func TestAloneInCgroupJudgedByID(t *testing.T) {
	h, addr := leakerIn(t, cgrouptest.New(t), "leak", 3)
	sum, recs := runOnce(t, optsFor(h))
	if sum.Verdicts != 1 || sum.Stopped != 1 || len(recs) != 2 || recs[0].Event != history.EventUnhealthy {
		t.Fatalf("summary %+v events %v, want one verdict and a stop", sum, events(recs))
	}
	ev := recs[0].Evidence
	if recs[0].PID != h.PID || ev == nil || ev.Reason != health.ReasonCloseWait || ev.CloseWait != 3 || ev.ByForeign[addr] != 3 {
		t.Errorf("verdict %+v evidence %+v, want pid %d and 3 CLOSE_WAIT to %s", recs[0], ev, h.PID, addr)
	}
	for _, s := range ev.Samples {
		if s.PID != h.PID {
			t.Errorf("sample %+v, want pid %d", s, h.PID)
		}
	}
	if sum.ByCgroup != 6 {
		t.Errorf("summary %+v: want its 3 sockets given by cgroup id at both scans", sum)
	}
}

// Processes that share a cgroup cannot be told apart by its id: each is
// judged by walking its own fd table, and only the leaking one is acted on.
func TestSharedCgroupWalks(t *testing.T) {
	h, _ := leakerIn(t, cgrouptest.New(t), "parent", 3) // the parent and its leaking child
	o := optsFor(h)
	o.Act = false
	sum, recs := runOnce(t, o)
	if sum.Candidates != 2 || sum.Verdicts != 1 || len(recs) != 1 || recs[0].PID != h.PID {
		t.Fatalf("summary %+v records %+v, want 2 candidates and a verdict on pid %d", sum, recs, h.PID)
	}
	if sum.ByCgroup != 0 || sum.FDTables == 0 {
		t.Errorf("summary %+v: want no socket by cgroup, fd tables read", sum)
	}
	if s := recs[0].Evidence.Samples[0]; s.PID != h.PID {
		t.Errorf("sample %+v, want pid %d", s, h.PID)
	}
	if !h.Alive() {
		t.Error("the helper died: --once without --act signals nothing")
	}
}

// The cgroup of each candidate is read once per tick, however many
// candidates share it; the next tick reads it again.
func TestCgroupsReadOncePerTick(t *testing.T) {
	c := newCgroups("/proc", realProc())
	testchild.Need(t, "a cgroup2 hierarchy whose sockets carry cgroup ids", c.h.Mount != "")
	g := cgrouptest.New(t)
	f, err := g.OpenFD()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	one := testchild.Start(t, testchild.Spec{Mode: "idle", CgroupFD: int(f.Fd())})
	shared := cgrouptest.New(t)
	sf, err := shared.OpenFD()
	if err != nil {
		t.Fatal(err)
	}
	defer sf.Close()
	a := testchild.Start(t, testchild.Spec{Mode: "idle", CgroupFD: int(sf.Fd())})
	b := testchild.Start(t, testchild.Spec{Mode: "idle", CgroupFD: int(sf.Fd())})

	c.newTick()
	id, dir, ok := c.alone(one.PID)
	if want, _ := g.ID(); !ok || id != want || dir != g.Dir() {
		t.Errorf("alone(%d) = %d %q %v, want %d %q", one.PID, id, dir, ok, want, g.Dir())
	}
	for _, pid := range []int{a.PID, b.PID} {
		if _, _, ok := c.alone(pid); ok {
			t.Errorf("pid %d alone in a cgroup of two", pid)
		}
	}
	if len(c.groups) != 2 {
		t.Errorf("cgroups read this tick: %v, want 2", c.groups)
	}
	// Within a tick the answer stands; the next tick reads again.
	b.CloseStdin()
	b.Wait(t)
	if _, _, ok := c.alone(a.PID); ok {
		t.Error("the answer of this tick changed within it")
	}
	testchild.WaitFor(t, "a alone in its cgroup", func() bool {
		c.newTick()
		_, _, ok := c.alone(a.PID)
		return ok
	})
}
