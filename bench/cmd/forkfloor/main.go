//go:build linux

// Command forkfloor is the floor of starting and stopping many children:
// it forks and execs N copies of a program (sleep infinity), each in a
// process group of its own with stdin, stdout and stderr on /dev/null,
// then sends each SIGTERM and waits for all of them. It does nothing a
// supervisor must do besides (no cgroup, no pipes, no history, no
// escalation): what is left is the kernel's fork, exec, signal and wait.
//
//	forkfloor -n 500 [-- sleep infinity]
//
// It prints one line: "start SECONDS stop SECONDS", start from the first
// fork to the last exec'd child running (the exec of each has returned
// to the parent), stop from the first signal to the last child reaped.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

func main() {
	n := flag.Int("n", 500, "children")
	flag.Parse()
	argv := flag.Args()
	if len(argv) == 0 {
		argv = []string{"sleep", "infinity"}
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, "forkfloor:", err)
		os.Exit(2)
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintln(os.Stderr, "forkfloor:", err)
		os.Exit(1)
	}
	attr := &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{null.Fd(), null.Fd(), null.Fd()},
		Sys:   &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL},
	}
	pids := make([]int, 0, *n)
	t0 := time.Now()
	for range *n {
		// ForkExec returns once the child has exec'd (or failed to).
		pid, err := syscall.ForkExec(path, argv, attr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "forkfloor:", err)
			os.Exit(1)
		}
		pids = append(pids, pid)
	}
	start := time.Since(t0)
	t1 := time.Now()
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	for range pids {
		var ws syscall.WaitStatus
		for {
			if _, err := syscall.Wait4(-1, &ws, 0, nil); err != syscall.EINTR {
				break
			}
		}
	}
	stop := time.Since(t1)
	fmt.Printf("start %.6f stop %.6f\n", start.Seconds(), stop.Seconds())
}
