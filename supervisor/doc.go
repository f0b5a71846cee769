//go:build linux

// Package supervisor starts, owns, restarts and stops the children of one
// configuration, and acts on the health verdicts about them.
//
// # What it owns
//
// The children's lives: one owner goroutine per child and its state
// machine, the backoff and the start limit, readiness and liveness
// probes, the before_restart hook's verdict, restart budgets of the
// [[group]]s, reloads, shutdown in dependency order. The children's
// cgroups (ownership.go): the subtree, a leaf per generation, and
// recovery of what a previous resreap left. Their output (copied line by
// line to the terminal or to rotated files) and the captures taken
// before a health stop. The health loop, and the restart history as a
// queue in front of the file.
//
// Forking, reaping, signalling and the stop escalation are the process
// layer's (package proc), which the watchdog uses too: the supervisor
// builds a proc.Command from a child's spec (command.go) and a proc.Plan
// from its stop chain, and records what the escalation did.
//
// # Who owns what
//
// Every process is started through the one proc.Reaper of resreap, and
// every exit comes back through it, to the owner of the process.
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
// A stop is proc's escalation of the child's stop chain, to its cgroup (or
// process group); a generation that outlives it lingers in its leaf, and
// the child's next start waits for the leaf to empty (linger.go).
//
// # Use
//
//	cfg, err := config.Load("/etc/resreap/resreap.toml")
//	...
//	reaper, err := proc.NewReaper(log) // once per process
//	sup := supervisor.New(cfg, supervisor.Options{Log: log, Reaper: reaper, History: hist})
//	err = sup.Run(ctx) // returns after ctx is done and every child is stopped
package supervisor
