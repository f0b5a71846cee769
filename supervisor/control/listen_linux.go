//go:build linux

package control

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// maxSocketPath is the room in sockaddr_un.sun_path, less the final NUL.
const maxSocketPath = len(unix.RawSockaddrUnix{}.Path) - 1

// probeTimeout bounds the dial that asks whether a socket is alive. A live
// resreap accepts in microseconds; the timeout only matters for a hung one,
// which is then reported rather than replaced.
const probeTimeout = 2 * time.Second

func sameFile(path string, id fileIdent) bool {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		return false
	}
	return fileIdent{uint64(st.Dev), st.Ino} == id
}

// listenSocket does the work of Listen: see its doc for the rules.
func listenSocket(path string, opts Options) (*net.UnixListener, fileIdent, access, error) {
	acc := access{owner: uint32(os.Geteuid())}
	if path == "" {
		return nil, fileIdent{}, acc, errors.New("control socket: empty path")
	}
	path = filepath.Clean(path)
	if len(path) > maxSocketPath {
		return nil, fileIdent{}, acc, fmt.Errorf("control socket %s: path longer than %d bytes", path, maxSocketPath)
	}
	sockMode, dirMode := os.FileMode(0o600), os.FileMode(0o700)
	gid := -1
	if opts.Group != "" {
		g, err := lookupGroup(opts.Group)
		if err != nil {
			return nil, fileIdent{}, acc, err
		}
		acc.gid, acc.group, acc.groupName, gid = g, true, opts.Group, int(g)
		sockMode, dirMode = 0o660, 0o750
	}
	dir := filepath.Dir(path)
	if err := ensureDir(dir, dirMode, gid); err != nil {
		return nil, fileIdent{}, acc, fmt.Errorf("control socket directory: %w", err)
	}

	// Two resreaps starting together would both find the old socket dead
	// and both install their own, the loser serving a name nobody can
	// reach; a lock held from the probe to the rename makes the second one
	// see the first's socket alive.
	unlock, err := lockFile(path + ".lock")
	if err != nil {
		return nil, fileIdent{}, acc, fmt.Errorf("control socket lock: %w", err)
	}
	defer unlock()
	if err := checkStale(path); err != nil {
		return nil, fileIdent{}, acc, err
	}

	// Bind under a private 0700 directory, set the mode and group there,
	// then rename into place: clients can reach the socket only once it
	// has its final permissions, whatever the umask, and the rename
	// replaces a stale socket atomically.
	tmp, err := os.MkdirTemp(dir, ".ctl")
	if err != nil {
		return nil, fileIdent{}, acc, fmt.Errorf("control socket: %w", err)
	}
	defer os.RemoveAll(tmp)
	tmpPath := filepath.Join(tmp, "s")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmpPath, Net: "unix"})
	if err != nil {
		return nil, fileIdent{}, acc, fmt.Errorf("control socket: %w", err)
	}
	// The socket leaves tmpPath; Close unlinks the real path itself.
	ln.SetUnlinkOnClose(false)
	id, err := placeSocket(tmpPath, path, sockMode, gid)
	if err != nil {
		ln.Close()
		return nil, fileIdent{}, acc, fmt.Errorf("control socket: %w", err)
	}
	return ln, id, acc, nil
}

func placeSocket(tmpPath, path string, mode os.FileMode, gid int) (fileIdent, error) {
	if err := os.Chmod(tmpPath, mode); err != nil {
		return fileIdent{}, err
	}
	if gid >= 0 {
		if err := os.Lchown(tmpPath, -1, gid); err != nil {
			return fileIdent{}, err
		}
	}
	var st unix.Stat_t
	if err := unix.Lstat(tmpPath, &st); err != nil {
		return fileIdent{}, &os.PathError{Op: "lstat", Path: tmpPath, Err: err}
	}
	if err := os.Rename(tmpPath, path); err != nil {
		return fileIdent{}, err
	}
	return fileIdent{uint64(st.Dev), st.Ino}, nil
}

// ensureDir creates dir with mode and group when it is missing. An existing
// directory keeps its mode (the administrator's choice, or systemd's
// RuntimeDirectoryMode=), except that with a group the group must be able
// to reach the socket in it: a directory resreap owns is given the group
// and g+x; one it does not own and that keeps the group out is an error
// that says so, rather than a socket its members cannot use.
func ensureDir(dir string, mode os.FileMode, gid int) error {
	if st, err := os.Stat(dir); err == nil {
		return groupCanEnter(dir, st, gid)
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(dir, mode); err != nil {
		return err
	}
	// MkdirAll's mode went through the umask.
	if err := os.Chmod(dir, mode); err != nil {
		return err
	}
	if gid >= 0 {
		return os.Lchown(dir, -1, gid)
	}
	return nil
}

// groupCanEnter makes sure members of gid (-1: no group) can traverse
// the existing directory dir.
func groupCanEnter(dir string, st os.FileInfo, gid int) error {
	sys, ok := st.Sys().(*syscall.Stat_t)
	perm := st.Mode().Perm()
	switch {
	case gid < 0 || !ok || perm&0o001 != 0:
		return nil // no group, or others may enter anyway
	case int(sys.Gid) == gid && perm&0o010 != 0:
		return nil
	case int(sys.Uid) != os.Geteuid():
		return fmt.Errorf("%s is %v, owner %d, group %d: the control group (gid %d) cannot reach the socket in it; give it that group and g+x, or choose another control_socket",
			dir, perm, sys.Uid, sys.Gid, gid)
	}
	if err := os.Lchown(dir, -1, gid); err != nil {
		return err
	}
	return os.Chmod(dir, perm|0o010)
}

// checkStale decides what to do with whatever is at path: nothing there or
// a socket nobody answers on (connection refused) is fine to replace; a
// live socket means another resreap; anything else is refused rather than
// deleted, since a busy server (EAGAIN) or a regular file is not ours to
// remove.
func checkStale(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	if fi.Mode().Type() != os.ModeSocket {
		return fmt.Errorf("control socket %s: exists and is not a socket", path)
	}
	c, err := net.DialTimeout("unix", path, probeTimeout)
	if err == nil {
		defer c.Close()
		if p, err := peerCred(c.(*net.UnixConn)); err == nil && p.PID > 0 {
			return fmt.Errorf("%w: another resreap is serving %s (pid %d)", ErrInUse, path, p.PID)
		}
		return fmt.Errorf("%w: another resreap is serving %s", ErrInUse, path)
	}
	if errors.Is(err, syscall.ECONNREFUSED) {
		return nil
	}
	return fmt.Errorf("control socket %s: cannot tell whether it is in use: %w", path, err)
}

// lockFile takes an exclusive flock on path, creating it, until the
// returned function is called. The file stays behind: removing a lock file
// would let a third process lock a fresh inode while a second holds the
// old one.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, &os.PathError{Op: "flock", Path: path, Err: err}
	}
	return func() { f.Close() }, nil
}
