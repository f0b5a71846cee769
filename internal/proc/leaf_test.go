//go:build linux

package proc

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/cgroup"
	"github.com/resreap/resreap/internal/cgroup/cgrouptest"
	"github.com/resreap/resreap/internal/testchild"
)

// A process started in a cgroup is there from its first instruction, with
// everything it forks; its stop takes the whole cgroup and returns once
// the cgroup is empty.
func TestCgroupStartAndStop(t *testing.T) {
	g := cgrouptest.New(t)
	c := helper(t, "grandchild")
	c.Cgroup = g
	p := spawn(t, c)
	grandchild := readyGrandchild(t, p)
	if p.Cgroup() != g {
		t.Errorf("Cgroup() = %v, want %v", p.Cgroup(), g)
	}
	if path, err := cgroup.ProcCgroup(p.PID()); err != nil || path != g.Path() {
		t.Errorf("pid %d in cgroup %q (%v), want %q", p.PID(), path, err, g.Path())
	}
	if procs, err := g.Procs(); err != nil || !slices.Contains(procs, grandchild) {
		t.Errorf("cgroup holds %v (%v), want the grandchild %d too", procs, err, grandchild)
	}
	s := p.Stop(Plan{Steps: []Step{{Signal: unix.SIGTERM, Wait: 200 * time.Millisecond}}})
	if s.Err != nil || !s.Killed || sentNames(s) != "TERM,KILL" {
		t.Errorf("stop: err %v, sent %s, killed %v; want TERM,KILL and killed", s.Err, sentNames(s), s.Killed)
	}
	ctx := context.Background()
	if !CgroupEmptyBy(ctx, g, time.Now()) {
		t.Error("cgroup not empty when the stop returned")
	}
	if err := KillCgroup(ctx, g); err != nil && !errors.Is(err, ErrGone) {
		t.Errorf("KillCgroup of the empty cgroup: %v, want nil or ErrGone", err)
	}
	missing, err := g.Child("missing")
	if err != nil {
		t.Fatal(err)
	}
	if err := KillCgroup(ctx, missing); !errors.Is(err, ErrGone) {
		t.Errorf("KillCgroup of a cgroup that does not exist: %v, want ErrGone", err)
	}
	if !CgroupEmptyBy(ctx, missing, time.Now()) {
		t.Error("a cgroup that does not exist is not empty")
	}
}

// A cgroup of processes that are not children of this process (a dead
// supervisor's) is stopped through the cgroup alone.
func TestCgroupTarget(t *testing.T) {
	g := cgrouptest.New(t)
	c := helper(t, "ignore-term")
	c.Cgroup = g
	p := spawn(t, c)
	ready(t, p)
	faults := &cgroup.Faults{}
	e := Escalate(context.Background(), CgroupTarget{Cgroup: g, Faults: faults},
		Plan{Steps: []Step{{Signal: unix.SIGTERM, Wait: 200 * time.Millisecond}}, KillWait: testchild.Timeout})
	if e.Err != nil || !e.Exited || !e.KillSent() || len(e.SignalsSent) != 2 {
		t.Errorf("escalation: %+v; want TERM, then KILL and exited", e)
	}
	if sig, _ := waitExit(t, p).Signal(); sig != unix.SIGKILL {
		t.Errorf("the process ended by %v, want KILL", sig)
	}
	if err := (CgroupTarget{Cgroup: g}).Signal(unix.SIGTERM); !errors.Is(err, ErrGone) {
		t.Errorf("Signal to the empty cgroup: %v, want ErrGone", err)
	}
	if fs := faults.List(); len(fs) > 0 {
		t.Errorf("faults %v", fs)
	}
}

// An operator's signal reaches every process of the child (its cgroup,
// or without one its process group), or with mainOnly the main process
// alone.
func TestSend(t *testing.T) {
	for _, inCgroup := range []bool{false, true} {
		t.Run("cgroup "+strconv.FormatBool(inCgroup), func(t *testing.T) {
			c := helper(t, "grandchild")
			if inCgroup {
				c.Cgroup = cgrouptest.New(t)
			}
			p := spawn(t, c)
			grandchild := readyGrandchild(t, p)
			stopped := func(pid int) bool { return procState(pid) == "T" }
			send := func(sig unix.Signal, mainOnly bool) {
				t.Helper()
				if err := p.Send(sig, mainOnly); err != nil {
					t.Fatal(err)
				}
			}
			send(unix.SIGSTOP, true)
			testchild.WaitFor(t, "the main process to stop", func() bool { return stopped(p.PID()) })
			if stopped(grandchild) {
				t.Error("the grandchild stopped too; the signal was for the main process only")
			}
			send(unix.SIGCONT, true)
			testchild.WaitFor(t, "the main process to go on", func() bool { return !stopped(p.PID()) })
			send(unix.SIGSTOP, false)
			testchild.WaitFor(t, "both to stop", func() bool { return stopped(p.PID()) && stopped(grandchild) })
			send(unix.SIGCONT, false)
			testchild.WaitFor(t, "both to go on", func() bool { return !stopped(p.PID()) && !stopped(grandchild) })
		})
	}
}
