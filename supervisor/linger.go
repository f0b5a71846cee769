//go:build linux

package supervisor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/cgroup"
	"github.com/resreap/resreap/internal/proc"
)

// lingerRecheck is how often a start held back by a lingering generation
// looks at it again: a read of cgroup.events and a write of cgroup.kill
// per leaf, cheap enough to follow a process in D state closely.
const lingerRecheck = 250 * time.Millisecond

// lingerer is a generation of the child that outlived its stop: processes
// alive after SIGKILL and the kill wait (uninterruptible sleep, a helper
// of the stop that kept failing), or left by a previous resreap that
// recovery could not stop. Its processes stay in its leaf, and no new
// generation of the child starts until the leaf is empty: two generations
// side by side would fight over the port, the files, the lock.
type lingerer struct {
	p      *proc.Process // its main process; nil for a previous resreap's
	leaf   cgroup.Group  // zero without a cgroup
	exited bool          // the main process has been reaped (or there is none)
}

// linger keeps p, whose processes outlived the attempt to end them, until
// they are gone; exited says whether p itself has been reaped.
func (c *child) linger(p *proc.Process, exited bool) {
	c.lingering = append(c.lingering, lingerer{p: p, leaf: p.Cgroup(), exited: exited})
}

// lingerExit returns the exit channel of the first lingering process not
// yet reaped, and its index; nil when there is none.
func (c *child) lingerExit() (<-chan proc.ExitStatus, int) {
	for i, l := range c.lingering {
		if !l.exited {
			return l.p.Exit(), i
		}
	}
	return nil, -1
}

// lingerExited handles the exit of lingering process i: what it left in
// its cgroup is killed, as after any exit, and the generation is gone
// once its leaf is empty.
func (c *child) lingerExited(i int, ex proc.ExitStatus) {
	l := &c.lingering[i]
	l.exited = true
	c.log.Warn().Int("pid", ex.PID).Str("status", ex.String()).Msg("a process that outlived its stop has exited")
	if l.leaf != (cgroup.Group{}) && !c.killRemains(l.p) {
		return // still alive: kept, looked at again before the next start
	}
	c.lingering = append(c.lingering[:i], c.lingering[i+1:]...)
}

// holdStart reports whether the next start must wait for a lingering
// generation, and if so makes the child wait: Backoff, with the reason in
// status (WaitingFor), looked at again every lingerRecheck. The wait is
// logged once when it begins and once when it ends.
func (c *child) holdStart() bool {
	why := c.settleLingering()
	if why == "" {
		if c.holding != "" {
			c.log.Info().Msg("the old generation has ended; starting " + c.name)
			c.unhold()
		}
		return false
	}
	if c.holding == "" {
		c.log.Warn().Str("waiting_for", why).Msgf("%s is not started while its old generation lives: waiting for %s", c.name, why)
	}
	c.holding = why
	c.update(func(s *ChildStatus) { s.WaitingFor = why })
	c.setState(Backoff)
	c.arm(timerBackoff, lingerRecheck)
	return true
}

// unhold clears the reason a held start gave in status.
func (c *child) unhold() {
	if c.holding != "" {
		c.holding = ""
		c.update(func(s *ChildStatus) { s.WaitingFor = "" })
	}
}

// settleLingering forgets the lingering generations that are gone,
// removing their leaves, and sends KILL again to those that are not (one
// that could not be sent before may go through now); it says what still
// lives, "" when nothing does. It does not wait.
func (c *child) settleLingering() string {
	var alive []string
	kept := c.lingering[:0]
	for _, l := range c.lingering {
		if what := c.stillAlive(&l); what != "" {
			alive = append(alive, what)
			kept = append(kept, l)
			continue
		}
		c.sup.own.release(l.leaf)
	}
	clear(c.lingering[len(kept):])
	c.lingering = kept
	if len(alive) == 0 {
		return ""
	}
	return "the old generation to exit (" + strings.Join(alive, "; ") + ")"
}

// stillAlive describes what of l still lives ("pids 12, 13 in
// /resreap/child-web.3"), "" when nothing does, after sending it KILL.
func (c *child) stillAlive(l *lingerer) string {
	if l.p != nil && !l.exited {
		select {
		case <-l.p.Exit():
			l.exited = true
		default:
		}
	}
	if l.leaf == (cgroup.Group{}) {
		if l.exited {
			return ""
		}
		l.p.Signal(unix.SIGKILL) //nolint:errcheck // ErrGone: reaped meanwhile, seen at the next look
		return "pid " + strconv.Itoa(l.p.PID())
	}
	populated, err := l.leaf.Populated()
	if errors.Is(err, fs.ErrNotExist) || err == nil && !populated {
		return ""
	}
	proc.KillCgroup(context.Background(), l.leaf) //nolint:errcheck // what failed shows in what is left
	pids, _ := l.leaf.Procs()
	return fmt.Sprintf("%s in %s", pidsText(pids), l.leaf.Path())
}

// endLingering is the last attempt at the lingering generations, at
// shutdown: KILL once more and up to the kill wait for each to end; what
// is still alive then is logged with its cgroup, and left.
func (c *child) endLingering() {
	wait := cmp.Or(c.spec.Stop.KillWait, proc.DefaultKillWait)
	for _, l := range c.lingering {
		if c.stillAlive(&l) == "" {
			c.sup.own.release(l.leaf)
			continue
		}
		deadline := time.Now().Add(wait)
		gone := false
		if l.leaf != (cgroup.Group{}) {
			gone = proc.CgroupEmptyBy(context.Background(), l.leaf, deadline)
		} else {
			gone = l.p.Target(nil).Wait(context.Background(), wait)
		}
		if gone {
			c.sup.own.release(l.leaf)
			continue
		}
		ev := c.log.Error().Str("wait", wait.String())
		if l.p != nil {
			ev = ev.Int("pid", l.p.PID())
		}
		if l.leaf != (cgroup.Group{}) {
			pids, _ := l.leaf.Procs()
			ev = ev.Ints("pids", pids).Str("cgroup", l.leaf.Path())
		}
		ev.Msg("processes of an old generation still alive after SIGKILL at exit; left in place")
	}
	c.lingering = nil
}

// pidsText names a few PIDs for a status line: "pids 1, 2, 3 and 4 more".
func pidsText(pids []int) string {
	const shown = 3
	if len(pids) == 0 {
		return "processes"
	}
	s := make([]string, 0, shown)
	for _, pid := range pids[:min(len(pids), shown)] {
		s = append(s, strconv.Itoa(pid))
	}
	text := "pid"
	if len(pids) > 1 {
		text = "pids"
	}
	text += " " + strings.Join(s, ", ")
	if len(pids) > shown {
		text += fmt.Sprintf(" and %d more", len(pids)-shown)
	}
	return text
}
