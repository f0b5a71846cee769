package supervisor

import (
	"errors"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// Reaper starts processes and collects every exit of this process's
// children, including orphans re-parented to it.
//
// It exists because wait is process-wide: resreap is a child subreaper (and
// may be PID 1), so it must call wait4(-1) to reap orphans, and a second
// waiter (os/exec's Cmd.Wait, say) would race it for the exit statuses of
// its own children. So exactly one goroutine waits, on SIGCHLD, and hands
// the exit of each known PID to the channel registered when it was started;
// unknown PIDs are orphans and are only logged. Everything resreap runs
// (children and hooks) must therefore be started through the Reaper.
//
// Every fork happens on one goroutine locked to its OS thread for the life
// of the process: PR_SET_PDEATHSIG fires when the thread that forked the
// child exits, not when the process does, so forking from a short-lived
// thread would kill children at random.
//
// A Reaper lives as long as the process; at most one can be created.
type Reaper struct {
	log     zerolog.Logger
	mu      sync.Mutex // held across fork+register, so no exit is seen before its owner is known
	waiting map[int]chan<- ExitStatus
	forks   chan forkRequest
	orphans atomic.Int64
}

type forkRequest struct {
	path  string
	argv  []string
	attr  *syscall.ProcAttr
	reply chan forkResult
}

type forkResult struct {
	pid  int
	exit <-chan ExitStatus
	err  error
}

var reaperCreated atomic.Bool

// ErrReaperExists is returned by NewReaper when one already runs.
var ErrReaperExists = errors.New("a reaper already runs in this process")

// NewReaper makes this process a child subreaper and starts the fork thread
// and the reaping goroutine. Both run until the process exits.
func NewReaper(log zerolog.Logger) (*Reaper, error) {
	if !reaperCreated.CompareAndSwap(false, true) {
		return nil, ErrReaperExists
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		log.Warn().Err(err).Msg("cannot become child subreaper; orphans of children will not be reaped")
	}
	r := &Reaper{
		log:     log.With().Str("component", "reaper").Logger(),
		waiting: map[int]chan<- ExitStatus{},
		forks:   make(chan forkRequest),
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGCHLD)
	go r.forkLoop()
	go r.reapLoop(sigs)
	return r, nil
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
	ch := make(chan ExitStatus, 1)
	r.waiting[pid] = ch
	return forkResult{pid: pid, exit: ch}
}

// startProcess forks and execs path on the fork thread. The returned
// channel receives the process's exit status exactly once.
func (r *Reaper) startProcess(path string, argv []string, attr *syscall.ProcAttr) (int, <-chan ExitStatus, error) {
	reply := make(chan forkResult, 1)
	r.forks <- forkRequest{path: path, argv: argv, attr: attr, reply: reply}
	res := <-reply
	return res.pid, res.exit, res.err
}

func (r *Reaper) reapLoop(sigs <-chan os.Signal) {
	// A periodic sweep as well as SIGCHLD: signals coalesce, and a sweep
	// costs one wait4 returning 0.
	tick := time.NewTicker(5 * time.Second)
	for {
		select {
		case <-sigs:
		case <-tick.C:
		}
		r.reapAll()
	}
}

func (r *Reaper) reapAll() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if err == unix.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
		ex := ExitStatus{PID: pid, Status: ws, At: time.Now()}
		r.mu.Lock()
		ch, ok := r.waiting[pid]
		delete(r.waiting, pid)
		r.mu.Unlock()
		if ok {
			ch <- ex // buffered, received by the one owner
			continue
		}
		r.orphans.Add(1)
		r.log.Info().Int("pid", pid).Str("status", ex.String()).Msg("reaped orphan")
	}
}
