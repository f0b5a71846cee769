//go:build linux

package config

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// ErrNotRegular is wrapped by the error for a config file or env_file that
// is not a regular file: a named pipe, a device, a socket or a directory.
var ErrNotRegular = errors.New("not a regular file")

// openRegular opens path for reading and returns it only when it is a
// regular file. It is the one place the config file and its env_files
// are opened. The open never blocks: O_NONBLOCK makes opening a named
// pipe with no writer return at once (without it, `resreap check`, `run`
// and every reload would wait for a writer that may never come), and
// O_NOCTTY keeps a terminal named by mistake from becoming resreap's. The
// kind is then judged on the open file (fstat), not on the path, which
// another file could replace in between.
func openRegular(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w: it is %s", ErrNotRegular, fileKind(st.Mode()))}
	}
	return f, nil
}

// readRegular is os.ReadFile through openRegular.
func readRegular(path string) ([]byte, error) {
	f, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}
