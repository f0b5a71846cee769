//go:build linux

package safefs

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/resreap/resreap/internal/testchild"
)

func TestSelf(t *testing.T) {
	if have := Self(); have.UID != os.Geteuid() {
		t.Errorf("Self() = %+v, want the effective uid %d", have, os.Geteuid())
	}
}

// Own changes the open directory through its descriptor, and refuses what
// would break the rules without changing anything.
func TestOwn(t *testing.T) {
	u := testchild.NewUser(t)
	d, err := MkdirAll(filepath.Join(t.TempDir(), "run"), Perm{Mode: 0o700}, Policy{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Own(Perm{GID: u.GID, Mode: 0o750}); err != nil {
		t.Fatal(err)
	}
	st, err := d.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if st.Uid != 0 || int(st.Gid) != u.GID || st.Mode&0o7777 != 0o750 {
		t.Errorf("have uid %d gid %d mode %04o, want 0 %d 0750", st.Uid, st.Gid, st.Mode&0o7777, u.GID)
	}
	for _, bad := range []struct {
		what string
		perm Perm
	}{
		{"writable by the user's group", Perm{GID: u.GID, Mode: 0o770}},
		{"writable by everyone", Perm{Mode: 0o777}},
		{"owned by a user the policy does not trust", Perm{UID: u.UID, GID: u.GID, Mode: 0o700}},
	} {
		wantUnsafe(t, d.Own(bad.perm), bad.what)
	}
	if st, _ := d.Stat(); int(st.Gid) != u.GID || st.Mode&0o7777 != 0o750 {
		t.Errorf("a refused Own changed the directory: gid %d mode %04o", st.Gid, st.Mode&0o7777)
	}
	// A directory that passed as the trusted user's may stay theirs.
	ud, err := MkdirAll(filepath.Join(t.TempDir(), "logs"), Perm{UID: u.UID, GID: u.GID, Mode: 0o755}, Policy{UID: u.UID})
	if err != nil {
		t.Fatal(err)
	}
	defer ud.Close()
	if err := ud.Own(Perm{UID: u.UID, GID: u.GID, Mode: 0o750}); err != nil {
		t.Errorf("Own as the trusted user: %v", err)
	}
}

// RenameAt moves an entry between two open directories; a link is moved
// itself, never followed.
func TestRenameAt(t *testing.T) {
	base := t.TempDir()
	a, err := MkdirAll(filepath.Join(base, "a"), Perm{}, Policy{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := MkdirAll(filepath.Join(base, "b"), Perm{}, Policy{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := a.WriteNew("x", []byte("x"), Perm{}); err != nil {
		t.Fatal(err)
	}
	if err := a.RenameAt("x", b, "y"); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(filepath.Join(base, "b", "y")); err != nil || string(data) != "x" {
		t.Errorf("moved file: %q, %v", data, err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(base, "a", "l")); err != nil {
		t.Fatal(err)
	}
	if err := a.RenameAt("l", b, "l"); err != nil {
		t.Fatal(err)
	}
	if target, err := os.Readlink(filepath.Join(base, "b", "l")); err != nil || target != "/etc/passwd" {
		t.Errorf("moved link: %q, %v", target, err)
	}
	if err := a.RenameAt("missing", b, "z"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("RenameAt of a missing entry: %v", err)
	}
	if err := a.RenameAt("..", b, "z"); err == nil {
		t.Error("RenameAt of .. accepted")
	}
}
