//go:build linux

// Package proc forks, reaps, signals and stops processes: the layer both
// the supervisor and the watchdog stand on. It knows nothing of
// configurations or of the restart history: a start is a Command, a stop
// a Plan of Steps, and what a stop did an Escalation; the supervisor
// builds the first two from a child's spec and records the last.
//
// # Who owns what
//
// Every process is started through the Reaper, and every exit comes back
// through it. wait(2) is process-wide: resreap is a child subreaper (and
// may be PID 1), so one goroutine calls waitid/wait4 for any child on
// SIGCHLD and hands the exit of each process it started to the channel
// registered at fork time (Process.Exit); orphans re-parented to resreap
// are reaped and logged. Forks happen on one goroutine locked to its OS
// thread for good, because PR_SET_PDEATHSIG fires when the forking thread
// exits. A process is reaped only under its signal lock, after SIGKILL to
// what is left of its process group: until then its PID and group ID
// cannot be reused, so no signal sent through a Process can reach a
// stranger. A program that also runs commands with os/exec (resreap
// watch) uses NewPIDReaper, which waits for its own processes by PID and
// for nothing else.
//
// Each Process has one owner, the one receiver of its exit: it waits on
// Exit, or stops the process with Stop, which receives the exit itself.
// Signals may come from anyone (an operator's Send, a forced kill).
//
// Stops go through Escalate, the one escalation engine: each signal of
// the plan with its wait, then SIGKILL and a bounded kill wait. It fails
// closed: a signal that cannot be sent is noted and the next follows, and
// only a target still alive at the end is an error. Its Target has two
// methods, and only they differ between a started process (its process
// group or its cgroup, the Reaper's exit), a cgroup a dead supervisor
// left behind (CgroupTarget) and a process the watchdog pinned with a
// pidfd. Hooks and exec probes run through RunHook, which kills a hook
// that outlives its timeout and calls that a veto.
//
// Listening sockets a supervisor holds for its children are made by Bind:
// in a cgroup by a short-lived helper (this binary, re-run through
// RunExecShim) placed there by clone3, so that the sockets and every
// connection accepted on them carry that cgroup's id; Command.ExtraFiles
// passes them as fds 3..., and Command.ListenPID has the exec shim set
// LISTEN_PID for socket activation.
//
// # Use
//
//	func main() {
//		proc.RunExecShim() // first: a start with RlimitNofile re-runs this binary
//		reaper, err := proc.NewReaper(log) // once per process
//		...
//		p, err := reaper.Spawn(proc.Command{Path: "/usr/bin/server", Args: []string{"server", "-p", "8080"}})
//		...
//		select {
//		case ex := <-p.Exit():
//			log.Info().Str("status", ex.String()).Msg("exited")
//		case <-ctx.Done():
//			s := p.Stop(proc.Plan{Steps: []proc.Step{{Signal: unix.SIGTERM, Wait: 10 * time.Second}}})
//			log.Info().Err(s.Err).Bool("killed", s.Killed).Msg("stopped")
//		}
//	}
package proc
