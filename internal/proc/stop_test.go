//go:build linux

package proc

import (
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/signame"
	"github.com/resreap/resreap/internal/testchild"
)

// sentNames lists the signals a stop sent: "TERM,KILL".
func sentNames(s Stopped) string {
	var names []string
	for _, sent := range s.SignalsSent {
		names = append(names, signame.Name(sent.Signal))
	}
	return strings.Join(names, ",")
}

// A stop sends each step's signal to the process and its group, and KILL
// when they do not end it; the exit it reports is the reaped one.
func TestStop(t *testing.T) {
	for _, tc := range []struct {
		mode   string
		sent   string // the signals sent
		ended  unix.Signal
		killed bool
	}{
		{"idle", "TERM", unix.SIGTERM, false},
		{"ignore-term", "TERM,KILL", unix.SIGKILL, true},
		// It left its process group for the test's: the signals still
		// reach it, sent to the process itself too.
		{"leave-group", "TERM,KILL", unix.SIGKILL, true},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			p := spawn(t, helper(t, tc.mode))
			ready(t, p)
			s := p.Stop(Plan{Steps: []Step{{Signal: unix.SIGTERM, Wait: 200 * time.Millisecond}}, KillWait: testchild.Timeout})
			sig, _ := s.Exit.Signal()
			if s.Err != nil || !s.Exited || sentNames(s) != tc.sent || sig != tc.ended || s.Killed != tc.killed || s.Exit.PID != p.PID() {
				t.Errorf("stop: err %v, exited %v, sent %s, exit %s, killed %v; want sent %s, ended by %s, killed %v",
					s.Err, s.Exited, sentNames(s), s.Exit, s.Killed, tc.sent, signame.Name(tc.ended), tc.killed)
			}
			if len(s.Faults) > 0 {
				t.Errorf("faults %v in a stop without a cgroup", s.Faults)
			}
		})
	}
}

// A stopped process (SIGSTOP, ^Z) is woken with SIGCONT after each stop
// signal, so TERM ends it at once instead of the step's wait going by.
func TestStopWakesAStoppedProcess(t *testing.T) {
	p := spawn(t, helper(t, "idle"))
	ready(t, p)
	if err := unix.Kill(p.PID(), unix.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	testchild.WaitFor(t, "the helper to be stopped", func() bool { return procState(p.PID()) == "T" })
	const wait = 20 * time.Second
	s := p.Stop(Plan{Steps: []Step{{Signal: unix.SIGTERM, Wait: wait}}})
	if sig, _ := s.Exit.Signal(); sig != unix.SIGTERM || s.Killed || s.Duration >= wait {
		t.Errorf("stop of a stopped process: exit %s, killed %v after %s; want TERM well within %s", s.Exit, s.Killed, s.Duration, wait)
	}
}

// The whole process group goes with the process: a grandchild that
// ignores TERM is killed with its parent.
func TestStopTakesTheGroup(t *testing.T) {
	p := spawn(t, helper(t, "grandchild"))
	grandchild := readyGrandchild(t, p)
	s := p.Stop(Plan{Steps: []Step{{Signal: unix.SIGTERM, Wait: 200 * time.Millisecond}}})
	if !s.Killed || sentNames(s) != "TERM,KILL" {
		t.Errorf("stop: sent %s, killed %v; want TERM,KILL and killed", sentNames(s), s.Killed)
	}
	testchild.WaitFor(t, "the grandchild to be gone", func() bool { return gone(grandchild) })
}
