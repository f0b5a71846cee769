//go:build linux

package proc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/signame"
)

// scriptedTarget is a Target whose signals fail or end it as the test
// says: the escalation engine's control flow, apart from any process.
type scriptedTarget struct {
	fail   map[unix.Signal]error // Signal returns this for the signal
	diesOn unix.Signal           // the target exits once sent this; 0: never
	tried  []string              // signals Signal was called with
	waited time.Duration         // total of the waits asked for
	dead   bool
}

func (t *scriptedTarget) Signal(sig unix.Signal) error {
	t.tried = append(t.tried, signame.Name(sig))
	if err := t.fail[sig]; err != nil {
		return err
	}
	if sig == t.diesOn {
		t.dead = true
	}
	return nil
}

func (t *scriptedTarget) Wait(_ context.Context, d time.Duration) bool {
	t.waited += d
	return t.dead
}

// Escalate fails closed: a signal it cannot send is noted and the next
// step follows at once; KILL always comes, and its wait is waited even
// when it could not be sent; only a target alive at the end is an error.
func TestEscalateFailsClosed(t *testing.T) {
	broken := errors.New("pidfd_open: too many open files")
	steps := []Step{{Signal: unix.SIGTERM, Wait: time.Second}, {Signal: unix.SIGQUIT, Wait: 2 * time.Second}}
	const killWait = 3 * time.Second
	for _, tc := range []struct {
		name   string
		target scriptedTarget
		// want: the signals tried, sent and not delivered, the exit, the
		// waits asked for and the error
		tried, sent, undelivered string
		exited                   bool
		waited                   time.Duration
		err                      string
	}{
		{name: "TERM works", target: scriptedTarget{diesOn: unix.SIGTERM},
			tried: "TERM", sent: "TERM", exited: true, waited: time.Second},
		{name: "TERM fails, QUIT works", target: scriptedTarget{fail: map[unix.Signal]error{unix.SIGTERM: broken}, diesOn: unix.SIGQUIT},
			tried: "TERM,QUIT", sent: "QUIT", undelivered: "TERM", exited: true, waited: 2 * time.Second},
		{name: "soft signals fail, KILL works", target: scriptedTarget{fail: map[unix.Signal]error{unix.SIGTERM: broken, unix.SIGQUIT: broken}, diesOn: unix.SIGKILL},
			tried: "TERM,QUIT,KILL", sent: "KILL", undelivered: "TERM,QUIT", exited: true, waited: killWait},
		{name: "nothing can be sent", target: scriptedTarget{fail: map[unix.Signal]error{unix.SIGTERM: broken, unix.SIGQUIT: broken, unix.SIGKILL: broken}},
			tried: "TERM,QUIT,KILL", undelivered: "TERM,QUIT,KILL", waited: killWait, err: "could not be sent"},
		{name: "alive after KILL", target: scriptedTarget{},
			tried: "TERM,QUIT,KILL", sent: "TERM,QUIT,KILL", waited: time.Second + 2*time.Second + killWait, err: "after KILL (uninterruptible sleep?)"},
		{name: "gone at TERM", target: scriptedTarget{fail: map[unix.Signal]error{unix.SIGTERM: fmt.Errorf("pid 1: %w", ErrGone)}},
			tried: "TERM", exited: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := Escalate(context.Background(), &tc.target, Plan{Steps: steps, KillWait: killWait})
			var sent, undelivered []string
			for _, s := range e.SignalsSent {
				sent = append(sent, signame.Name(s.Signal))
			}
			for _, err := range e.Undelivered {
				undelivered = append(undelivered, strings.SplitN(err.Error(), ":", 2)[0])
				if !errors.Is(err, broken) {
					t.Errorf("undelivered %v does not wrap why", err)
				}
			}
			have := fmt.Sprintf("tried %s sent %s undelivered %s exited %v waited %s",
				strings.Join(tc.target.tried, ","), strings.Join(sent, ","), strings.Join(undelivered, ","), e.Exited, tc.target.waited)
			want := fmt.Sprintf("tried %s sent %s undelivered %s exited %v waited %s", tc.tried, tc.sent, tc.undelivered, tc.exited, tc.waited)
			if have != want {
				t.Errorf("\nhave %s\nwant %s", have, want)
			}
			switch {
			case tc.err == "" && e.Err != nil:
				t.Errorf("Err = %v, want none", e.Err)
			case tc.err != "" && (e.Err == nil || !strings.Contains(e.Err.Error(), tc.err)):
				t.Errorf("Err = %v, want %q", e.Err, tc.err)
			case tc.err != "" && len(e.Undelivered) > 0 && !errors.Is(e.Err, broken):
				t.Errorf("Err = %v does not wrap the signals that could not be sent", e.Err)
			}
		})
	}
}
