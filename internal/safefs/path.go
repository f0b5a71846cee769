//go:build linux

package safefs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// OpenAppendPath opens the file at the absolute path for appending as
// Dir.OpenAppend does, creating the directories missing above it with
// dirPerm.
func OpenAppendPath(path string, perm, dirPerm Perm, pol Policy) (*os.File, error) {
	d, err := MkdirAll(filepath.Dir(path), dirPerm, pol)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.OpenAppend(filepath.Base(path), perm)
}

// ReadFile reads the file at the absolute path, opened as Dir.OpenRead
// does, refusing one larger than limit bytes. Unlike the files resreap
// writes, the last name may be a link when the link is root's in a root
// directory (a config file linked to the version in use).
func ReadFile(path string, pol Policy, limit int64) ([]byte, error) {
	for range maxLinks {
		d, err := OpenDir(filepath.Dir(path), pol)
		if err != nil {
			return nil, err
		}
		name := filepath.Base(path)
		data, err := d.ReadFile(name, limit)
		var ue *UnsafeError
		if errors.As(err, &ue) {
			if st, serr := d.Lstat(name); serr == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
				target, lerr := d.link(name)
				if lerr != nil {
					d.Close()
					return nil, lerr
				}
				path = d.resolve(target)
				d.Close()
				continue
			}
		}
		d.Close()
		return data, err
	}
	return nil, &fs.PathError{Op: "open", Path: path, Err: unix.ELOOP}
}

// CheckDir reports what would make the directory at the absolute path
// refused, without creating or changing anything: every component that
// exists is checked; the missing ones would be created by resreap, as
// root's.
func CheckDir(path string, pol Policy) error {
	d, _, err := walk(path, pol, nil, true)
	if err != nil {
		return err
	}
	return d.Close()
}

// CheckFile reports what would make the file at the absolute path refused
// for writing: its directory as CheckDir checks it, and the file itself
// when it exists (a link, a FIFO, a file with several links, a file of
// anybody but root, the trusted user and owner).
func CheckFile(path string, pol Policy, owner int) error {
	d, missing, err := walk(filepath.Dir(path), pol, nil, true)
	if err != nil {
		return err
	}
	defer d.Close()
	if len(missing) > 0 {
		return nil
	}
	name := filepath.Base(path)
	st, err := d.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return unsafe(d.join(name), "a symbolic link (owned by %s); resreap does not follow links to the files it writes as root", who(int(st.Uid)))
	}
	return checkFile(d.join(name), &st, pol, owner)
}
