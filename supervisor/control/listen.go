//go:build linux

package control

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/safefs"
)

// maxSocketPath is the room in sockaddr_un.sun_path, less the final NUL.
const maxSocketPath = len(unix.RawSockaddrUnix{}.Path) - 1

// probeTimeout bounds the dial that asks whether a socket is alive. A live
// resreap accepts in microseconds; the timeout only matters for a hung one,
// which is then reported rather than replaced.
const probeTimeout = 2 * time.Second

// listenSocket does the work of Listen: see its doc for the rules.
//
// Everything it creates, renames and removes goes through safefs, in a
// directory it verified from "/": one that another user owns or may write
// (but for a sticky one such as /tmp), or reached through a link such a
// user could have made, is refused, so nobody can have resreap create,
// bind or rename anything as root where they choose. bind(2) alone needs a
// path: it is given one inside a private directory made through the
// verified one, whose every component has passed the rules.
func listenSocket(path string, opts Options) (*net.UnixListener, fileIdent, access, error) {
	acc := access{owner: uint32(os.Geteuid())}
	if path == "" {
		return nil, fileIdent{}, acc, errors.New("control socket: empty path")
	}
	path = filepath.Clean(path)
	if len(path) > maxSocketPath {
		return nil, fileIdent{}, acc, fmt.Errorf("control socket %s: path longer than %d bytes", path, maxSocketPath)
	}
	if !filepath.IsAbs(path) {
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fileIdent{}, acc, fmt.Errorf("control socket %s: %w", path, err)
		}
		path = abs
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
	dir, err := ensureDir(filepath.Dir(path), dirMode, gid)
	if err != nil {
		return nil, fileIdent{}, acc, fmt.Errorf("control socket directory: %w", err)
	}
	defer dir.Close()
	name := filepath.Base(path)

	// Two resreaps starting together would both find the old socket dead
	// and both install their own, the loser serving a name nobody can
	// reach; a lock held from the probe to the rename makes the second one
	// see the first's socket alive.
	unlock, err := lockFile(dir, name+".lock")
	if err != nil {
		return nil, fileIdent{}, acc, fmt.Errorf("control socket lock: %w", err)
	}
	defer unlock()
	if err := checkStale(dir, name, path); err != nil {
		return nil, fileIdent{}, acc, err
	}

	// Bind under a private 0700 directory, set the mode and group there,
	// then rename into place: clients can reach the socket only once it
	// has its final permissions, whatever the umask, and the rename
	// replaces a stale socket atomically.
	tmpName, tmp, err := privateDir(dir)
	if err != nil {
		return nil, fileIdent{}, acc, fmt.Errorf("control socket: %w", err)
	}
	defer dir.RemoveAll(tmpName) //nolint:errcheck // a leftover is harmless, and the next start's
	defer tmp.Close()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(tmp.Path(), "s"), Net: "unix"})
	if err != nil {
		return nil, fileIdent{}, acc, fmt.Errorf("control socket: %w", err)
	}
	// The socket leaves the private directory; Close unlinks the real
	// path itself.
	ln.SetUnlinkOnClose(false)
	id, err := placeSocket(tmp, dir, name, sockMode, gid)
	if err != nil {
		ln.Close()
		return nil, fileIdent{}, acc, fmt.Errorf("control socket: %w", err)
	}
	return ln, id, acc, nil
}

// privateDir makes a fresh directory of resreap's alone (0700) in dir, for
// the socket to be bound in, and returns its name and the directory.
func privateDir(dir *safefs.Dir) (string, *safefs.Dir, error) {
	var b [4]byte
	for range 10 {
		rand.Read(b[:]) //nolint:errcheck // crypto/rand does not fail on Linux
		name := ".ctl" + hex.EncodeToString(b[:])
		if _, err := dir.Lstat(name); !errors.Is(err, fs.ErrNotExist) {
			continue // taken (a leftover of a crash): another name
		}
		tmp, err := dir.Mkdir(name, selfPerm(0o700))
		return name, tmp, err
	}
	return "", nil, fmt.Errorf("%s: no free name for a private directory", dir.Path())
}

// placeSocket gives the socket s in the private directory tmp its mode
// and group, and renames it to name in dir. The mode and group need a
// path (fchmod of a socket's descriptor does not reach its inode on
// disk): the one through tmp is safe, as nobody but resreap can enter
// tmp or change what leads to it.
func placeSocket(tmp, dir *safefs.Dir, name string, mode os.FileMode, gid int) (fileIdent, error) {
	sock := filepath.Join(tmp.Path(), "s")
	if err := os.Chmod(sock, mode); err != nil {
		return fileIdent{}, err
	}
	if gid >= 0 {
		if err := os.Lchown(sock, -1, gid); err != nil {
			return fileIdent{}, err
		}
	}
	st, err := tmp.Lstat("s")
	if err != nil {
		return fileIdent{}, err
	}
	if err := tmp.RenameAt("s", dir, name); err != nil {
		return fileIdent{}, err
	}
	return fileIdent{uint64(st.Dev), st.Ino}, nil
}

// removeSocket removes the socket at path if it is still the one with
// identity id (a later resreap may have replaced it), through its
// directory as safefs opens it. A socket or directory already gone is no
// error.
func removeSocket(path string, id fileIdent) error {
	path, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	dir, err := safefs.OpenDir(filepath.Dir(path), safefs.Self())
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer dir.Close()
	name := filepath.Base(path)
	st, err := dir.Lstat(name)
	if err != nil || (fileIdent{uint64(st.Dev), st.Ino}) != id {
		return nil
	}
	if err := dir.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// ensureDir opens dir through safefs, creating it with mode and group when
// it is missing (its missing parents with mode). An existing directory
// keeps its mode (the administrator's choice, or systemd's
// RuntimeDirectoryMode=), except that with a group the group must be able
// to reach the socket in it: a directory resreap owns is given the group
// and g+x; one it does not own and that keeps the group out is an error
// that says so, rather than a socket its members cannot use.
func ensureDir(dir string, mode os.FileMode, gid int) (*safefs.Dir, error) {
	d, err := safefs.OpenDir(dir, safefs.Self())
	if errors.Is(err, fs.ErrNotExist) {
		d, err = makeDir(dir, mode, gid)
	}
	if err != nil {
		return nil, err
	}
	if err := groupCanEnter(d, gid); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// makeDir creates dir, resreap's, with mode (exactly: not through the
// umask) and group gid (-1: resreap's own), and the directories missing
// above it with mode.
func makeDir(dir string, mode os.FileMode, gid int) (*safefs.Dir, error) {
	perm := selfPerm(uint32(mode.Perm()))
	parent, err := safefs.MkdirAll(filepath.Dir(dir), perm, safefs.Self())
	if err != nil {
		return nil, err
	}
	defer parent.Close()
	if gid >= 0 {
		perm.GID = gid
	}
	return parent.Mkdir(filepath.Base(dir), perm)
}

// selfPerm is mode for what resreap creates: owned by its own user and
// group.
func selfPerm(mode uint32) safefs.Perm {
	return safefs.Perm{UID: os.Geteuid(), GID: os.Getegid(), Mode: mode}
}

// groupCanEnter makes sure members of gid (-1: no group) can traverse
// the directory d.
func groupCanEnter(d *safefs.Dir, gid int) error {
	if gid < 0 {
		return nil
	}
	st, err := d.Stat()
	if err != nil {
		return err
	}
	perm := fs.FileMode(st.Mode & 0o777)
	switch {
	case perm&0o001 != 0:
		return nil // others may enter anyway
	case int(st.Gid) == gid && perm&0o010 != 0:
		return nil
	case int(st.Uid) != os.Geteuid():
		return fmt.Errorf("%s is %v, owner %d, group %d: the control group (gid %d) cannot reach the socket in it; give it that group and g+x, or choose another control_socket",
			d.Path(), perm, st.Uid, st.Gid, gid)
	}
	return d.Own(safefs.Perm{UID: int(st.Uid), GID: gid, Mode: st.Mode&0o7777 | 0o010})
}

// checkStale decides what to do with whatever is at name in dir (path):
// nothing there or a socket nobody answers on (connection refused) is fine
// to replace; a live socket means another resreap; anything else is
// refused rather than deleted, since a busy server (EAGAIN) or a regular
// file is not ours to remove.
func checkStale(dir *safefs.Dir, name, path string) error {
	st, err := dir.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
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

// lockFile takes an exclusive flock on name in dir, creating it (0600,
// never through a link), until the returned function is called. flock
// needs no particular access, so it is opened as safefs opens files to
// append. The file stays behind: removing a lock file would let a third
// process lock a fresh inode while a second holds the old one.
func lockFile(dir *safefs.Dir, name string) (func(), error) {
	f, err := dir.OpenAppend(name, selfPerm(0o600))
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
		return nil, &os.PathError{Op: "flock", Path: f.Name(), Err: err}
	}
	return func() { f.Close() }, nil
}
