//go:build linux

package proc

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/cgroup"
	"github.com/resreap/resreap/internal/signame"
)

// Process is one process started by a Reaper (Spawn): the main process of
// a child, or a hook. It leads its own process group (its PID is the
// group ID). Its PID, start time, cgroup and outputs never change; the
// Reaper sends its exit once on Exit. A Process is made by Spawn only:
// its zero value is not one.
type Process struct {
	pid     int
	started time.Time
	exit    chan ExitStatus // buffered 1; the Reaper sends the exit once
	outputs []*os.File      // read ends of the stdout/stderr pipes
	leaf    cgroup.Group    // the cgroup it was started in; zero: none
	// keepGroup: the Reaper does not kill the process group at the
	// reap (Command.KeepGroup).
	keepGroup bool

	// mu is held by the Reaper across the reap and by kill across
	// kill(2): a signal is only ever sent while the process is unreaped,
	// when its PID and group ID are provably still its own.
	mu     sync.Mutex
	reaped bool
}

// PID is the process's ID, and the ID of the process group it leads.
func (p *Process) PID() int { return p.pid }

// Started is when the process was forked.
func (p *Process) Started() time.Time { return p.started }

// Exit receives how the process ended, once, when the Reaper has reaped
// it. It has one receiver: whoever owns the process (for a supervised
// child, its owner goroutine). A Target of the process (see Target)
// receives from it too, for that owner.
func (p *Process) Exit() <-chan ExitStatus { return p.exit }

// Cgroup is the cgroup the process was started in; the zero Group when
// it was started in its parent's.
func (p *Process) Cgroup() cgroup.Group { return p.leaf }

// Outputs are the read ends of the process's stdout (index 0) and stderr
// (index 1) pipes, nil for an output the Command sent to /dev/null. The
// caller reads them until EOF and closes them.
func (p *Process) Outputs() []*os.File { return p.outputs }

// Signal sends sig to the process and to its process group: the process
// itself too, because it may have left its group (setpgid into another)
// and would then escape a group signal. It fails with ErrGone once the
// process has been reaped, having sent nothing.
func (p *Process) Signal(sig unix.Signal) error { return p.kill(sig, true, false) }

// stopSignal is Signal for a step of a stop: SIGCONT follows the signal
// (see wakes), to the same process and group.
func (p *Process) stopSignal(sig unix.Signal) error { return p.kill(sig, true, true) }

// SignalMain sends sig to the process alone, not to its group or cgroup
// (a server whose workers must not get HUP). It fails with ErrGone once
// the process has been reaped.
func (p *Process) SignalMain(sig unix.Signal) error { return p.kill(sig, false, false) }

// kill sends sig to the process, and with group to its process group, only
// while it is unreaped; with cont, SIGCONT follows where wakes says.
func (p *Process) kill(sig unix.Signal, group, cont bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.reaped {
		return fmt.Errorf("pid %d: %w", p.pid, ErrGone)
	}
	// An unreaped process (a zombie included) accepts the signal, so an
	// error here is EPERM, not a process that went away.
	if err := unix.Kill(p.pid, sig); err != nil {
		return fmt.Errorf("pid %d: signal %s: %w", p.pid, signame.Name(sig), err)
	}
	if group {
		unix.Kill(-p.pid, sig) //nolint:errcheck // ESRCH: the process left its group, which is then empty
	}
	if cont && wakes(sig) {
		unix.Kill(p.pid, unix.SIGCONT) //nolint:errcheck // it took sig; CONT is only a wake-up
		if group {
			unix.Kill(-p.pid, unix.SIGCONT) //nolint:errcheck // as above
		}
	}
	return nil
}

// wakes reports whether a stop sends SIGCONT after sig, as systemd does
// after each of its stop signals: a process stopped by SIGSTOP (or ^Z)
// acts on no signal but KILL until it is continued, so without the CONT
// every soft step would be waited out in vain. KILL needs none (it ends a
// stopped process too); a stop-class signal would be undone by one.
func wakes(sig unix.Signal) bool {
	switch sig {
	case unix.SIGKILL, unix.SIGCONT, unix.SIGSTOP, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU:
		return false
	}
	return true
}

// Send delivers an operator's signal: to the main process only with
// mainOnly, else to every process of the cgroup, or without a cgroup to
// the process and its group. Unlike a stop's signals, it is not followed
// by SIGCONT.
func (p *Process) Send(sig unix.Signal, mainOnly bool) error {
	switch {
	case mainOnly:
		return p.SignalMain(sig)
	case p.leaf != (cgroup.Group{}):
		_, err := signalLeaf(context.Background(), p.leaf, sig, false)
		return err
	}
	return p.Signal(sig)
}
