//go:build linux

package history

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/resreap/resreap/internal/safefs"
	"github.com/resreap/resreap/internal/testchild"
)

// rootVictim makes a root file (0600) beside dir's parent, on the same
// file system (a hard link needs that), and returns a check that it kept
// its content.
func rootVictim(t *testing.T, base string) (string, func()) {
	t.Helper()
	victim := filepath.Join(base, "victim")
	if err := os.WriteFile(victim, []byte("root data\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return victim, func() {
		t.Helper()
		if b, err := os.ReadFile(victim); err != nil || string(b) != "root data\n" {
			t.Errorf("root file %s changed: %q, %v", victim, b, err)
		}
	}
}

// enterableTemp is a root test directory other users can enter (t.TempDir's
// are 0700 down from its parent).
func enterableTemp(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	for _, p := range []string{filepath.Dir(d), d} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// setSysctl writes value to a /proc/sys file and restores it at cleanup.
func setSysctl(t *testing.T, path, value string) {
	t.Helper()
	old, err := os.ReadFile(path)
	testchild.Need(t, path, err == nil)
	if err := os.WriteFile(path, []byte(value), 0); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	t.Cleanup(func() { os.WriteFile(path, old, 0) }) //nolint:errcheck // best effort
}

// within runs fn and fails the test if it has not returned after a
// generous bound: an open of a FIFO never returns by itself.
func within(t *testing.T, what string, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("%s has not returned after 10s: blocked", what)
		return nil
	}
}

// A local user who may create entries in the history's directory (a
// sticky, world-writable one like /tmp, which the rules allow: nobody can
// replace an entry they do not own there) plants the live file as a link
// to a root file, a hard link to it or a FIFO. The Writer, called
// directly, refuses each and writes nothing to the root file; Read
// refuses them too. A directory the user owns is refused outright.
func TestWriterRefusesPlantedFiles(t *testing.T) {
	u := testchild.NewUser(t)
	setSysctl(t, "/proc/sys/fs/protected_hardlinks", "0")
	setSysctl(t, "/proc/sys/fs/protected_symlinks", "0")
	for _, tc := range []struct {
		name  string
		owned bool // the user owns the directory instead of it being sticky
		plant func(victim, path string) []string
	}{
		{"symlink", false, func(victim, path string) []string { return []string{"ln", "-s", victim, path} }},
		{"hard link", false, func(victim, path string) []string { return []string{"ln", victim, path} }},
		{"FIFO", false, func(_, path string) []string { return []string{"mkfifo", path} }},
		{"symlink in the user's directory", true, func(victim, path string) []string { return []string{"ln", "-s", victim, path} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := enterableTemp(t)
			victim, unchanged := rootVictim(t, base)
			dir := filepath.Join(base, "state")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if tc.owned {
				if err := os.Chown(dir, u.UID, u.GID); err != nil {
					t.Fatal(err)
				}
			} else if err := os.Chmod(dir, os.ModeSticky|0o777); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "history.jsonl")
			u.Run(t, tc.plant(victim, path)...)

			err := within(t, "Open", func() error {
				w, err := Open(path, Options{})
				if err == nil {
					w.Append(rec("a", EventStart, 1)) //nolint:errcheck // the file tells
					w.Close()
				}
				return err
			})
			wantRefused(t, "Open", err)
			err = within(t, "Append", func() error {
				w, err := OpenLater(path, Options{MaxSize: 1, Keep: 2})
				if err != nil {
					return err
				}
				defer w.Close()
				return w.Append(rec("a", EventStart, 2))
			})
			wantRefused(t, "Append", err)
			err = within(t, "Read", func() error {
				_, _, err := Read(path, Filter{})
				return err
			})
			wantRefused(t, "Read", err)
			unchanged()
		})
	}
}

// wantRefused fails the test unless err is a refusal of an unsafe path or
// of a file that is not a regular one.
func wantRefused(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, safefs.ErrUnsafe) && !errors.Is(err, ErrNotRegular) {
		t.Errorf("%s: %v; want a refusal (unsafe path, or not a regular file)", what, err)
		return
	}
	t.Logf("%s: refused: %v", what, err)
}

// A link put in place of the live file under a running Writer, even
// root's, is a replacement the Writer does not follow: the Append fails
// and the file the link names is untouched. Once the link is gone, the
// same Writer makes the file again.
func TestAppendRefusesLinkReplacingFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "history.jsonl")
	other := filepath.Join(dir, "other.jsonl")
	if err := os.WriteFile(other, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	w := openT(t, path, Options{})
	if err := w.Append(rec("a", EventStart, 1)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(other, path); err != nil {
		t.Fatal(err)
	}
	wantRefused(t, "Append through a link", w.Append(rec("a", EventExit, 2)))
	if b, err := os.ReadFile(other); err != nil || len(b) != 0 {
		t.Errorf("the linked file has %q, %v; want it empty", b, err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := w.Append(rec("a", EventExit, 3)); err != nil {
		t.Fatalf("Append once the link is gone: %v", err)
	}
	recs, warns := readAll(t, path)
	if len(recs) != 1 || recs[0].PID != 1003 || len(warns) != 0 {
		t.Errorf("have %+v, warnings %v; want the record written after the link went", recs, warns)
	}
}
