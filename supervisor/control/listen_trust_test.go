//go:build linux

package control

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/resreap/resreap/internal/safefs"
	"github.com/resreap/resreap/internal/testchild"
)

// A local user who may create entries in or beside the control socket's
// directory (a sticky, world-writable one such as /tmp), or who owns
// that directory, cannot make resreap create, bind or rename anything as
// root where the user chose: a directory planted as a link to a root
// directory, the lock file planted as a link, and a directory of the
// user's are each refused, and the root directory they point at keeps
// exactly its entries.
func TestListenRefusesPlantedPaths(t *testing.T) {
	u := testchild.NewUser(t)
	for _, tc := range []struct {
		name  string
		sock  string // the socket's path below the sticky directory
		plant func(sticky, rootDir string)
	}{
		{"directory planted as a link", "run/control.sock", func(sticky, rootDir string) {
			u.Run(t, "ln", "-s", rootDir, filepath.Join(sticky, "run"))
		}},
		{"lock planted as a link in a sticky directory", "control.sock", func(sticky, rootDir string) {
			u.Run(t, "ln", "-s", filepath.Join(rootDir, "made"), filepath.Join(sticky, "control.sock.lock"))
		}},
		{"directory of the user's", "mine/control.sock", func(sticky, _ string) {
			u.Run(t, "mkdir", filepath.Join(sticky, "mine"))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sticky, rootDir := stickyAndRoot(t)
			tc.plant(sticky, rootDir)
			srv, err := Listen(filepath.Join(sticky, tc.sock), Options{}, testLogger(t))
			if err == nil {
				srv.Close()
			}
			if !errors.Is(err, safefs.ErrUnsafe) {
				t.Errorf("Listen: %v; want a refusal of an unsafe path", err)
			} else {
				t.Logf("refused: %v", err)
			}
			if have := entries(t, rootDir); !slices.Equal(have, []string{"keep"}) {
				t.Errorf("root directory now holds %v, want only [keep]", have)
			}
		})
	}
}

// stickyAndRoot makes a sticky, world-writable directory (as /tmp is) and
// a root directory holding one file, both reachable by other users.
func stickyAndRoot(t *testing.T) (sticky, rootDir string) {
	t.Helper()
	base := t.TempDir()
	for _, p := range []string{filepath.Dir(base), base} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	rootDir = filepath.Join(base, "rootdir")
	if err := os.Mkdir(rootDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootDir, "keep"), []byte("root"), 0o600); err != nil {
		t.Fatal(err)
	}
	sticky = filepath.Join(base, "tmp")
	if err := os.Mkdir(sticky, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(sticky, os.ModeSticky|0o777); err != nil {
		t.Fatal(err)
	}
	return sticky, rootDir
}

// The lock file and the socket's private directory are made with the
// socket, through the directory safefs opened: a directory that exists
// keeps its mode, and only the socket and its lock are left in it.
func TestListenLeavesOnlySocketAndLock(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "control.sock")
	srv, stop := serve(t, path, Options{}, emptyHandler{})
	if have := entries(t, dir); !slices.Equal(have, []string{"control.sock", "control.sock.lock"}) {
		t.Errorf("directory holds %v", have)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	srv.Close()
	if have := entries(t, dir); !slices.Equal(have, []string{"control.sock.lock"}) {
		t.Errorf("after Close the directory holds %v, want only the lock", have)
	}
}

func entries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}
