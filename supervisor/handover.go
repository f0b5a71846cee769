//go:build linux

package supervisor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/cgroup"
	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/proc"
)

// A program that upgrades itself forks its successor, hands it the
// listening sockets and exits (tableflip, nginx's USR2 binary upgrade).
// Its exit is no crash: the successor serves. It names itself with
// MAINPID= on the notify socket, or the child's pid_file names it when
// the old main process exits, and resreap follows it, as systemd does: the
// child stays Running with the new main PID, its exit is the child's
// exit, and a stop signals its cgroup. The successor must be in the
// generation's cgroup (it was forked there), so a hand-over needs
// cgroups: without them MAINPID= is logged and ignored, and the exit of
// the main process ends the child as before.
//
// The successor is no child of resreap's (it was re-parented to resreap
// as the subreaper, and the Reaper reaps it as an orphan), so its exit is
// seen through a pidfd, and its exit status is not known.

// followed is the successor a child follows after a hand-over.
type followed struct {
	pid    int
	since  time.Time
	pidfd  int           // readable once the process has exited
	cancel [2]int        // a pipe: closing its write end ends the watch
	exit   chan struct{} // closed when the process has exited, or the watch ended
}

// noteMainPID records MAINPID= from sender, for the exit of the current
// main process.
func (c *child) noteMainPID(value string, sender int) {
	pid, err := strconv.Atoi(value)
	switch {
	case err != nil || pid <= 0:
		c.log.Warn().Str("mainpid", value).Msg("MAINPID= ignored: not a PID")
		return
	case c.proc.Cgroup() == (cgroup.Group{}):
		c.log.Warn().Int("mainpid", pid).Msg("MAINPID= ignored: following a new main process needs cgroups")
		return
	case pid == c.proc.PID():
		c.mainPID = 0
		return
	}
	c.mainPID = pid
	c.log.Info().Int("mainpid", pid).Int("from", sender).Msg(c.name + ": the new main process will be " + strconv.Itoa(pid))
}

// successor returns the process a hand-over names for p, which exited:
// MAINPID= if given, else the pid_file's; 0 when there is none or it is
// not alive in p's cgroup.
func (c *child) successor(p *proc.Process) int {
	leaf := p.Cgroup()
	if leaf == (cgroup.Group{}) {
		return 0
	}
	pid := c.mainPID
	if pid == 0 && c.spec.PidFile != "" {
		data, err := os.ReadFile(c.spec.PidFile)
		if err == nil {
			pid, _ = strconv.Atoi(string(bytes.TrimSpace(data)))
		}
	}
	if pid <= 0 || pid == p.PID() {
		return 0
	}
	if path, err := cgroup.ProcCgroup(pid); err != nil || path != leaf.Path() {
		c.log.Warn().Int("mainpid", pid).Str("cgroup", path).Msg("the named successor is not in the child's cgroup: not followed")
		return 0
	}
	return pid
}

// followSuccessor takes over the successor of p, whose exit was ex, and
// reports whether there is one: the child then stays Running with the
// successor as its main process.
func (c *child) followSuccessor(p *proc.Process, ex proc.ExitStatus) bool {
	c.takeNotices()
	pid := c.successor(p)
	c.mainPID = 0
	if pid == 0 {
		return false
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		c.log.Warn().Err(err).Int("mainpid", pid).Msg("cannot follow the successor")
		return false
	}
	f := &followed{pid: pid, since: time.Now(), pidfd: fd, exit: make(chan struct{})}
	if path, err := cgroup.ProcCgroup(pid); err != nil || path != p.Cgroup().Path() {
		unix.Close(fd) // gone, or not the process checked a moment ago
		return false
	}
	if err := unix.Pipe2(f.cancel[:], unix.O_CLOEXEC); err != nil {
		unix.Close(fd)
		c.log.Warn().Err(err).Int("mainpid", pid).Msg("cannot follow the successor")
		return false
	}
	go f.watch()
	c.follow = f
	c.update(func(s *ChildStatus) { s.PID, s.Started = pid, f.since })
	c.setGens(genRef{pid: pid, leaf: p.Cgroup().Path()})
	c.sup.record(c.log.Info(), history.Record{Child: c.spec.Name, PID: p.PID(), Event: history.EventExit, Reason: history.ReasonExited,
		Uptime: history.Duration(ex.At.Sub(p.Started())), Message: fmt.Sprintf("%s; handed over to pid %d, followed as the main process", ex, pid)})
	return true
}

// watch closes f.exit when the process has exited (its pidfd turns
// readable) or the watch is cancelled (the pipe's write end closed). It
// blocks in poll(2) on a thread of its own: one per followed child.
func (f *followed) watch() {
	defer close(f.exit)
	fds := []unix.PollFd{{Fd: int32(f.pidfd), Events: unix.POLLIN}, {Fd: int32(f.cancel[0]), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(fds, -1)
		if err != unix.EINTR {
			return
		}
	}
}

// followExit is the channel that closes when the followed successor
// exits; nil when none is followed.
func (c *child) followExit() <-chan struct{} {
	if c.follow == nil {
		return nil
	}
	return c.follow.exit
}

// unfollow ends the watch of the successor.
func (c *child) unfollow() {
	f := c.follow
	if f == nil {
		return
	}
	unix.Close(f.cancel[1])
	<-f.exit
	unix.Close(f.cancel[0])
	unix.Close(f.pidfd)
	c.follow = nil
}

// followExited handles the exit of the followed successor as the exit of
// the child's main process: what is left in the cgroup is killed, the
// restart policy applies. Its exit status is unknown (see above).
func (c *child) followExited() {
	f := c.follow
	c.unfollow()
	p := c.proc
	c.setProc(nil)
	c.setGens()
	c.cancelTimer()
	if !c.killRemains(p) {
		c.linger(p, true)
	}
	uptime := time.Since(f.since)
	rec := history.Record{Child: c.spec.Name, PID: f.pid, Event: history.EventExit, Reason: history.ReasonExited,
		Uptime: history.Duration(uptime), Message: "the main process after a hand-over exited (its status is not known to resreap)"}
	c.update(func(s *ChildStatus) {
		s.ended(history.ReasonExited, "exited (status unknown)", -1)
		s.LastFailed = true
	})
	if c.sup.isClosing() || c.spec.Restart == config.RestartNever {
		c.setState(Exited)
		c.sup.record(c.log.Info(), rec)
		return
	}
	c.failed(rec, uptime, false)
}

// stopFollowed stops a child whose main process is a followed successor:
// the escalation goes to every process of the generation's cgroup, and
// the stop is over when the cgroup is empty.
func (c *child) stopFollowed(p *proc.Process) StopReport {
	f := c.follow
	rep := StopReport{PID: f.pid}
	faults := &cgroup.Faults{}
	e := proc.Escalate(context.Background(), proc.CgroupTarget{Cgroup: p.Cgroup(), Faults: faults}, stopPlan(c.spec.Stop))
	for _, err := range e.Undelivered {
		faults.Add(cgroup.HelperSignal, err)
	}
	c.unfollow()
	rep.SignalsSent, rep.Duration, rep.Err, rep.Faults = signalsSent(e.SignalsSent), e.Duration, e.Err, faults.List()
	rep.Killed = e.KillSent() && e.Exited
	// The status is the escalation's: the successor is not resreap's child.
	rep.Exit = proc.ExitStatus{PID: f.pid, At: time.Now()}
	if errors.Is(e.Err, proc.ErrGone) {
		rep.Err = nil
	}
	return rep
}

// mainPIDNow is the PID of the child's main process: the followed
// successor's after a hand-over, else the started process's; 0 when none.
func (c *child) mainPIDNow() int {
	switch {
	case c.follow != nil:
		return c.follow.pid
	case c.proc != nil:
		return c.proc.PID()
	}
	return 0
}

// isMain reports whether pid is the main process of the child's
// generation p: p itself, or the successor p handed over to. The health
// loop asks it without waiting for the child's goroutine.
func (c *child) isMain(p *proc.Process, pid int) bool {
	if p.PID() == pid {
		return true
	}
	c.gensMu.Lock()
	defer c.gensMu.Unlock()
	for _, g := range c.gens {
		if g.pid == pid && g.leaf != "" && g.leaf == p.Cgroup().Path() {
			return true
		}
	}
	return false
}
