//go:build linux

package supervisor

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/cgroup"
	"github.com/resreap/resreap/internal/config"
)

// spawnError is a start that failed before the program ran, with the path
// it was about (binary, dir) so the log line says what to fix.
type spawnError struct {
	What string // "exec", "dir", "user", "group", "pipe"
	Path string
	Err  error
}

func (e *spawnError) Error() string {
	return fmt.Sprintf("%s %s: %v", e.What, e.Path, e.Err)
}

func (e *spawnError) Unwrap() error { return e.Err }

// resolveCommand finds the binary to exec, as resreap check does (the same
// function): a name without '/' in resreap's PATH, a relative path
// relative to the child's dir.
func resolveCommand(spec *config.ChildSpec) (string, error) {
	return config.ResolveCommand(spec.Command[0], spec.Dir)
}

// serviceManagerEnv is what systemd tells resreap alone: a child that
// inherited NOTIFY_SOCKET would speak for resreap (and be refused under
// NotifyAccess=main), and one with resreap's WATCHDOG_* would ping
// resreap's watchdog.
var serviceManagerEnv = map[string]bool{
	"NOTIFY_SOCKET": true, "WATCHDOG_USEC": true, "WATCHDOG_PID": true,
	"LISTEN_FDS": true, "LISTEN_PID": true, "LISTEN_FDNAMES": true,
}

// childEnv is the supervisor's environment (unless clear_env, and without
// serviceManagerEnv) with the child's env on top, sorted for a stable
// result.
func childEnv(spec *config.ChildSpec, extra ...string) []string {
	m := map[string]string{}
	if !spec.ClearEnv {
		for _, kv := range os.Environ() {
			if k, v, ok := strings.Cut(kv, "="); ok && !serviceManagerEnv[k] {
				m[k] = v
			}
		}
	}
	for k, v := range spec.Env {
		m[k] = v
	}
	for _, kv := range extra {
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

// credential resolves user and group to ids. Switching user needs root;
// when resreap is not root, the user must be resreap's own.
func credential(spec *config.ChildSpec) (*syscall.Credential, error) {
	if spec.User == "" && spec.Group == "" {
		return nil, nil
	}
	cred := &syscall.Credential{Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid())}
	if spec.User != "" {
		u, err := config.LookupUser(spec.User)
		if err != nil {
			return nil, err
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		cred.Uid, cred.Gid = uint32(uid), uint32(gid)
		if ids, err := u.GroupIds(); err == nil {
			for _, g := range ids {
				if n, err := strconv.ParseUint(g, 10, 32); err == nil {
					cred.Groups = append(cred.Groups, uint32(n))
				}
			}
		}
	}
	if spec.Group != "" {
		g, err := config.LookupGroup(spec.Group)
		if err != nil {
			return nil, err
		}
		gid, _ := strconv.ParseUint(g.Gid, 10, 32)
		cred.Gid = uint32(gid)
	}
	if os.Getuid() != 0 && cred.Uid != uint32(os.Getuid()) {
		return nil, &spawnError{What: "user", Path: spec.User, Err: unix.EPERM}
	}
	return cred, nil
}

// spawnOptions are the parts of a start that are not in the spec.
type spawnOptions struct {
	env  []string      // "K=V" entries over the spec's environment (a hook's verdict)
	leaf *cgroup.Group // the cgroup to start in; nil: resreap's own
}

// spawn starts one instance of spec: in o.leaf if given (placed there by
// clone3 before exec, so nothing it forks can start outside), leading its
// own process group, SIGKILLed if resreap dies, stdin from /dev/null,
// stdout and stderr into pipes the caller copies (see childStdio).
func (r *Reaper) spawn(spec *config.ChildSpec, o spawnOptions) (*process, error) {
	path, target, attr, err := prepare(spec, o.env)
	if err != nil {
		return nil, err
	}
	argv := spec.Command
	if o.leaf != nil {
		f, err := o.leaf.OpenFD()
		if err != nil {
			return nil, &spawnError{What: "cgroup", Path: o.leaf.Path(), Err: err}
		}
		defer f.Close() // only needed until the clone
		attr.Sys.UseCgroupFD, attr.Sys.CgroupFD = true, int(f.Fd())
	}
	files, outputs, err := childStdio(spec)
	if err != nil {
		return nil, err
	}
	defer closeAll(files[:]) // the child's ends: the child has them once started
	attr.Files = []uintptr{files[0].Fd(), files[1].Fd(), files[2].Fd()}
	var shimR, shimW *os.File
	if spec.RlimitNofile > 0 {
		if shimR, shimW, err = os.Pipe(); err != nil {
			closeAll(outputs)
			return nil, &spawnError{What: "pipe", Path: "shim", Err: err}
		}
		attr.Files = append(attr.Files, shimW.Fd()) // shimErrFD
	}
	p, err := r.startProcess(path, argv, attr)
	if shimW != nil {
		shimW.Close()
		if err == nil {
			err = shimResult(shimR)
			path = target
		} else {
			shimR.Close()
			path += " (resreap itself, to set rlimit_nofile)"
		}
	}
	if err != nil {
		closeAll(outputs)
		return nil, &spawnError{What: "exec", Path: path, Err: err}
	}
	p.outputs = outputs
	if o.leaf != nil {
		p.leaf = *o.leaf
	}
	return p, nil
}

// prepare resolves what a start of spec needs before the fork: the binary
// to exec (resreap itself, as the rlimit shim, when spec sets
// rlimit_nofile), the program's own binary, the directory, the
// credentials and the environment.
func prepare(spec *config.ChildSpec, extraEnv []string) (path, target string, attr *syscall.ProcAttr, err error) {
	if spec.Dir != "" {
		if err := config.CheckDir(spec.Dir); err != nil {
			return "", "", nil, err
		}
	}
	target, err = resolveCommand(spec)
	if err != nil {
		return "", "", nil, err
	}
	path = target
	cred, err := credential(spec)
	if err != nil {
		return "", "", nil, err
	}
	env := childEnv(spec, extraEnv...)
	if spec.RlimitNofile > 0 {
		path, env, err = shimCommand(target, spec.RlimitNofile, env)
		if err != nil {
			return "", "", nil, &spawnError{What: "exec", Path: target, Err: err}
		}
	}
	attr = &syscall.ProcAttr{
		Dir: spec.Dir,
		Env: env,
		Sys: &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: cred},
	}
	return path, target, attr, nil
}

// childStdio opens a child's stdin, stdout and stderr: stdin is
// /dev/null; an output is /dev/null when its spec says "null", else a
// pipe whose read end is returned in outputs (index 0 stdout, 1 stderr;
// nil for a null one) for the supervisor to copy.
func childStdio(spec *config.ChildSpec) (files [3]*os.File, outputs []*os.File, err error) {
	fail := func(what, path string, err error) ([3]*os.File, []*os.File, error) {
		closeAll(files[:])
		closeAll(outputs)
		return [3]*os.File{}, nil, &spawnError{What: what, Path: path, Err: err}
	}
	if files[0], err = os.Open(os.DevNull); err != nil {
		return fail("open", os.DevNull, err)
	}
	outputs = make([]*os.File, 2)
	for i, o := range []config.OutputSpec{spec.Stdout, spec.Stderr} {
		if o.Mode == config.OutputNull {
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
