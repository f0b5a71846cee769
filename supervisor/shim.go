//go:build linux

package supervisor

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// The exec shim sets a child's RLIMIT_NOFILE. The kernel offers no way to
// set a resource limit in a child between fork and exec from Go's
// SysProcAttr, and changing resreap's own limit around the fork would
// affect every goroutine, so resreap execs itself with two variables set;
// the new image sets the limit and execs the real program. The PID, process
// group and death signal stay the same across both execs.
const (
	shimNofileVar = "RESREAP_SHIM_NOFILE"
	shimPathVar   = "RESREAP_SHIM_PATH"
)

// shimCommand returns the binary and environment that run path through the
// shim with the given RLIMIT_NOFILE.
func shimCommand(path string, nofile uint64, env []string) (string, []string, error) {
	self, err := os.Executable()
	if err != nil {
		return path, nil, fmt.Errorf("find own executable for rlimit_nofile: %w", err)
	}
	env = append(env[:len(env):len(env)], shimNofileVar+"="+strconv.FormatUint(nofile, 10), shimPathVar+"="+path)
	return self, env, nil
}

// RunExecShim must be called first thing in main (and in TestMain of
// packages that start children with rlimit_nofile). In a normal start it
// returns at once; in a shim start it sets the limit and execs the real
// program, or exits 127 with a message on stderr.
func RunExecShim() {
	nofile, ok := os.LookupEnv(shimNofileVar)
	if !ok {
		return
	}
	path := os.Getenv(shimPathVar)
	n, err := strconv.ParseUint(nofile, 10, 64)
	if err == nil {
		// syscall.Setrlimit (not x/sys/unix) also tells the runtime not to
		// restore its saved soft limit in the exec below.
		err = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: n, Max: n})
	}
	if err == nil {
		var env []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, shimNofileVar+"=") && !strings.HasPrefix(kv, shimPathVar+"=") {
				env = append(env, kv)
			}
		}
		err = syscall.Exec(path, os.Args, env)
	}
	fmt.Fprintf(os.Stderr, "resreap: start %s with rlimit_nofile=%s: %v\n", path, nofile, err)
	os.Exit(127)
}
