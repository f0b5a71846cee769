//go:build linux

package proc

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/resreap/resreap/internal/cgroup"
	"github.com/resreap/resreap/internal/cgroup/cgrouptest"
	"github.com/resreap/resreap/internal/testchild"
)

// Bind gives listening sockets, bound here or by a helper in a cgroup,
// that accept connections; the helper is gone when Bind returns, and an
// address in use fails the whole call with the helper's reason.
func TestBind(t *testing.T) {
	for _, mode := range []string{"here", "cgroup"} {
		t.Run(mode, func(t *testing.T) {
			var g cgroup.Group
			if mode == "cgroup" {
				g = cgrouptest.New(t)
			}
			path := filepath.Join(t.TempDir(), "s.sock")
			files, err := testReaper.Bind(g, []Socket{{Address: "127.0.0.1:0", Backlog: 16}, {Unix: true, Address: path}, {Address: "[::1]:0"}})
			if err != nil && strings.Contains(err.Error(), "::1") {
				testchild.Need(t, "IPv6 loopback", false)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer closeAll(files)
			if len(files) != 3 {
				t.Fatalf("%d files, want 3", len(files))
			}
			for i, f := range files {
				ln, err := net.FileListener(f)
				if err != nil {
					t.Fatalf("socket %d: %v", i, err)
				}
				defer ln.Close()
				c, err := net.Dial(ln.Addr().Network(), ln.Addr().String())
				if err != nil {
					t.Fatalf("dial socket %d at %s: %v", i, ln.Addr(), err)
				}
				c.Close()
			}
			if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o666 {
				t.Errorf("unix socket %v (%v), want mode 0666", fi, err)
			}
			if g != (cgroup.Group{}) {
				if procs, err := g.Procs(); err != nil || len(procs) != 0 {
					t.Errorf("cgroup holds %v (%v) after Bind, want no helper left", procs, err)
				}
			}
			// The TCP port is taken now: a second Bind fails whole.
			ln, err := net.FileListener(files[0])
			if err != nil {
				t.Fatal(err)
			}
			port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
			ln.Close()
			again, err := testReaper.Bind(g, []Socket{{Address: "127.0.0.1:" + port}})
			if !errors.Is(err, ErrBind) || !strings.Contains(err.Error(), "address already in use") {
				closeAll(again)
				t.Errorf("second bind of port %s: %v, want ErrBind, address already in use", port, err)
			}
			// A live unix socket is not removed, a stale one is.
			if _, err := testReaper.Bind(g, []Socket{{Unix: true, Address: path}}); err == nil || !strings.Contains(err.Error(), "another process listens") {
				t.Errorf("bind over a live unix socket: %v, want refused", err)
			}
		})
	}
}

// Files passed with ExtraFiles are fds 3, 4, ... of the program, and
// with ListenPID it finds LISTEN_PID set to its own PID: the shim's error
// pipe sits after them and is closed by the exec.
func TestExtraFilesListenPID(t *testing.T) {
	sh := testchild.NeedCommand(t, "sh")
	files, err := BindHere([]Socket{{Address: "127.0.0.1:0"}, {Address: "127.0.0.1:0"}})
	if err != nil {
		t.Fatal(err)
	}
	defer closeAll(files)
	script := `echo "$LISTEN_PID $$"; readlink /proc/$$/fd/3 /proc/$$/fd/4; readlink /proc/$$/fd/5 || echo none`
	for _, nofile := range []uint64{0, 200} {
		p := spawn(t, Command{Path: sh, Args: []string{"sh", "-c", script}, ExtraFiles: files, ListenPID: true, RlimitNofile: nofile})
		out := strings.Split(strings.TrimSpace(readAll(t, p.Outputs()[0])), "\n")
		waitExit(t, p)
		pid := strconv.Itoa(p.PID())
		if len(out) != 4 || out[0] != pid+" "+pid || !strings.HasPrefix(out[1], "socket:") || !strings.HasPrefix(out[2], "socket:") || out[3] != "none" {
			t.Errorf("rlimit %d: sh printed %q; want LISTEN_PID=%s, fds 3 and 4 sockets, no fd 5", nofile, out, pid)
		}
	}
}
