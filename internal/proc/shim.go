//go:build linux

package proc

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The exec shim sets a child's RLIMIT_NOFILE. The kernel offers no way to
// set a resource limit in a child between fork and exec from Go's
// SysProcAttr, and changing resreap's own limit around the fork would
// affect every goroutine, so resreap execs itself with these variables
// set; the new image sets the limit and execs the real program. The PID,
// process group, cgroup and death signal stay the same across both execs.
//
// Whether the second exec worked is told back like os/exec tells it for
// the first: through a pipe on shimErrFD that the exec closes (close on
// exec) and that a failure writes its message to before exiting 127. So
// "permission denied" on the binary reaches the history as a failed start
// with its message, not as an exit code that blames the rlimit.
const (
	shimNofileVar = "RESREAP_SHIM_NOFILE"
	shimPathVar   = "RESREAP_SHIM_PATH"
	shimErrVar    = "RESREAP_SHIM_ERRFD"
	shimErrFD     = 3
)

// shimWait bounds the wait for the shim's answer: the time a Go program
// takes to start, with a wide margin for a loaded machine.
const shimWait = 10 * time.Second

// shimCommand returns the binary and environment that run path through the
// shim with the given RLIMIT_NOFILE.
func shimCommand(path string, nofile uint64, env []string) (string, []string, error) {
	self, err := os.Executable()
	if err != nil {
		return path, nil, fmt.Errorf("find own executable for rlimit_nofile: %w", err)
	}
	env = append(env[:len(env):len(env)], shimNofileVar+"="+strconv.FormatUint(nofile, 10), shimPathVar+"="+path,
		shimErrVar+"="+strconv.Itoa(shimErrFD))
	return self, env, nil
}

// shimResult reads the shim's answer from r (see the constants above): nil
// once the real program runs, the shim's message otherwise.
func shimResult(r *os.File) error {
	defer r.Close()
	r.SetReadDeadline(time.Now().Add(shimWait)) //nolint:errcheck // a pipe supports deadlines
	msg, _ := io.ReadAll(r)
	if len(msg) > 0 {
		return errors.New(strings.TrimSpace(string(msg)))
	}
	// EOF: the real program runs; a deadline: still no answer, so it is
	// judged by its exit, as any child.
	return nil
}

// RunExecShim must be called first thing in main (and in TestMain of
// packages that start children with rlimit_nofile). In a normal start it
// returns at once; in a shim start it sets the limit and execs the real
// program, or tells why not and exits 127.
func RunExecShim() {
	nofile, ok := os.LookupEnv(shimNofileVar)
	if !ok {
		return
	}
	report := os.Stderr
	if fd, err := strconv.Atoi(os.Getenv(shimErrVar)); err == nil {
		syscall.CloseOnExec(fd)
		report = os.NewFile(uintptr(fd), "shim errors")
	}
	path := os.Getenv(shimPathVar)
	n, err := strconv.ParseUint(nofile, 10, 64)
	if err == nil {
		// syscall.Setrlimit (not x/sys/unix) also tells the runtime not to
		// restore its saved soft limit in the exec below.
		if err = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: n, Max: n}); err != nil {
			err = fmt.Errorf("rlimit_nofile=%s: setrlimit: %w", nofile, err)
		}
	}
	if err == nil {
		var env []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "RESREAP_SHIM_") {
				env = append(env, kv)
			}
		}
		err = syscall.Exec(path, os.Args, env)
	}
	fmt.Fprintln(report, err)
	os.Exit(127)
}
