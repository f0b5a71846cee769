//go:build linux

// Package watch is "resreap watch": the old standalone CLOSE_WAIT watchdog,
// for processes resreap did not start and does not own.
//
// Every interval it lists the candidate processes (command line matching a
// regexp, or all of them), judges each on its own with a health.Scanner (the
// same socket readers and persistence rule as the supervisor), and stops
// the unhealthy ones with an escalation of signals. Because those processes
// are not resreap's children, their PIDs can be reused behind its back: a
// process is pinned with a pidfd when it is judged and its start time is
// checked before every signal, so a signal never reaches a newcomer.
//
// A candidate alone in its cgroup (a systemd service of one process) is
// given its CLOSE_WAIT sockets by the cgroup id the kernel reports with
// each one, without reading its fd table; a candidate that shares its
// cgroup has its fd table walked, as the old tool's netstat -p did.
//
//	opts, err := watch.Parse([]string{"-f", "java", "-l", "5", "-S", "QUIT"})
//	if err != nil {
//		return err // errors.Is(err, watch.ErrUsage); the message names the flag
//	}
//	sum, err := watch.Run(ctx, opts, watch.Env{Stdout: os.Stdout, Log: log})
package watch
