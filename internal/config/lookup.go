//go:build linux

package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
)

// The lookups a start of a child makes, as the host checks make them too.

// ResolveCommand finds the program a child's argv0 names. Every start
// calls it, as the host checks of resreap check do, so that check and
// start cannot drift apart: a name without '/' is looked up in resreap's
// own PATH, not the child's env, a relative path is taken relative to dir
// (or to resreap's working directory when dir is empty). The program must
// exist, not be a directory, and have an execute bit.
func ResolveCommand(argv0, dir string) (string, error) {
	name := argv0
	if !strings.Contains(name, "/") {
		p, err := exec.LookPath(name)
		switch {
		case errors.Is(err, exec.ErrDot):
			return "", fmt.Errorf("%q is found only through a relative directory in PATH (%s), which is not used", name, p)
		case err != nil:
			return "", fmt.Errorf("%q not found in PATH (%s)", name, os.Getenv("PATH"))
		}
		name = p
	} else if !filepath.IsAbs(name) && dir != "" {
		name = filepath.Join(dir, name)
	}
	st, err := os.Stat(name)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !filepath.IsAbs(name):
		return "", fmt.Errorf("program %s does not exist (relative to the working directory: dir is not set)", name)
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("program %s does not exist", name)
	case err != nil:
		return "", err
	case st.IsDir():
		return "", fmt.Errorf("%s is a directory, not a program", name)
	case st.Mode().Perm()&0o111 == 0:
		return "", fmt.Errorf("%s is not executable (mode %v)", name, st.Mode().Perm())
	}
	return name, nil
}

// CheckDir checks a child's working directory, as a start does: it must
// exist and be a directory.
func CheckDir(dir string) error {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("directory %s does not exist", dir)
	case err != nil:
		return err
	case !st.IsDir():
		return fmt.Errorf("%s is not a directory (%s)", dir, fileKind(st.Mode()))
	}
	return nil
}

// LookupUser finds a user by name, or by uid when name is a number, as the
// supervisor does when it starts a child with `user`.
func LookupUser(name string) (*user.User, error) {
	if _, err := strconv.Atoi(name); err == nil {
		u, err := user.LookupId(name)
		if errors.As(err, new(user.UnknownUserIdError)) {
			return nil, fmt.Errorf("no user with uid %s", name)
		}
		return u, err
	}
	u, err := user.Lookup(name)
	if errors.As(err, new(user.UnknownUserError)) {
		return nil, fmt.Errorf("no such user %q", name)
	}
	return u, err
}

// LookupGroup finds a group by name, or by gid when name is a number.
func LookupGroup(name string) (*user.Group, error) {
	if _, err := strconv.Atoi(name); err == nil {
		g, err := user.LookupGroupId(name)
		if errors.As(err, new(user.UnknownGroupIdError)) {
			return nil, fmt.Errorf("no group with gid %s", name)
		}
		return g, err
	}
	g, err := user.LookupGroup(name)
	if errors.As(err, new(user.UnknownGroupError)) {
		return nil, fmt.Errorf("no such group %q", name)
	}
	return g, err
}

// fileKind names what a non-regular file is.
func fileKind(m fs.FileMode) string {
	switch t := m.Type(); {
	case m.IsRegular():
		return "a regular file"
	case t&fs.ModeDir != 0:
		return "a directory"
	case t&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case t&fs.ModeSocket != 0:
		return "a socket"
	case t&fs.ModeCharDevice != 0:
		return "a character device"
	case t&fs.ModeDevice != 0:
		return "a block device"
	default:
		return "mode " + m.String()
	}
}
