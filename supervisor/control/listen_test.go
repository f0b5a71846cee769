//go:build linux

package control

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/testchild"
)

func statOwner(t *testing.T, path string) (fs.FileMode, uint32) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode(), fi.Sys().(*syscall.Stat_t).Gid
}

func TestListenModes(t *testing.T) {
	testchild.NeedRoot(t) // to give the socket a group
	tests := []struct {
		name      string
		group     string
		sock, dir fs.FileMode
		gid       uint32
	}{
		{"private", "", 0o600, 0o700, 0},
		{"group by gid", "4242", 0o660, 0o750, 4242},
		{"group by name", "root", 0o660, 0o750, 0},
	}
	// A umask that would strip the group bits must not change the outcome.
	old := unix.Umask(0o077)
	defer unix.Umask(old)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "run", "resreap", "control.sock")
			serve(t, path, Options{Group: tt.group}, emptyHandler{})
			mode, gid := statOwner(t, path)
			if want := fs.ModeSocket | tt.sock; mode != want || gid != tt.gid {
				t.Errorf("socket: have %v gid %d, want %v gid %d", mode, gid, want, tt.gid)
			}
			mode, gid = statOwner(t, filepath.Dir(path))
			if want := fs.ModeDir | tt.dir; mode != want || gid != tt.gid {
				t.Errorf("directory: have %v gid %d, want %v gid %d", mode, gid, want, tt.gid)
			}
			if r := call(t, path, Request{Cmd: "status"}); !r.OK {
				t.Errorf("status: %+v", r)
			}
			// Only the socket and its lock are left in the directory.
			ents, _ := os.ReadDir(filepath.Dir(path))
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			if have := strings.Join(names, " "); have != "control.sock control.sock.lock" {
				t.Errorf("directory holds %q", have)
			}
		})
	}
}

func TestListenKeepsExistingDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o711); err != nil {
		t.Fatal(err)
	}
	serve(t, filepath.Join(dir, "control.sock"), Options{}, emptyHandler{})
	if mode, _ := statOwner(t, dir); mode.Perm() != 0o711 {
		t.Errorf("existing directory changed to %v", mode)
	}
}

func TestListenInUse(t *testing.T) {
	path := filepath.Join(t.TempDir(), "control.sock")
	serve(t, path, Options{}, emptyHandler{})
	_, err := Listen(path, Options{}, testLogger(t))
	if !errors.Is(err, ErrInUse) {
		t.Fatalf("second Listen: %v, want ErrInUse", err)
	}
	want := fmt.Sprintf("another resreap is serving %s (pid %d)", path, os.Getpid())
	if !strings.Contains(err.Error(), want) {
		t.Errorf("second Listen: %q does not say %q", err, want)
	}
	// The refused Listen must leave the first server working.
	if r := call(t, path, Request{Cmd: "status"}); !r.OK {
		t.Errorf("status after a refused Listen: %+v", r)
	}
}

func TestListenTakesOverStaleSocket(t *testing.T) {
	tests := []struct {
		name  string
		leave func(t *testing.T, path string)
	}{
		{"listener closed without unlink", func(t *testing.T, path string) {
			ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
			if err != nil {
				t.Fatal(err)
			}
			ln.SetUnlinkOnClose(false)
			ln.Close()
		}},
		{"server that died", func(t *testing.T, path string) {
			srv, err := Listen(path, Options{}, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			srv.ln.Close() // as a crash would: the file stays
		}},
		{"bound socket that never listened", func(t *testing.T, path string) {
			fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "control.sock")
			tt.leave(t, path)
			if _, err := os.Lstat(path); err != nil {
				t.Fatalf("no leftover to take over: %v", err)
			}
			if _, err := Call(t.Context(), path, Request{Cmd: "status"}); !errors.Is(err, ErrNotRunning) {
				t.Errorf("Call on the leftover: %v, want ErrNotRunning", err)
			}
			serve(t, path, Options{}, emptyHandler{})
			if r := call(t, path, Request{Cmd: "status"}); !r.OK {
				t.Errorf("status: %+v", r)
			}
		})
	}
}

func TestListenRefusesNonSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "control.sock")
	if err := os.WriteFile(path, []byte("not mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(path, Options{}, testLogger(t)); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("Listen over a regular file: %v, want a refusal", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "not mine" {
		t.Errorf("the file was touched: %q", b)
	}
}

func TestListenBadInput(t *testing.T) {
	long := filepath.Join(t.TempDir(), strings.Repeat("x", 120))
	for _, tt := range []struct {
		path string
		opts Options
		want string
	}{
		{"", Options{}, "empty path"},
		{long, Options{}, "longer than"},
		{filepath.Join(t.TempDir(), "s"), Options{Group: "no-such-group-here"}, "no-such-group-here"},
	} {
		if _, err := Listen(tt.path, tt.opts, testLogger(t)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Listen(%q, %+v): %v, want an error with %q", tt.path, tt.opts, err, tt.want)
		}
	}
}

func TestCallNotRunning(t *testing.T) {
	path := filepath.Join(t.TempDir(), "control.sock")
	_, err := Call(t.Context(), path, Request{Cmd: "status"})
	if !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Call: %v, want ErrNotRunning", err)
	}
	if want := "resreap is not running (no control socket at " + path + ")"; err.Error() != want {
		t.Errorf("Call: have %q, want %q", err, want)
	}
}
