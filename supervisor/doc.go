//go:build linux

// Package supervisor starts, owns, restarts and stops the children of one
// configuration, and acts on the health verdicts about them.
//
// # Who owns what
//
// Every process is started through the Reaper, and every exit comes back
// through it. wait(2) is process-wide: resreap is a child subreaper (and
// may be PID 1), so one goroutine calls waitid/wait4 for any child on
// SIGCHLD and hands the exit of each process it started to the channel
// registered at fork time; orphans re-parented to resreap are reaped and
// logged. Forks happen on one goroutine locked to its OS thread for good,
// because PR_SET_PDEATHSIG fires when the forking thread exits. A process
// is reaped only under its signal lock, after SIGKILL to what is left of
// its process group: until then its PID and group ID cannot be reused, so
// no signal resreap sends can reach a stranger.
//
// Each child has one owner goroutine (child.run). Only it changes the
// child: it starts the process, receives its exit from the Reaper, runs
// the before_restart hook, stops it through the escalation, schedules the
// backoff and moves the state machine (Stopped, Starting, Running,
// Backoff, Stopping, Exited, Fatal). Everyone else sends it requests over
// a channel (start, stop, restart, signal, a new spec on reload) and
// reads snapshots under a small lock, so Status never waits for a child
// that is busy stopping.
//
// The health loop is one goroutine for all children. Each tick it judges
// every Running child that is due with one health.Scanner scan (one socket
// dump for all of them) and hands verdicts to the owners without waiting:
// an owner busy with a stop keeps at most one pending verdict, and ignores
// one about a process that is no longer its own.
//
// Stops go through Escalate, the one escalation engine: each configured
// signal with its wait, then SIGKILL and a bounded kill wait. The
// watchdog for processes resreap does not own (package watch) uses the
// same engine and the same hook runner (RunHook) with another Target.
//
// # Use
//
//	cfg, err := config.Load("/etc/resreap/resreap.toml")
//	...
//	reaper, err := supervisor.NewReaper(log) // once per process
//	sup := supervisor.New(cfg, supervisor.Options{Log: log, Reaper: reaper, History: hist})
//	err = sup.Run(ctx) // returns after ctx is done and every child is stopped
package supervisor
