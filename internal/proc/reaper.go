//go:build linux

package proc

import (
	"encoding/binary"
	"errors"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/cgroup"
)

// Reaper starts processes and collects their exits.
//
// Wait is process-wide: a supervisor is a child subreaper (and may be PID
// 1), so it must call wait4(-1) to reap orphans, and a second waiter
// (os/exec's Cmd.Wait, say) would race it for the exit statuses of its own
// children. So the process-wide Reaper (NewReaper) is the one waiter: one
// goroutine waits on SIGCHLD and hands the exit of each started process to
// the channel registered when it was started; unknown PIDs are orphans and
// are only logged. Everything a supervisor runs (children and hooks) must
// therefore be started through it. A program that also runs commands with
// os/exec (resreap watch) uses NewPIDReaper instead, which waits for each
// process it started by its PID and for nothing else.
//
// Every fork happens on one goroutine locked to its OS thread for the life
// of the Reaper: PR_SET_PDEATHSIG fires when the thread that forked the
// child exits, not when the process does, so forking from a short-lived
// thread would kill children at random.
//
// A started process is reaped only under its signal lock (see
// Process.Signal) and after SIGKILL to what is left of its process group:
// while the leader is a zombie its PID, and so its group ID, cannot be
// reused, so neither that KILL nor any stop signal can reach a stranger.
type Reaper struct {
	log     zerolog.Logger
	mu      sync.Mutex // held across fork+register, so no exit is seen before its owner is known
	waiting map[int]*Process
	forks   chan forkRequest
	orphans atomic.Int64
	all     bool // wait4(-1): reap orphans too
}

type forkRequest struct {
	path      string
	argv      []string
	attr      *syscall.ProcAttr
	leaf      cgroup.Group // the cgroup attr places it in, for the Process
	keepGroup bool         // see Command.KeepGroup
	reply     chan forkResult
}

type forkResult struct {
	p   *Process
	err error
}

var reaperCreated atomic.Bool

// ErrReaperExists is returned by NewReaper when one already runs.
var ErrReaperExists = errors.New("a reaper already runs in this process")

// NewReaper makes this process a child subreaper and starts the fork thread
// and the reaping goroutine. Both run until the process exits; at most one
// can be created.
func NewReaper(log zerolog.Logger) (*Reaper, error) {
	if !reaperCreated.CompareAndSwap(false, true) {
		return nil, ErrReaperExists
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		log.Warn().Err(err).Msg("cannot become child subreaper; orphans of children will not be reaped")
	}
	r := newReaper(log, true)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGCHLD)
	go r.reapLoop(sigs)
	return r, nil
}

// NewPIDReaper returns a Reaper that waits for each process it starts by
// its PID and reaps nothing else, so it can live beside os/exec. Its fork
// thread runs until the process exits.
func NewPIDReaper(log zerolog.Logger) *Reaper {
	return newReaper(log, false)
}

func newReaper(log zerolog.Logger, all bool) *Reaper {
	r := &Reaper{
		log:     log.With().Str("component", "reaper").Logger(),
		waiting: map[int]*Process{},
		forks:   make(chan forkRequest),
		all:     all,
	}
	go r.forkLoop()
	return r
}

// Orphans returns how many unknown processes were reaped so far.
func (r *Reaper) Orphans() int64 { return r.orphans.Load() }

// forkLoop runs every fork on one OS thread that is never released.
func (r *Reaper) forkLoop() {
	runtime.LockOSThread() // never unlocked: see the Reaper doc
	for req := range r.forks {
		req.reply <- r.fork(req)
	}
}

func (r *Reaper) fork(req forkRequest) forkResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	pid, err := syscall.ForkExec(req.path, req.argv, req.attr)
	if err != nil {
		return forkResult{err: err}
	}
	// Complete before it is registered: the reaper may reap it (and read
	// its cgroup) before the caller has the Process.
	p := &Process{pid: pid, started: time.Now(), exit: make(chan ExitStatus, 1), leaf: req.leaf, keepGroup: req.keepGroup}
	r.waiting[pid] = p
	if !r.all {
		go r.waitFor(p)
	}
	return forkResult{p: p}
}

// startProcess forks and execs path on the fork thread, in the cgroup
// leaf (the zero Group: its parent's) that attr places it in. The
// process's exit channel receives its exit status exactly once.
func (r *Reaper) startProcess(path string, argv []string, attr *syscall.ProcAttr, leaf cgroup.Group, keepGroup bool) (*Process, error) {
	reply := make(chan forkResult, 1)
	r.forks <- forkRequest{path: path, argv: argv, attr: attr, leaf: leaf, keepGroup: keepGroup, reply: reply}
	res := <-reply
	return res.p, res.err
}

func (r *Reaper) reapLoop(sigs <-chan os.Signal) {
	// A periodic sweep as well as SIGCHLD: signals coalesce, and a sweep
	// costs one waitid returning nothing.
	tick := time.NewTicker(5 * time.Second)
	for {
		select {
		case <-sigs:
		case <-tick.C:
		}
		r.reapAll()
	}
}

// reapAll reaps every child that has exited. Each is first looked at
// without reaping (WNOWAIT), so a known process is reaped by reap, under
// its signal lock.
func (r *Reaper) reapAll() {
	for {
		pid, err := waitPeek(unix.P_ALL, 0, unix.WNOHANG)
		if err == unix.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
		r.mu.Lock()
		p, ok := r.waiting[pid]
		r.mu.Unlock()
		if ok {
			r.reap(p)
			continue
		}
		var ws unix.WaitStatus
		if _, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil); err != nil {
			continue
		}
		r.orphans.Add(1)
		r.log.Info().Int("pid", pid).Str("status", ExitStatus{Status: ws}.String()).Msg("reaped orphan")
	}
}

// waitFor waits for p alone (NewPIDReaper), then reaps it.
func (r *Reaper) waitFor(p *Process) {
	for {
		_, err := waitPeek(unix.P_PID, p.pid, 0)
		if err != unix.EINTR {
			break
		}
	}
	r.reap(p)
}

// reap kills what is left of p's process group while p, a zombie, still
// holds the group's ID (unless Command.KeepGroup), reaps p and hands its
// exit to its owner, with what else its cgroup held then (named before
// the kill: see ExitStatus.Left).
func (r *Reaper) reap(p *Process) {
	p.mu.Lock()
	left := p.left()
	if !p.keepGroup {
		unix.Kill(-p.pid, unix.SIGKILL) //nolint:errcheck // ESRCH: the group is empty
	}
	var ws unix.WaitStatus
	_, err := unix.Wait4(p.pid, &ws, 0, nil)
	for err == unix.EINTR {
		_, err = unix.Wait4(p.pid, &ws, 0, nil)
	}
	p.reaped = true
	p.mu.Unlock()
	r.mu.Lock()
	delete(r.waiting, p.pid)
	r.mu.Unlock()
	if err != nil {
		r.log.Error().Err(err).Int("pid", p.pid).Msg("reap")
	}
	p.exit <- ExitStatus{PID: p.pid, Status: ws, At: time.Now(), Left: left} // buffered, received by the one owner
}

// left names the processes of p's cgroup other than p: one read of
// cgroup.procs, and of two small /proc files per process found.
func (p *Process) left() []ProcInfo {
	if p.leaf == (cgroup.Group{}) {
		return nil
	}
	pids, err := p.leaf.Procs()
	if err != nil {
		return nil
	}
	return Describe(slices.DeleteFunc(pids, func(pid int) bool { return pid == p.pid }))
}

// waitPeek is waitid(idtype, id, WEXITED|WNOWAIT|flags): the PID of an
// exited child, left unreaped; 0 when none has exited (WNOHANG).
func waitPeek(idtype, id, flags int) (int, error) {
	var info unix.Siginfo
	if err := unix.Waitid(idtype, id, &info, unix.WEXITED|unix.WNOWAIT|flags, nil); err != nil {
		return 0, err
	}
	return siginfoPID(&info), nil
}

// siginfoPID reads si_pid, which x/sys/unix leaves in the opaque part of
// Siginfo: for SIGCHLD the kernel's siginfo_t holds si_pid as an int32 at
// byte 16, after si_signo, si_errno, si_code and padding (the same layout
// on every 64-bit Linux; waitid zeroes it when no child has exited).
func siginfoPID(info *unix.Siginfo) int {
	b := (*[24]byte)(unsafe.Pointer(info))
	return int(int32(binary.NativeEndian.Uint32(b[16:20])))
}
