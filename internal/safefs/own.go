//go:build linux

package safefs

import (
	"io/fs"
	"os"

	"golang.org/x/sys/unix"
)

// Self is the Policy of a process touching its own files: root alone when
// it runs as root, as resreap does; for a process of another user (a
// test, `resreap history` run by an operator) root and that user, whose
// files give it nothing it could not do already.
func Self() Policy { return Policy{UID: os.Geteuid()} }

// Stat returns what the open directory is now (fstat of its descriptor):
// its owner, group and mode.
func (d *Dir) Stat() (unix.Stat_t, error) {
	var st unix.Stat_t
	if err := unix.Fstat(d.fd, &st); err != nil {
		return st, &fs.PathError{Op: "fstat", Path: d.path, Err: err}
	}
	return st, nil
}

// Own gives the open directory perm's owner, group and mode, through its
// descriptor (as MkdirAll gives those it creates, the mode exactly). What
// it would make of the directory must still pass the rules: an owner the
// Policy does not trust, or a mode that lets another user or a group other
// than root's write there, is refused and nothing is changed.
func (d *Dir) Own(perm Perm) error {
	want := d.st
	want.Uid, want.Gid = uint32(perm.UID), uint32(perm.GID)
	want.Mode = want.Mode&unix.S_IFMT | perm.dirMode()
	if err := checkOwner(d.path, "directory", &want, d.pol); err != nil {
		return err
	}
	if err := checkWritable(d.path, &want); err != nil {
		return err
	}
	if err := unix.Fchown(d.fd, perm.UID, perm.GID); err != nil {
		return &fs.PathError{Op: "chown", Path: d.path, Err: err}
	}
	if err := unix.Fchmod(d.fd, perm.dirMode()); err != nil {
		return &fs.PathError{Op: "chmod", Path: d.path, Err: err}
	}
	st, err := d.Stat()
	if err != nil {
		return err
	}
	d.st = st
	return nil
}

// RenameAt renames the entry from in d to the entry to in dst (renameat:
// a link is moved, never followed): how something made in a private
// directory is put in place once it is ready.
func (d *Dir) RenameAt(from string, dst *Dir, to string) error {
	if err := checkName(from); err != nil {
		return err
	}
	if err := checkName(to); err != nil {
		return err
	}
	if err := unix.Renameat(d.fd, from, dst.fd, to); err != nil {
		return &os.LinkError{Op: "rename", Old: d.join(from), New: dst.join(to), Err: err}
	}
	return nil
}
