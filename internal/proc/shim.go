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

// The exec shim sets a child's RLIMIT_NOFILE, and LISTEN_PID for socket
// activation. The kernel offers no way to set a resource limit in a child
// between fork and exec from Go's SysProcAttr, and changing resreap's own
// limit around the fork would affect every goroutine; LISTEN_PID must be
// the program's own PID, known only after the fork. So resreap execs
// itself with these variables set; the new image sets the limit and the
// variable and execs the real program. The PID, process group, cgroup,
// death signal and the passed fds stay the same across both execs.
//
// Whether the second exec worked is told back like os/exec tells it for
// the first: through a pipe that the exec closes (close on exec) and that
// a failure writes its message to before exiting 127. So "permission
// denied" on the binary reaches the history as a failed start with its
// message, not as an exit code that blames the rlimit. The pipe is the
// fd after the passed files (Command.shimErrFD), never fd 3: that is the
// first listening socket of socket activation.
const (
	shimNofileVar    = "RESREAP_SHIM_NOFILE"
	shimListenPIDVar = "RESREAP_SHIM_LISTEN_PID"
	shimPathVar      = "RESREAP_SHIM_PATH"
	shimErrVar       = "RESREAP_SHIM_ERRFD"
)

// shimWait bounds the wait for the shim's answer: the time a Go program
// takes to start, with a wide margin for a loaded machine.
const shimWait = 10 * time.Second

// shimCommand returns the binary and environment that run c through the
// shim.
func shimCommand(c *Command, env []string) (string, []string, error) {
	self, err := os.Executable()
	if err != nil {
		return c.Path, nil, fmt.Errorf("find own executable for the exec shim: %w", err)
	}
	env = append(env[:len(env):len(env)], shimPathVar+"="+c.Path, shimErrVar+"="+strconv.Itoa(c.shimErrFD()))
	if c.RlimitNofile > 0 {
		env = append(env, shimNofileVar+"="+strconv.FormatUint(c.RlimitNofile, 10))
	}
	if c.ListenPID {
		env = append(env, shimListenPIDVar+"=1")
	}
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
// packages that start children with rlimit_nofile or listening sockets,
// or bind sockets in a cgroup). In a normal start it returns at once; in
// a shim start it sets the limit and LISTEN_PID and execs the real
// program, or tells why not and exits 127; in a bind helper's start (see
// Reaper.Bind) it binds, hands the sockets over and exits.
func RunExecShim() {
	runBindHelper()
	path, ok := os.LookupEnv(shimPathVar)
	if !ok {
		return
	}
	report := os.Stderr
	if fd, err := strconv.Atoi(os.Getenv(shimErrVar)); err == nil {
		syscall.CloseOnExec(fd)
		report = os.NewFile(uintptr(fd), "shim errors")
	}
	var err error
	if nofile, ok := os.LookupEnv(shimNofileVar); ok {
		var n uint64
		if n, err = strconv.ParseUint(nofile, 10, 64); err == nil {
			// syscall.Setrlimit (not x/sys/unix) also tells the runtime
			// not to restore its saved soft limit in the exec below.
			if err = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: n, Max: n}); err != nil {
				err = fmt.Errorf("rlimit_nofile=%s: setrlimit: %w", nofile, err)
			}
		}
	}
	if err == nil {
		var env []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "RESREAP_SHIM_") && !strings.HasPrefix(kv, "LISTEN_PID=") {
				env = append(env, kv)
			}
		}
		if os.Getenv(shimListenPIDVar) != "" {
			env = append(env, "LISTEN_PID="+strconv.Itoa(os.Getpid()))
		}
		err = syscall.Exec(path, os.Args, env)
	}
	fmt.Fprintln(report, err)
	os.Exit(127)
}
