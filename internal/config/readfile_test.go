//go:build linux

package config

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/testchild"
)

// A config file, or an env_file, that is not a regular file is refused at
// once, naming the path and what it is: a FIFO with no writer does not
// hold the open (a blocking open would never return here).
func TestLoadRefusesIrregularFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.toml")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock.toml")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, tc := range []struct{ path, kind string }{
		{fifo, "a FIFO"},
		{sock, ""}, // a socket cannot be opened at all: ENXIO
		{dir, "a directory"},
		{"/dev/null", "a character device"},
	} {
		for _, load := range []struct {
			name string
			f    func(string) error
		}{
			{"Load", func(p string) error { _, err := Load(p); return err }},
			{"LoadSupervisor", func(p string) error { _, err := LoadSupervisor(p); return err }},
		} {
			start := time.Now()
			err := load.f(tc.path)
			took := time.Since(start)
			if took > 5*time.Second {
				t.Errorf("%s(%s) took %s", load.name, tc.path, took)
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.path) {
				t.Errorf("%s(%s) = %v, want an invalid configuration naming the path", load.name, tc.path, err)
				continue
			}
			if tc.kind == "" {
				continue
			}
			if !errors.Is(err, ErrNotRegular) || !strings.HasSuffix(err.Error(), "not a regular file: it is "+tc.kind) {
				t.Errorf("%s(%s) = %v, want ErrNotRegular saying it is %s", load.name, tc.path, err, tc.kind)
			}
		}
	}
}

func TestEnvFileFIFORefused(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fe.env")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "x.toml")
	src := "[[child]]\nname = \"fe\"\ncommand = [\"/bin/true\"]\nenv_file = \"fe.env\"\n"
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	want := path + ":4: child[fe].env_file: open " + fifo + ": not a regular file: it is a FIFO"
	if err == nil || err.Error() != want {
		t.Errorf("Load = %v, want %s", err, want)
	}
}

// The config file is run as root: one another user could write or
// redirect is refused; the owner of its directory is trusted, as whoever
// passed -c chose it.
func TestConfigFileOthersCannotWrite(t *testing.T) {
	u := testchild.NewUser(t)
	other := testchild.NewUser(t)
	base := t.TempDir()
	for _, p := range []string{filepath.Dir(base), base} {
		if err := os.Chmod(p, 0o755); err != nil { // the user must reach its directory
			t.Fatal(err)
		}
	}
	src := []byte("[[child]]\nname = \"a\"\ncommand = [\"/bin/true\"]\n")
	write := func(dir string, dirUID, dirGID int, dirMode os.FileMode, fileUID int) string {
		t.Helper()
		d := filepath.Join(base, dir)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(d, "resreap.toml")
		if err := os.WriteFile(p, src, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, fileUID, 0); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, dirMode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, dirUID, dirGID); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name string
		path string
		ok   bool
	}{
		{"root's", write("root", 0, 0, 0o755, 0), true},
		{"in the directory of the user who owns it", write("mine", u.UID, u.GID, 0o755, u.UID), true},
		{"another user's in root's directory", write("theirs", 0, 0, 0o755, other.UID), false},
		{"in a directory another group may write", write("groupw", 0, other.GID, 0o775, 0), false},
	} {
		_, err := Load(tc.path)
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v, want ok=%v", tc.name, err, tc.ok)
		} else if err != nil {
			t.Logf("%s: %v", tc.name, err)
		}
	}
	// A link the user plants in its own directory is not followed.
	link := filepath.Join(base, "mine", "linked.toml")
	u.Run(t, "ln", "-s", filepath.Join(base, "root", "resreap.toml"), link)
	if _, err := Load(link); err == nil {
		t.Errorf("a user's link was followed")
	}
}
