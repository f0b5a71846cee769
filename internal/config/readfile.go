//go:build linux

package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/resreap/resreap/internal/safefs"
)

// ErrNotRegular is wrapped by the error for a config file or env_file that
// is not a regular file: a named pipe, a device, a socket or a directory.
var ErrNotRegular = errors.New("not a regular file")

// maxConfigFile bounds a config file or env_file: they are a few
// kilobytes; a larger one is a mistake that must not fill memory.
const maxConfigFile = 16 << 20

// readConfigFile reads a config file: readRegular, trusting besides root
// (and the user resreap runs as, safefs.Self) the owner of the file's
// directory: whoever starts resreap with -c chose that directory, so its
// owner writes the config anyway; only others are kept out (`sudo resreap
// run -c ~/resreap.toml` works, a config in a directory another user can
// write does not).
func readConfigFile(path string) ([]byte, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	pol := safefs.Self()
	if st, err := os.Stat(filepath.Dir(abs)); err == nil && pol.UID == 0 {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			pol.UID = int(sys.Uid)
		}
	}
	return readRegular(path, pol)
}

// readRegular reads a config file or an env_file under pol. It is the one
// place they are opened, through safefs: the open never blocks (a FIFO with no
// writer would hold `resreap check`, `run` and every reload), the file
// must be a regular file with one link, and the path must not be one
// another user could have redirected: a link of theirs, a directory on
// the way that they own or may write, or a file they may write, would
// have resreap run as root what they wrote.
func readRegular(path string, pol safefs.Policy) ([]byte, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	data, err := safefs.ReadFile(abs, pol, maxConfigFile)
	var ue *safefs.UnsafeError
	if errors.As(err, &ue) {
		// Name what is not a regular file as before: a FIFO, a socket, a
		// directory, a device.
		if st, serr := os.Lstat(abs); serr == nil && !st.Mode().IsRegular() && st.Mode().Type() != fs.ModeSymlink {
			return nil, &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w: it is %s", ErrNotRegular, fileKind(st.Mode()))}
		}
	}
	return data, err
}
