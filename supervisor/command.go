//go:build linux

package supervisor

import (
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/cgroup"
	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/proc"
)

// childCommand is the start of spec's program in leaf (zero: resreap's
// own cgroup). It checks what resreap check checks, with the same
// functions, in the order a start always has: the directory, the binary,
// the user and group.
func childCommand(spec *config.ChildSpec, leaf cgroup.Group) (proc.Command, error) {
	path, err := program(spec.Command, spec.Dir)
	if err != nil {
		return proc.Command{}, err
	}
	cred, err := credential(spec)
	if err != nil {
		return proc.Command{}, err
	}
	return proc.Command{
		Path: path, Args: spec.Command, Dir: spec.Dir,
		Env: spec.Env, ClearEnv: spec.ClearEnv,
		Credential: cred, RlimitNofile: spec.RlimitNofile,
		Stdout: output(spec.Stdout), Stderr: output(spec.Stderr),
		Cgroup: leaf,
	}, nil
}

// program finds the binary a start of argv in dir execs, as resreap check
// does (the same functions): dir must be a directory; a name without '/'
// is looked up in resreap's PATH, a relative path is relative to dir.
func program(argv []string, dir string) (string, error) {
	if dir != "" {
		if err := config.CheckDir(dir); err != nil {
			return "", err
		}
	}
	return config.ResolveCommand(argv[0], dir)
}

// output is where a start sends an output of the child: nowhere for
// "null", else a pipe the supervisor copies to the terminal or a file.
func output(o config.OutputSpec) proc.Output {
	if o.Mode == config.OutputNull {
		return proc.OutputNull
	}
	return proc.OutputPipe
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
		return nil, &proc.SpawnError{What: "user", Path: spec.User, Err: unix.EPERM}
	}
	return cred, nil
}
