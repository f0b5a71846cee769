//go:build linux

package supervisor

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/resreap/resreap/internal/safefs"
	"github.com/resreap/resreap/internal/testchild"
)

// The instance lock is made in a state_dir resreap alone may write; one
// that another user owns, or may write, is refused, and a lock file a user
// planted as a link is never created through (O_CREAT on the link would
// make its target, as root).
func TestLockInstanceRefusesUnsafeStateDir(t *testing.T) {
	u := testchild.NewUser(t)
	base := t.TempDir()
	for _, p := range []string{filepath.Dir(base), base} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	rootDir := filepath.Join(base, "rootdir") // the user cannot write here
	if err := os.Mkdir(rootDir, 0o755); err != nil {
		t.Fatal(err)
	}
	mkdir := func(name string, mode os.FileMode, uid, gid int) string {
		p := filepath.Join(base, name)
		if err := os.Mkdir(p, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name string
		dir  string
	}{
		{"owned by a user", mkdir("owned", 0o755, u.UID, u.GID)},
		{"writable by a user's group", mkdir("group", 0o775, 0, u.GID)},
		{"sticky, with the lock planted as a link", mkdir("sticky", os.ModeSticky|0o777, 0, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := filepath.Join(rootDir, "created-"+filepath.Base(tc.dir))
			u.Run(t, "ln", "-s", target, filepath.Join(tc.dir, "resreap.lock"))
			f, err := lockInstance(tc.dir)
			if err == nil {
				f.Close()
			}
			if !errors.Is(err, safefs.ErrUnsafe) {
				t.Errorf("lockInstance: %v; want a refusal of an unsafe path", err)
			} else {
				t.Logf("refused: %v", err)
			}
			if _, err := os.Lstat(target); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("%s was created through the planted link (%v)", target, err)
			}
		})
	}
}

// In a state_dir of root's the lock is made (with the directory, 0750)
// and held: a second instance is refused with ErrInstance.
func TestLockInstanceOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "resreap")
	f, err := lockInstance(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o750 {
		t.Errorf("state_dir: %v, %v; want mode 0750", st.Mode(), err)
	}
	if st, err := os.Stat(filepath.Join(dir, "resreap.lock")); err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("lock file: %v, %v; want mode 0640", st.Mode(), err)
	}
	if g, err := lockInstance(dir); !errors.Is(err, ErrInstance) {
		if g != nil {
			g.Close()
		}
		t.Errorf("second lock: %v, want ErrInstance", err)
	}
}
