//go:build linux

package safefs

import (
	"errors"
	"fmt"
	"os/user"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Policy says whom a path may trust besides root. The zero value trusts
// root alone: state, history and capture directories, the control socket's
// directory, the config file.
type Policy struct {
	// UID is the one user besides root who may own, and write, the
	// directories of the path and the file at its end: a child's own user
	// for its output files. 0 means nobody but root.
	UID int
}

// Perm is the owner and mode given to a file or directory this package
// creates. The zero value is root's, mode 0600 for a file and 0700 for a
// directory. Existing files keep their owner and mode.
type Perm struct {
	UID, GID int
	Mode     uint32 // permission bits; 0: the default above
}

func (p Perm) fileMode() uint32 {
	if p.Mode == 0 {
		return 0o600
	}
	return p.Mode & 0o7777
}

func (p Perm) dirMode() uint32 {
	if p.Mode == 0 {
		return 0o700
	}
	return p.Mode & 0o7777
}

// ErrUnsafe is wrapped by every refusal of a path that another user could
// have planted or could change; errors.Is(err, ErrUnsafe) tells them
// apart from I/O errors.
var ErrUnsafe = errors.New("unsafe path")

// UnsafeError is a path refused by the rules of this package: Path is the
// directory, link or file at fault, Why says what is wrong with it in
// words an operator can act on.
type UnsafeError struct {
	Path string
	Why  string
}

func (e *UnsafeError) Error() string { return e.Path + ": " + e.Why }

// Is makes errors.Is(err, ErrUnsafe) true.
func (e *UnsafeError) Is(target error) bool { return target == ErrUnsafe }

func unsafe(path, format string, args ...any) error {
	return &UnsafeError{Path: path, Why: fmt.Sprintf(format, args...)}
}

// checkDir says whether the directory at path, with stat st, found in the
// directory with stat parent (nil for "/"), may be trusted under pol on
// the way to another: its owner, the transition from parent, and nobody
// but its group able to write it. The directory an operation happens in
// must also pass checkWritable (see walk).
//
// A directory on the way may be writable by its group, as Ubuntu's
// /var/log is (root:syslog 0775): the group's members could rename what
// is in it, but whatever resreap then finds there must still pass these
// rules itself (theirs, or a link of theirs, is refused), so they can at
// most swap one of root's directories there for another. The directory
// where resreap creates, appends, renames and removes may not be: there
// its group could swap the very files.
func checkDir(path string, st, parent *unix.Stat_t, pol Policy) error {
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return unsafe(path, "not a directory")
	}
	if err := checkOwner(path, "directory", st, pol); err != nil {
		return err
	}
	// systemd's unsafe transition: a user's directory may lead only to
	// what that same user owns (it could have put anything there).
	if parent != nil && parent.Uid != 0 && st.Uid != parent.Uid {
		return unsafe(path, "owned by %s inside a directory owned by %s: the owner of the directory above could have put it there",
			who(int(st.Uid)), who(int(parent.Uid)))
	}
	if st.Mode&0o002 != 0 && st.Mode&unix.S_ISVTX == 0 {
		return unsafe(path, "writable by every user (mode %04o); remove o+w or make it sticky", st.Mode&0o7777)
	}
	return nil
}

// checkWritable refuses a directory or file that users other than its
// owner and root may write: group-writable unless the group is root's,
// world-writable unless it is a sticky directory (where nobody can replace
// an entry they do not own).
func checkWritable(path string, st *unix.Stat_t) error {
	sticky := st.Mode&unix.S_ISVTX != 0 && st.Mode&unix.S_IFMT == unix.S_IFDIR
	switch {
	case st.Mode&0o002 != 0 && !sticky:
		return unsafe(path, "writable by every user (mode %04o); remove o+w or make it sticky", st.Mode&0o7777)
	case st.Mode&0o020 != 0 && st.Gid != 0 && !sticky:
		return unsafe(path, "writable by group %s (mode %04o): its members could replace what resreap uses there; remove g+w",
			group(int(st.Gid)), st.Mode&0o7777)
	}
	return nil
}

// checkOwner refuses what is owned by anyone but root and the user pol
// trusts.
func checkOwner(path, what string, st *unix.Stat_t, pol Policy, also ...int) error {
	uid := int(st.Uid)
	if uid == 0 || (pol.UID != 0 && uid == pol.UID) {
		return nil
	}
	for _, a := range also {
		if uid == a {
			return nil
		}
	}
	allowed := "root"
	if pol.UID != 0 {
		allowed += " or " + who(pol.UID)
	}
	return unsafe(path, "%s owned by %s; only %s may own it", what, who(uid), allowed)
}

// checkFile says whether the file at path, with stat st, may be used: a
// regular file with one link, owned by root, the trusted user or one of
// also (the owner resreap gives new files there).
func checkFile(path string, st *unix.Stat_t, pol Policy, also ...int) error {
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return unsafe(path, "not a regular file (%s)", kind(st.Mode))
	}
	if st.Nlink != 1 {
		// A hard link made by another user to a file of root's would
		// otherwise pass the owner check below.
		return unsafe(path, "has %d hard links; resreap writes only to a file with one", st.Nlink)
	}
	return checkOwner(path, "file", st, pol, also...)
}

// kind names a file type for a message.
func kind(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return "a directory"
	case unix.S_IFLNK:
		return "a symbolic link"
	case unix.S_IFIFO:
		return "a FIFO"
	case unix.S_IFSOCK:
		return "a socket"
	case unix.S_IFCHR:
		return "a character device"
	case unix.S_IFBLK:
		return "a block device"
	}
	return "a regular file"
}

// who names a user for a message: "alice (uid 1001)".
func who(uid int) string {
	if uid == 0 {
		return "root"
	}
	if u, err := user.LookupId(strconv.Itoa(uid)); err == nil {
		return u.Username + " (uid " + strconv.Itoa(uid) + ")"
	}
	return "uid " + strconv.Itoa(uid)
}

// group names a group for a message.
func group(gid int) string {
	if g, err := user.LookupGroupId(strconv.Itoa(gid)); err == nil {
		return g.Name + " (gid " + strconv.Itoa(gid) + ")"
	}
	return "gid " + strconv.Itoa(gid)
}

// checkName refuses a name that is not one entry of a directory.
func checkName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("%q is not a file name", name)
	}
	return nil
}
