//go:build linux

package proc

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"syscall"

	"github.com/resreap/resreap/internal/cgroup"
)

// Command is what Spawn starts: a program, where and as whom it runs, its
// environment, its outputs and its cgroup. Every field but Path and Args
// may be left zero, and then is resreap's own: its working directory,
// credentials, environment, RLIMIT_NOFILE and cgroup; both outputs go to
// pipes.
type Command struct {
	// Path is the program to exec, as the caller found it (config's
	// ResolveCommand finds it as resreap check does); Args is its argv,
	// Args[0] included.
	Path string
	Args []string
	Dir  string
	// Env is set over resreap's environment, or over nothing with
	// ClearEnv; ExtraEnv ("K=V" entries, a hook's verdict) goes over both.
	// What systemd tells resreap alone is never passed on (see
	// serviceManagerEnv).
	Env      map[string]string
	ClearEnv bool
	ExtraEnv []string
	// Credential is the user and groups the program runs as; nil:
	// resreap's own. Another user's needs root.
	Credential *syscall.Credential
	// RlimitNofile, when not 0, is the program's RLIMIT_NOFILE (soft and
	// hard), set by the exec shim (see RunExecShim).
	RlimitNofile   uint64
	Stdout, Stderr Output
	// Cgroup is the cgroup to start in, placed there by clone3 before
	// exec so that nothing the program forks can start outside; zero:
	// resreap's own.
	Cgroup cgroup.Group
	// ExtraFiles are passed to the program as fds 3, 4, ... in order (the
	// listening sockets of socket activation); the caller keeps its own
	// copies and closes them when it likes.
	ExtraFiles []*os.File
	// ListenPID starts the program through the exec shim, which sets
	// LISTEN_PID to its own PID, the program's, before the exec: systemd's
	// protocol wants it, and the PID is only known after the fork.
	ListenPID bool
	// KeepGroup leaves the process group alone when the process exits:
	// by default the Reaper kills what is left of it before the reap. It
	// is for a process in a cgroup whose owner kills what it left itself,
	// unless the process handed over to a successor (forked into its
	// group) that must outlive it. Without Cgroup it is ignored.
	KeepGroup bool
}

// Output says where a started program's stdout or stderr goes.
type Output int

const (
	// OutputPipe is a pipe whose read end the caller gets (Outputs).
	OutputPipe Output = iota
	// OutputNull is /dev/null.
	OutputNull
)

// SpawnError is a start that failed before the program ran, with the path
// it was about (binary, dir) so the log line says what to fix.
type SpawnError struct {
	What string // "exec", "dir", "user", "group", "pipe", "cgroup", "open"
	Path string
	Err  error
}

func (e *SpawnError) Error() string {
	return fmt.Sprintf("%s %s: %v", e.What, e.Path, e.Err)
}

func (e *SpawnError) Unwrap() error { return e.Err }

// serviceManagerEnv is what systemd tells resreap alone: a child that
// inherited NOTIFY_SOCKET would speak for resreap (and be refused under
// NotifyAccess=main), and one with resreap's WATCHDOG_* would ping
// resreap's watchdog.
var serviceManagerEnv = map[string]bool{
	"NOTIFY_SOCKET": true, "WATCHDOG_USEC": true, "WATCHDOG_PID": true,
	"LISTEN_FDS": true, "LISTEN_PID": true, "LISTEN_FDNAMES": true,
}

// environ is resreap's environment (unless ClearEnv, and without
// serviceManagerEnv) with c's Env and ExtraEnv on top, sorted for a
// stable result.
func (c *Command) environ() []string {
	m := map[string]string{}
	if !c.ClearEnv {
		for _, kv := range os.Environ() {
			if k, v, ok := strings.Cut(kv, "="); ok && !serviceManagerEnv[k] {
				m[k] = v
			}
		}
	}
	for k, v := range c.Env {
		m[k] = v
	}
	for _, kv := range c.ExtraEnv {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	env := make([]string, 0, len(m))
	for k, v := range m {
		env = append(env, k+"="+v)
	}
	sort.Strings(env)
	return env
}

// Spawn starts c: in c.Cgroup if given, leading its own process group,
// SIGKILLed if resreap dies, stdin from /dev/null, stdout and stderr into
// pipes the caller copies (see Process.Outputs) or /dev/null. A start
// that fails before the program runs is a *SpawnError.
func (r *Reaper) Spawn(c Command) (*Process, error) {
	path, attr, err := c.prepare()
	if err != nil {
		return nil, err
	}
	if c.Cgroup != (cgroup.Group{}) {
		f, err := c.Cgroup.OpenFD()
		if err != nil {
			return nil, &SpawnError{What: "cgroup", Path: c.Cgroup.Path(), Err: err}
		}
		defer f.Close() // only needed until the clone
		attr.Sys.UseCgroupFD, attr.Sys.CgroupFD = true, int(f.Fd())
	}
	files, outputs, err := stdio(c.Stdout, c.Stderr)
	if err != nil {
		return nil, err
	}
	defer closeAll(files[:]) // the child's ends: the child has them once started
	attr.Files = []uintptr{files[0].Fd(), files[1].Fd(), files[2].Fd()}
	for _, f := range c.ExtraFiles {
		attr.Files = append(attr.Files, f.Fd())
	}
	var shimR, shimW *os.File
	if c.shimmed() {
		if shimR, shimW, err = os.Pipe(); err != nil {
			closeAll(outputs)
			return nil, &SpawnError{What: "pipe", Path: "shim", Err: err}
		}
		attr.Files = append(attr.Files, shimW.Fd()) // c.shimErrFD()
	}
	p, err := r.startProcess(path, c.Args, attr, c.Cgroup, c.KeepGroup && c.Cgroup != (cgroup.Group{}))
	if shimW != nil {
		shimW.Close()
		if err == nil {
			err = shimResult(shimR)
			path = c.Path
		} else {
			shimR.Close()
			path += " (resreap itself, to set rlimit_nofile or LISTEN_PID)"
		}
	}
	if err != nil {
		closeAll(outputs)
		return nil, &SpawnError{What: "exec", Path: path, Err: err}
	}
	p.outputs = outputs
	return p, nil
}

// shimmed reports whether c starts through the exec shim.
func (c *Command) shimmed() bool { return c.RlimitNofile > 0 || c.ListenPID }

// shimErrFD is the fd of the shim's error pipe in the started process:
// the one after the extra files, so that these keep fds 3, 4, ... as
// socket activation numbers them.
func (c *Command) shimErrFD() int { return 3 + len(c.ExtraFiles) }

// prepare says what a start of c execs (resreap itself, as the exec
// shim, when c sets RlimitNofile or ListenPID; else c.Path) and with
// which attributes.
func (c *Command) prepare() (path string, attr *syscall.ProcAttr, err error) {
	path = c.Path
	env := c.environ()
	if c.shimmed() {
		path, env, err = shimCommand(c, env)
		if err != nil {
			return "", nil, &SpawnError{What: "exec", Path: c.Path, Err: err}
		}
	}
	attr = &syscall.ProcAttr{
		Dir: c.Dir,
		Env: env,
		Sys: &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: c.Credential},
	}
	return path, attr, nil
}

// stdio opens a child's stdin, stdout and stderr: stdin is /dev/null; an
// output is /dev/null when OutputNull, else a pipe whose read end is
// returned in outputs (index 0 stdout, 1 stderr; nil for a null one) for
// the caller to copy.
func stdio(stdout, stderr Output) (files [3]*os.File, outputs []*os.File, err error) {
	fail := func(what, path string, err error) ([3]*os.File, []*os.File, error) {
		closeAll(files[:])
		closeAll(outputs)
		return [3]*os.File{}, nil, &SpawnError{What: what, Path: path, Err: err}
	}
	if files[0], err = os.Open(os.DevNull); err != nil {
		return fail("open", os.DevNull, err)
	}
	outputs = make([]*os.File, 2)
	for i, o := range []Output{stdout, stderr} {
		if o == OutputNull {
			if files[i+1], err = os.OpenFile(os.DevNull, os.O_WRONLY, 0); err != nil {
				return fail("open", os.DevNull, err)
			}
			continue
		}
		if outputs[i], files[i+1], err = os.Pipe(); err != nil {
			return fail("pipe", []string{"stdout", "stderr"}[i], err)
		}
	}
	return files, outputs, nil
}

// closeAll closes every non-nil file of fs.
func closeAll(fs []*os.File) {
	for _, f := range fs {
		if f != nil {
			f.Close()
		}
	}
}
