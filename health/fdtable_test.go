//go:build linux

package health

import (
	"errors"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

// ListFDs lists a fixture's fd table in fd order (not the directory's
// name order: 10 after 9), with each target whole, also one longer than
// the first buffer it is read into.
func TestListFDsFixture(t *testing.T) {
	want := []FD{
		{0, "/dev/null"}, {2, "pipe:[77]"}, {3, "socket:[4242]"},
		{9, "anon_inode:[eventfd]"}, {10, "/var/log/a/rather/long/path/to/a/file.log"},
	}
	for _, size := range []int{unix.PathMax, 16} {
		have, err := listFDs("testdata/fds/proc", 106, size)
		if err != nil || !reflect.DeepEqual(have, want) {
			t.Errorf("listFDs with %d-byte links = %v, %v; want %v", size, have, err, want)
		}
	}
	for _, fd := range want {
		ino, ok := fd.Socket()
		if want := fd.Num == 3; ok != want || (ok && ino != 4242) {
			t.Errorf("%+v: Socket() = %d, %v", fd, ino, ok)
		}
	}
}

// The fds of the test process: a file and a socket it opened, the
// socket's inode that of its fd, as fstat says.
func TestListFDsSelf(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "held"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	lf, err := ln.(*net.TCPListener).File() // a dup of the listener's fd
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(lf.Fd()), &st); err != nil {
		t.Fatal(err)
	}

	fds, err := ListFDs("", os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.IsSortedFunc(fds, func(a, b FD) int { return a.Num - b.Num }) {
		t.Errorf("not in fd order: %v", fds)
	}
	byNum := map[int]FD{}
	for _, fd := range fds {
		byNum[fd.Num] = fd
	}
	if fd := byNum[int(f.Fd())]; fd.Target != f.Name() {
		t.Errorf("fd %d: %+v, want the file %s", f.Fd(), fd, f.Name())
	}
	if _, ok := byNum[int(f.Fd())].Socket(); ok {
		t.Errorf("the file is taken for a socket")
	}
	ino, ok := byNum[int(lf.Fd())].Socket()
	if !ok || ino != st.Ino {
		t.Errorf("fd %d: %+v gives socket %d, %v; want inode %d", lf.Fd(), byNum[int(lf.Fd())], ino, ok, st.Ino)
	}
}

// A process that is gone has no fd table; the error names the directory
// as os.ReadDir's would.
func TestListFDsGone(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.ProcessState.Pid()
	fds, err := ListFDs("", pid)
	if !errors.Is(err, fs.ErrNotExist) || fds != nil {
		t.Fatalf("ListFDs(gone %d) = %v, %v; want ENOENT", pid, fds, err)
	}
	_, rerr := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err.Error() != rerr.Error() {
		t.Errorf("error %q, os.ReadDir says %q", err, rerr)
	}
}
