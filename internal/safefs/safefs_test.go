//go:build linux

package safefs

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/testchild"
)

// sentinel makes a root file (0600) and a root directory with entries
// that no test may change, and returns a check that they did not.
func sentinel(t *testing.T) (file, dir string, unchanged func()) {
	t.Helper()
	base := openTemp(t)
	file = filepath.Join(base, "victim")
	if err := os.WriteFile(file, []byte("root data\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir = filepath.Join(base, "rootdir")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"a", "b", "c"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(n), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return file, dir, func() {
		t.Helper()
		if b, err := os.ReadFile(file); err != nil || string(b) != "root data\n" {
			t.Errorf("root file %s changed: %q, %v", file, b, err)
		}
		ents, err := os.ReadDir(dir)
		if err != nil || len(ents) != 3 {
			t.Errorf("root directory %s lost entries: %d left, %v", dir, len(ents), err)
		}
	}
}

// userDir makes a directory owned by u (as a child's log directory is)
// inside a root test directory.
func userDir(t *testing.T, u testchild.User) string {
	t.Helper()
	d := filepath.Join(openTemp(t), "userdir")
	if err := os.Mkdir(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(d, u.UID, u.GID); err != nil {
		t.Fatal(err)
	}
	return d
}

// openTemp is a root test directory other users can enter (t.TempDir's
// are 0700 down from its parent).
func openTemp(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	for _, p := range []string{filepath.Dir(d), d} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func wantUnsafe(t *testing.T, err error, what string) {
	t.Helper()
	if !errors.Is(err, ErrUnsafe) {
		t.Fatalf("%s: want an unsafe-path refusal, have %v", what, err)
	}
	t.Logf("%s: refused: %v", what, err)
}

func TestAppendCreatesOwnedFile(t *testing.T) {
	u := testchild.NewUser(t)
	dir := userDir(t, u)
	d, err := OpenDir(dir, Policy{UID: u.UID})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	f, err := d.OpenAppend("app.log", Perm{UID: u.UID, GID: u.GID, Mode: 0o640})
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("one\n")
	f.Close()
	st, err := d.Lstat("app.log")
	if err != nil {
		t.Fatal(err)
	}
	if int(st.Uid) != u.UID || int(st.Gid) != u.GID || st.Mode&0o7777 != 0o640 {
		t.Errorf("new file: uid %d gid %d mode %04o, want %d %d 0640", st.Uid, st.Gid, st.Mode&0o7777, u.UID, u.GID)
	}
	// Appending again keeps the file and its content.
	f, err = d.OpenAppend("app.log", Perm{UID: u.UID, GID: u.GID, Mode: 0o640})
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("two\n")
	f.Close()
	if b, _ := os.ReadFile(filepath.Join(dir, "app.log")); string(b) != "one\ntwo\n" {
		t.Errorf("content %q", b)
	}
	// Root alone trusted: the user's directory is refused.
	_, err = OpenDir(dir, Policy{})
	wantUnsafe(t, err, "user directory under a root-only policy")
}

func TestPlantedLinksAreRefused(t *testing.T) {
	u := testchild.NewUser(t)
	victim, rootDir, unchanged := sentinel(t)
	dir := userDir(t, u)
	pol := Policy{UID: u.UID}
	perm := Perm{UID: u.UID, GID: u.GID, Mode: 0o640}

	// The user plants app.log -> a root file, and sub -> a root directory.
	u.Run(t, "ln", "-s", victim, filepath.Join(dir, "app.log"))
	u.Run(t, "ln", "-s", rootDir, filepath.Join(dir, "sub"))

	d, err := OpenDir(dir, pol)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	_, err = d.OpenAppend("app.log", perm)
	wantUnsafe(t, err, "append through a planted file link")
	_, err = OpenAppendPath(filepath.Join(dir, "sub", "out.log"), perm, Perm{}, pol)
	wantUnsafe(t, err, "append below a planted directory link")
	_, err = d.Sub("sub")
	wantUnsafe(t, err, "open a planted directory link")
	_, err = d.Mkdir("sub", Perm{})
	wantUnsafe(t, err, "mkdir over a planted directory link")
	_, err = ReadFile(filepath.Join(dir, "app.log"), pol, 1<<20)
	wantUnsafe(t, err, "read through a planted link")
	wantUnsafe(t, CheckFile(filepath.Join(dir, "app.log"), pol, u.UID), "check of a planted link")

	// Removing the link removes the link, never what it points to.
	if err := d.RemoveAll("sub"); err != nil {
		t.Fatal(err)
	}
	if err := d.Remove("app.log"); err != nil {
		t.Fatal(err)
	}
	unchanged()
}

func TestPlantedHardLinkIsRefused(t *testing.T) {
	u := testchild.NewUser(t)
	victim, _, unchanged := sentinel(t)
	// The victim must be on the same file system as the user's directory.
	dir := filepath.Join(filepath.Dir(victim), "logs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, u.UID, u.GID); err != nil {
		t.Fatal(err)
	}
	// fs.protected_hardlinks = 1 stops the user linking a file it cannot
	// write; a host with 0 lets it. Test the host without the protection.
	setSysctl(t, "/proc/sys/fs/protected_hardlinks", "0")
	u.Run(t, "ln", victim, filepath.Join(dir, "app.log"))

	_, err := OpenAppendPath(filepath.Join(dir, "app.log"), Perm{UID: u.UID, GID: u.GID, Mode: 0o640}, Perm{}, Policy{UID: u.UID})
	wantUnsafe(t, err, "append to a hard link of a root file")
	unchanged()
}

// setSysctl writes value to a /proc/sys file and restores it at cleanup.
func setSysctl(t *testing.T, path, value string) {
	t.Helper()
	old, err := os.ReadFile(path)
	if err != nil {
		testchild.Need(t, path, false)
	}
	if err := os.WriteFile(path, []byte(value), 0); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	t.Cleanup(func() { os.WriteFile(path, old, 0) }) //nolint:errcheck // best effort
}

func TestRemoveAllDoesNotFollowLinksInside(t *testing.T) {
	u := testchild.NewUser(t)
	_, rootDir, unchanged := sentinel(t)
	base := openTemp(t)
	caps := filepath.Join(base, "caps")
	if err := os.MkdirAll(filepath.Join(caps, "child", "old"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Join(caps, "child"), u.UID, u.GID); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(filepath.Join(caps, "child", "old"), u.UID, u.GID); err != nil {
		t.Fatal(err)
	}
	// Deep inside the tree the user swaps in a link to a root directory.
	u.Run(t, "ln", "-s", rootDir, filepath.Join(caps, "child", "old", "x"))
	u.Run(t, "ln", "-s", rootDir, filepath.Join(caps, "child", "y"))

	d, err := OpenDir(caps, Policy{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.RemoveAll("child"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(caps, "child")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("tree still there: %v", err)
	}
	unchanged()
}

func TestDirectoryRules(t *testing.T) {
	u := testchild.NewUser(t)
	other := testchild.NewUser(t)
	base := t.TempDir()
	mk := func(name string, mode os.FileMode, uid, gid int) string {
		p := filepath.Join(base, name)
		if err := os.MkdirAll(p, 0o755); err != nil {
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
	for _, c := range []struct {
		name string
		path string
		pol  Policy
		ok   bool
	}{
		{"root 0755", mk("root", 0o755, 0, 0), Policy{}, true},
		{"root group-writable by root's group", mk("rootg", 0o775, 0, 0), Policy{}, true},
		{"root group-writable by a user's group", mk("userg", 0o775, 0, u.GID), Policy{}, false},
		// Ubuntu's /var/log (root:syslog 0775) on the way to /var/log/app.
		{"root's below a directory writable by a user's group", mk("userg2/app", 0o755, 0, 0), Policy{}, true},
		{"world-writable", mk("world", 0o777, 0, 0), Policy{}, false},
		{"world-writable and sticky", mk("sticky", os.ModeSticky|0o777, 0, 0), Policy{}, true},
		{"the trusted user's", mk("mine", 0o755, u.UID, u.GID), Policy{UID: u.UID}, true},
		{"another user's", mk("theirs", 0o755, other.UID, other.GID), Policy{UID: u.UID}, false},
		{"another user's inside the trusted user's", mk("mine2/theirs", 0o755, other.UID, other.GID), Policy{UID: u.UID}, false},
		{"root's inside the trusted user's", mk("mine3/root", 0o755, 0, 0), Policy{UID: u.UID}, false},
	} {
		if strings.HasPrefix(c.name, "another user's inside") {
			os.Chown(filepath.Dir(c.path), u.UID, u.GID) //nolint:errcheck
		}
		if strings.HasPrefix(c.name, "root's inside") {
			os.Chown(filepath.Dir(c.path), u.UID, u.GID) //nolint:errcheck
		}
		if strings.HasPrefix(c.name, "root's below") {
			os.Chmod(filepath.Dir(c.path), 0o775)    //nolint:errcheck
			os.Chown(filepath.Dir(c.path), 0, u.GID) //nolint:errcheck
		}
		d, err := OpenDir(c.path, c.pol)
		d.Close()
		cerr := CheckDir(filepath.Join(c.path, "missing", "below"), c.pol)
		if (err == nil) != c.ok || (cerr == nil) != c.ok {
			t.Errorf("%s: open %v, check %v; want ok=%v", c.name, err, cerr, c.ok)
		} else if err != nil {
			t.Logf("%s: %v", c.name, err)
		}
	}
}

func TestRootLinksAreFollowed(t *testing.T) {
	base := t.TempDir()
	real := filepath.Join(base, "real")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", filepath.Join(base, "link")); err != nil {
		t.Fatal(err)
	}
	f, err := OpenAppendPath(filepath.Join(base, "link", "sub", "x.log"), Perm{}, Perm{Mode: 0o750}, Policy{})
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	st, err := os.Stat(filepath.Join(real, "sub"))
	if err != nil || st.Mode().Perm() != 0o750 {
		t.Fatalf("made directory: %v %v", st, err)
	}
	if err := os.WriteFile(filepath.Join(real, "cfg"), []byte("x = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real/cfg", filepath.Join(base, "cfg")); err != nil {
		t.Fatal(err)
	}
	b, err := ReadFile(filepath.Join(base, "cfg"), Policy{}, 100)
	if err != nil || string(b) != "x = 1\n" {
		t.Fatalf("read through a root link: %q %v", b, err)
	}
}

func TestFIFOsNeverBlock(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 2)
	go func() {
		_, err := OpenAppendPath(fifo, Perm{}, Perm{}, Policy{})
		done <- err
	}()
	go func() {
		_, err := ReadFile(fifo, Policy{}, 100)
		done <- err
	}()
	for range 2 {
		select {
		case err := <-done:
			wantUnsafe(t, err, "a FIFO")
		case <-time.After(10 * time.Second):
			t.Fatal("an open of a FIFO blocked")
		}
	}
}

func TestReadRefusesFilesOthersMayWrite(t *testing.T) {
	u := testchild.NewUser(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "resreap.toml")
	if err := os.WriteFile(p, []byte("ok"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(p, Policy{}, 100); err != nil {
		t.Fatal(err)
	}
	os.Chmod(p, 0o666) //nolint:errcheck
	_, err := ReadFile(p, Policy{}, 100)
	wantUnsafe(t, err, "a world-writable config")
	os.Chmod(p, 0o644)    //nolint:errcheck
	os.Chown(p, u.UID, 0) //nolint:errcheck
	_, err = ReadFile(p, Policy{}, 100)
	wantUnsafe(t, err, "a config owned by a user")
	if _, err := ReadFile(p, Policy{}, 1); err == nil {
		t.Error("a file over the limit was read")
	}
}

func TestRenameAndReadDir(t *testing.T) {
	d, err := MkdirAll(filepath.Join(t.TempDir(), "a", "b"), Perm{}, Policy{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, n := range []string{"x", "y"} {
		if err := d.WriteNew(n, []byte(n), Perm{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.WriteNew("x", nil, Perm{}); !errors.Is(err, fs.ErrExist) {
		t.Errorf("WriteNew over an existing name: %v", err)
	}
	if err := d.Rename("x", "z"); err != nil {
		t.Fatal(err)
	}
	ents, err := d.ReadDir()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"y", "z"}) {
		t.Errorf("entries %v", names)
	}
	for _, bad := range []string{"", ".", "..", "a/b"} {
		if _, err := d.OpenAppend(bad, Perm{}); err == nil {
			t.Errorf("name %q accepted", bad)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(d.Path(), "z")); !bytes.Equal(b, []byte("x")) {
		t.Errorf("renamed content %q", b)
	}
}

// OpenReadBack reads a file resreap wrote for another owner, whoever may
// write it, and refuses links and FIFOs as OpenAppend does.
func TestOpenReadBack(t *testing.T) {
	u := testchild.NewUser(t)
	victim, _, unchanged := sentinel(t)
	dir := userDir(t, u)
	d, err := OpenDir(dir, Policy{UID: u.UID})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	other := testchild.NewUser(t)
	perm := Perm{UID: other.UID, GID: other.GID, Mode: 0o660}
	if err := d.WriteNew("app-1.log", []byte("rotated\n"), perm); err != nil {
		t.Fatal(err)
	}
	f, err := d.OpenReadBack("app-1.log", other.UID)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 64)
	n, _ := f.Read(b)
	f.Close()
	if string(b[:n]) != "rotated\n" {
		t.Errorf("read %q", b[:n])
	}
	// Root's, writable by the user's group: data to read back, not a
	// file to trust.
	if err := d.WriteNew("app-0.log", []byte("rotated\n"), Perm{GID: u.GID, Mode: 0o660}); err != nil {
		t.Fatal(err)
	}
	_, err = d.OpenRead("app-0.log")
	wantUnsafe(t, err, "OpenRead of a group-writable file")
	if f, err := d.OpenReadBack("app-0.log", 0); err != nil {
		t.Errorf("OpenReadBack of a group-writable file: %v", err)
	} else {
		f.Close()
	}
	_, err = d.OpenReadBack("app-1.log", u.UID)
	wantUnsafe(t, err, "a file of an owner not named")

	u.Run(t, "ln", "-s", victim, filepath.Join(dir, "app-2.log"))
	_, err = d.OpenReadBack("app-2.log", u.UID)
	wantUnsafe(t, err, "read back through a planted link")
	u.Run(t, "mkfifo", filepath.Join(dir, "app-3.log"))
	_, err = d.OpenReadBack("app-3.log", u.UID)
	wantUnsafe(t, err, "read back a planted FIFO")
	unchanged()
}

// What MkdirAll and Mkdir create in the trusted user's directory is that
// user's, so that it passes the rules when it is opened (a root directory
// there would be an unsafe transition); elsewhere it is as perm says.
func TestMkdirInAUsersDirectory(t *testing.T) {
	u := testchild.NewUser(t)
	dir := userDir(t, u)
	pol := Policy{UID: u.UID}
	d, err := MkdirAll(filepath.Join(dir, "a", "b"), Perm{Mode: 0o750}, pol)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c, err := d.Mkdir("c", Perm{})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	for _, p := range []string{"a", "a/b", "a/b/c"} {
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(dir, p), &st); err != nil {
			t.Fatal(err)
		}
		want := uint32(0o750)
		if p == "a/b/c" {
			want = 0o700
		}
		if int(st.Uid) != u.UID || int(st.Gid) != u.GID || st.Mode&0o7777 != want {
			t.Errorf("%s: %d:%d %04o, want %d:%d %04o", p, st.Uid, st.Gid, st.Mode&0o7777, u.UID, u.GID, want)
		}
	}
	// Below root's directories, root's (as perm says).
	r, err := MkdirAll(filepath.Join(openTemp(t), "x", "y"), Perm{Mode: 0o750}, pol)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var st unix.Stat_t
	if err := unix.Stat(r.Path(), &st); err != nil || st.Uid != 0 || st.Mode&0o7777 != 0o750 {
		t.Errorf("below root's: uid %d mode %04o, %v", st.Uid, st.Mode&0o7777, err)
	}
}
