//go:build linux

package safefs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// OpenAppend opens the file name in d for appending, creating it with
// perm when it is missing (O_EXCL: never through a link planted in the
// meantime). An existing file must be a regular file with one link, owned
// by root, the trusted user or perm's owner; a link, a FIFO or a device is
// refused, and the open never blocks.
func (d *Dir) OpenAppend(name string, perm Perm) (*os.File, error) {
	return d.openFile(name, unix.O_WRONLY|unix.O_APPEND, perm, true)
}

// OpenRead opens the existing file name in d for reading. It must be a
// regular file with one link, owned by root or the trusted user and
// writable by nobody else (a config file someone else can change is
// theirs to run as root). The open never blocks on a FIFO.
func (d *Dir) OpenRead(name string) (*os.File, error) {
	f, err := d.openFile(name, unix.O_RDONLY, Perm{}, false)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		f.Close()
		return nil, &fs.PathError{Op: "fstat", Path: f.Name(), Err: err}
	}
	if err := checkWritable(f.Name(), &st); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// OpenReadBack opens the existing file name in d for reading back what
// resreap wrote there for owner (a rotated output file to compress): it
// must be what OpenAppend would append to, a regular file with one link
// owned by root, the trusted user or owner. Unlike OpenRead it accepts a
// file others may write (a log file mode 0660 for its group): what it
// holds is data to copy, never configuration to trust. The open never
// blocks on a FIFO.
func (d *Dir) OpenReadBack(name string, owner int) (*os.File, error) {
	return d.openFile(name, unix.O_RDONLY, Perm{UID: owner}, false)
}

// CreateNew creates the file name in d for writing with perm; it fails
// with an error wrapping fs.ErrExist when the name is taken, whatever it
// is (a link included).
func (d *Dir) CreateNew(name string, perm Perm) (*os.File, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	fd, err := unix.Openat(d.fd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, perm.fileMode())
	if err != nil {
		return nil, &fs.PathError{Op: "create", Path: d.join(name), Err: err}
	}
	f := os.NewFile(uintptr(fd), d.join(name))
	if err := own(f, perm); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// WriteNew creates the file name in d with perm and writes data to it.
func (d *Dir) WriteNew(name string, data []byte, perm Perm) error {
	f, err := d.CreateNew(name, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ReadFile reads the whole of the file name in d, opened as OpenRead
// does, refusing one larger than limit bytes.
func (d *Dir) ReadFile(name string, limit int64) ([]byte, error) {
	f, err := d.OpenRead(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", f.Name(), limit)
	}
	return data, nil
}

// openFile opens name in d with flags (plus O_CREAT|O_EXCL when it is
// missing and create is set), non-blocking while it is opened, and checks
// what it opened.
func (d *Dir) openFile(name string, flags int, perm Perm, create bool) (*os.File, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	p := d.join(name)
	base := flags | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_CLOEXEC
	for range 3 {
		fd, err := unix.Openat(d.fd, name, base, 0)
		created := false
		if errors.Is(err, unix.ENOENT) && create {
			fd, err = unix.Openat(d.fd, name, base|unix.O_CREAT|unix.O_EXCL, perm.fileMode())
			if errors.Is(err, unix.EEXIST) {
				continue // made by someone else meanwhile: open and check it
			}
			created = err == nil
		}
		if err != nil {
			return nil, d.openError(name, err)
		}
		f := os.NewFile(uintptr(fd), p)
		if err := d.checkOpened(f, perm, created); err != nil {
			f.Close()
			return nil, err
		}
		return f, nil
	}
	return nil, &fs.PathError{Op: "open", Path: p, Err: unix.EEXIST}
}

// checkOpened checks (and for a new file owns) what openFile opened, and
// makes its descriptor blocking again.
func (d *Dir) checkOpened(f *os.File, perm Perm, created bool) error {
	fd := int(f.Fd())
	if created {
		if err := own(f, perm); err != nil {
			return err
		}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return &fs.PathError{Op: "fstat", Path: f.Name(), Err: err}
	}
	if err := checkFile(f.Name(), &st, d.pol, perm.UID); err != nil {
		return err
	}
	if err := unix.SetNonblock(fd, false); err != nil {
		return &fs.PathError{Op: "fcntl", Path: f.Name(), Err: err}
	}
	return nil
}

// own gives a file just created its owner and exact mode.
func own(f *os.File, perm Perm) error {
	fd := int(f.Fd())
	if perm.UID != 0 || perm.GID != 0 {
		if err := unix.Fchown(fd, perm.UID, perm.GID); err != nil {
			return &fs.PathError{Op: "chown", Path: f.Name(), Err: err}
		}
	}
	if err := unix.Fchmod(fd, perm.fileMode()); err != nil {
		return &fs.PathError{Op: "chmod", Path: f.Name(), Err: err}
	}
	return nil
}

// openError explains a failed open of name in d: a link or a FIFO is
// named as what it is.
func (d *Dir) openError(name string, err error) error {
	p := d.join(name)
	var st unix.Stat_t
	serr := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	switch {
	case serr == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK:
		return unsafe(p, "a symbolic link (owned by %s); resreap does not follow links to the files it writes or reads as root", who(int(st.Uid)))
	case serr == nil && st.Mode&unix.S_IFMT != unix.S_IFREG && (errors.Is(err, unix.ENXIO) || errors.Is(err, unix.EISDIR)):
		return unsafe(p, "not a regular file (%s)", kind(st.Mode))
	}
	return &fs.PathError{Op: "open", Path: p, Err: err}
}

// Rename renames the entry from in d to to in d (renameat: a link is
// renamed, never followed).
func (d *Dir) Rename(from, to string) error {
	if err := checkName(from); err != nil {
		return err
	}
	if err := checkName(to); err != nil {
		return err
	}
	if err := unix.Renameat(d.fd, from, d.fd, to); err != nil {
		return &os.LinkError{Op: "rename", Old: d.join(from), New: d.join(to), Err: err}
	}
	return nil
}

// Remove removes the entry name of d that is not a directory (a link is
// removed itself). A missing entry is an error wrapping fs.ErrNotExist.
func (d *Dir) Remove(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	if err := unix.Unlinkat(d.fd, name, 0); err != nil {
		return &fs.PathError{Op: "remove", Path: d.join(name), Err: err}
	}
	return nil
}

// RemoveAll removes the entry name of d and, if it is a directory,
// everything below it, descending through descriptors opened with
// O_NOFOLLOW: a link anywhere in the tree is removed, never followed, so
// nothing outside the tree can be reached. A missing entry is no error.
func (d *Dir) RemoveAll(name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	return removeAt(d.fd, name, d.join(name))
}

func removeAt(dfd int, name, path string) error {
	err := unix.Unlinkat(dfd, name, 0)
	if err == nil || errors.Is(err, unix.ENOENT) {
		return nil
	}
	if !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EPERM) {
		return &fs.PathError{Op: "remove", Path: path, Err: err}
	}
	fd, err := unix.Openat(dfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	switch {
	case errors.Is(err, unix.ENOENT):
		return nil
	case errors.Is(err, unix.ELOOP), errors.Is(err, unix.ENOTDIR):
		// Swapped for a link or a file since the unlink: unlink that.
		if err := unix.Unlinkat(dfd, name, 0); err != nil && !errors.Is(err, unix.ENOENT) {
			return &fs.PathError{Op: "remove", Path: path, Err: err}
		}
		return nil
	case err != nil:
		return &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	// Entries made while the tree is removed make the last rmdir fail
	// with ENOTEMPTY: read and remove again, a bounded number of times.
	for range 3 {
		if err := removeEntries(fd, path); err != nil {
			return err
		}
		err := unix.Unlinkat(dfd, name, unix.AT_REMOVEDIR)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.ENOTEMPTY) {
			return &fs.PathError{Op: "remove", Path: path, Err: err}
		}
	}
	return &fs.PathError{Op: "remove", Path: path, Err: unix.ENOTEMPTY}
}

// removeEntries removes every entry of the directory open as fd.
func removeEntries(fd int, path string) error {
	dfd, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &fs.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(dfd), path)
	ents, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range ents {
		if err := removeAt(fd, e.Name(), filepath.Join(path, e.Name())); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func sortEntries(ents []fs.DirEntry) {
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
}
