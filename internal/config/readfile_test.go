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
