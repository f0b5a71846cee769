//go:build linux

package safefs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// maxLinks bounds the symbolic links followed while resolving one path,
// as the kernel's own 40.
const maxLinks = 40

// Dir is an open directory that passed the rules of the package, the
// anchor of every operation on the names in it. Close it when done.
type Dir struct {
	fd   int
	path string // as resolved, for messages
	st   unix.Stat_t
	pol  Policy
}

// Path is the directory's path, with the links on the way resolved.
func (d *Dir) Path() string { return d.path }

// Close closes the directory's descriptor.
func (d *Dir) Close() error {
	if d == nil || d.fd < 0 {
		return nil
	}
	err := unix.Close(d.fd)
	d.fd = -1
	return err
}

// OpenDir opens the existing directory at the absolute path, walking it
// from "/" under pol (see the package doc).
func OpenDir(path string, pol Policy) (*Dir, error) {
	d, _, err := walk(path, pol, nil, false)
	return d, err
}

// MkdirAll opens the directory at the absolute path as OpenDir does,
// creating what is missing of it with perm (root's, 0700 for the zero
// Perm; the mode is set exactly, whatever the umask), except that what
// it creates in a directory of the trusted user is that user's (and the
// directory's group). Directories that exist keep their owner and mode,
// and must pass the rules.
func MkdirAll(path string, perm Perm, pol Policy) (*Dir, error) {
	d, _, err := walk(path, pol, &perm, false)
	return d, err
}

func openRoot(pol Policy) (*Dir, error) {
	fd, err := unix.Open("/", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: "/", Err: err}
	}
	d := &Dir{fd: fd, path: "/", pol: pol}
	if err := unix.Fstat(fd, &d.st); err != nil {
		d.Close()
		return nil, &fs.PathError{Op: "fstat", Path: "/", Err: err}
	}
	if err := checkDir("/", &d.st, nil, pol); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// walk resolves path component by component from "/", creating missing
// directories with *mkdir when it is not nil. With probe, a missing
// component ends the walk without an error: it returns the last directory
// found and the components not found, the first of them missing.
func walk(path string, pol Policy, mkdir *Perm, probe bool) (*Dir, []string, error) {
	if !filepath.IsAbs(path) {
		return nil, nil, fmt.Errorf("%s: not an absolute path", path)
	}
	cur, err := openRoot(pol)
	if err != nil {
		return nil, nil, err
	}
	pending := split(path)
	links := 0
	for len(pending) > 0 {
		name := pending[0]
		pending = pending[1:]
		next, target, err := cur.step(name, mkdir)
		if probe && errors.Is(err, fs.ErrNotExist) {
			// The missing directories would be made in cur.
			if err := checkWritable(cur.path, &cur.st); err != nil {
				cur.Close()
				return nil, nil, err
			}
			return cur, append([]string{name}, pending...), nil
		}
		if err != nil {
			cur.Close()
			return nil, nil, err
		}
		if next == nil { // a trusted symbolic link: resolve its target first
			if links++; links > maxLinks {
				cur.Close()
				return nil, nil, &fs.PathError{Op: "open", Path: path, Err: unix.ELOOP}
			}
			if filepath.IsAbs(target) {
				cur.Close()
				if cur, err = openRoot(pol); err != nil {
					return nil, nil, err
				}
			}
			pending = append(split(target), pending...)
			continue
		}
		cur.Close()
		cur = next
	}
	d, err := cur.operable()
	return d, nil, err
}

// split returns the components of a path, without empty ones and ".".
func split(path string) []string {
	var out []string
	for _, c := range strings.Split(path, "/") {
		if c != "" && c != "." {
			out = append(out, c)
		}
	}
	return out
}

// step opens the directory name in d, creating it with *mkdir when it is
// missing and mkdir is not nil. For a symbolic link that the rules allow
// to follow it returns its target instead (next nil).
func (d *Dir) step(name string, mkdir *Perm) (next *Dir, target string, err error) {
	p := d.join(name)
	for range 2 {
		fd, err := unix.Openat(d.fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		switch {
		case err == nil:
			next := &Dir{fd: fd, path: p, pol: d.pol}
			if name == ".." {
				next.path = filepath.Dir(d.path)
			}
			if err := unix.Fstat(fd, &next.st); err != nil {
				next.Close()
				return nil, "", &fs.PathError{Op: "fstat", Path: p, Err: err}
			}
			parent := &d.st
			if name == ".." {
				parent = nil // going up: what matters is the directory itself
			}
			if err := checkDir(next.path, &next.st, parent, d.pol); err != nil {
				next.Close()
				return nil, "", err
			}
			return next, "", nil
		case errors.Is(err, unix.ENOENT) && mkdir != nil:
			perm := *mkdir
			if d.st.Uid != 0 {
				// In the trusted user's directory, what is made is
				// that user's: a root directory there would be
				// refused as an unsafe transition the moment it is
				// opened.
				perm.UID, perm.GID = int(d.st.Uid), int(d.st.Gid)
			}
			if err := d.mkdir(name, perm); err != nil && !errors.Is(err, fs.ErrExist) {
				return nil, "", err
			}
			continue // open what is there now, and check it
		case errors.Is(err, unix.ELOOP), errors.Is(err, unix.ENOTDIR):
			target, err := d.link(name)
			return nil, target, err
		default:
			return nil, "", &fs.PathError{Op: "open", Path: p, Err: err}
		}
	}
	return nil, "", &fs.PathError{Op: "open", Path: p, Err: unix.ENOENT}
}

// link returns the target of the symbolic link name in d if the rules let
// it be followed: the link is root's and so is d (which passed the rules,
// so nobody else can have put the link there). Anything else, or a name
// that is no link, is refused.
func (d *Dir) link(name string) (string, error) {
	p := d.join(name)
	var st unix.Stat_t
	if err := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return "", &fs.PathError{Op: "lstat", Path: p, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		return "", &fs.PathError{Op: "open", Path: p, Err: unix.ENOTDIR}
	}
	if st.Uid != 0 || d.st.Uid != 0 {
		return "", unsafe(p, "a symbolic link owned by %s in a directory owned by %s; resreap follows only root's links in root's directories",
			who(int(st.Uid)), who(int(d.st.Uid)))
	}
	buf := make([]byte, unix.PathMax)
	n, err := unix.Readlinkat(d.fd, name, buf)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: p, Err: err}
	}
	return string(buf[:n]), nil
}

// mkdir creates the directory name in d with perm, its mode set exactly
// (mkdirat's goes through the umask) and owned as perm says.
func (d *Dir) mkdir(name string, perm Perm) error {
	p := d.join(name)
	if err := unix.Mkdirat(d.fd, name, perm.dirMode()); err != nil {
		return &fs.PathError{Op: "mkdir", Path: p, Err: err}
	}
	fd, err := unix.Openat(d.fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &fs.PathError{Op: "open", Path: p, Err: err}
	}
	defer unix.Close(fd)
	if perm.UID != 0 || perm.GID != 0 {
		if err := unix.Fchown(fd, perm.UID, perm.GID); err != nil {
			return &fs.PathError{Op: "chown", Path: p, Err: err}
		}
	}
	if err := unix.Fchmod(fd, perm.dirMode()); err != nil {
		return &fs.PathError{Op: "chmod", Path: p, Err: err}
	}
	return nil
}

// join names an entry of d for messages.
func (d *Dir) join(name string) string { return filepath.Join(d.path, name) }

// Sub opens the existing directory name in d under d's rules. A root link
// in a root directory is followed; any other link is refused.
func (d *Dir) Sub(name string) (*Dir, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	next, target, err := d.step(name, nil)
	if err != nil {
		return nil, err
	}
	if next != nil {
		return next.operable()
	}
	return OpenDir(d.resolve(target), d.pol)
}

// Mkdir opens the directory name in d, creating it with perm when it is
// missing (the trusted user's when d is, as MkdirAll makes it); an
// existing one must pass the rules.
func (d *Dir) Mkdir(name string, perm Perm) (*Dir, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	next, target, err := d.step(name, &perm)
	if err != nil {
		return nil, err
	}
	if next != nil {
		return next.operable()
	}
	return MkdirAll(d.resolve(target), perm, d.pol)
}

// operable returns d if files may be made, replaced and removed in it
// (checkWritable), else closes it and says why not.
func (d *Dir) operable() (*Dir, error) {
	if err := checkWritable(d.path, &d.st); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// resolve makes a link target found in d absolute.
func (d *Dir) resolve(target string) string {
	if filepath.IsAbs(target) {
		return target
	}
	return filepath.Join(d.path, target)
}

// ReadDir lists the entries of d, sorted by name. Their types are what
// getdents says, without following links.
func (d *Dir) ReadDir() ([]fs.DirEntry, error) {
	fd, err := unix.Openat(d.fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: d.path, Err: err}
	}
	f := os.NewFile(uintptr(fd), d.path)
	defer f.Close()
	ents, err := f.ReadDir(-1)
	sortEntries(ents)
	return ents, err
}

// Lstat returns what name in d is, without following a link.
func (d *Dir) Lstat(name string) (unix.Stat_t, error) {
	var st unix.Stat_t
	if err := checkName(name); err != nil {
		return st, err
	}
	if err := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return st, &fs.PathError{Op: "lstat", Path: d.join(name), Err: err}
	}
	return st, nil
}

// Sync flushes the directory, making creations, renames and removals in
// it durable.
func (d *Dir) Sync() error {
	if err := unix.Fsync(d.fd); err != nil {
		return &fs.PathError{Op: "fsync", Path: d.path, Err: err}
	}
	return nil
}
