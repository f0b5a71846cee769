//go:build linux

package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/resreap/resreap/internal/safefs"
)

// CheckPaths checks the paths cfg has resreap write as root, as safefs
// will judge them when resreap opens them: state_dir, history_file, the
// control socket's directory, trusting root alone (safefs.Self); each
// child's output files and capture_dir, trusting root and the child's
// user. A directory on the way that another user owns or may write (a
// sticky one aside), a link such a user could have made, or a file that
// is a link, has several links or belongs to someone else is reported, as
// OpenSSH's StrictModes would refuse it: anyone who can change those can
// have root write, create or remove what they choose. Missing paths are
// fine (resreap creates them, as root's), and so is what is no sign of
// another user's hand: a FIFO or a device where a file should be (refused,
// without blocking, when it is opened; Host.Check names a history that is
// one), a directory the checking user may not search.
//
// It returns nil or an *Error listing every unsafe path with its key and
// line, like Load. `resreap run` refuses a file with any before it starts
// a child, a reload refuses one and keeps the children running, and
// `resreap check` reports them with the other host checks (CheckHost).
func CheckPaths(cfg *Config) error {
	v := hostValidator(cfg)
	checkPaths(v, cfg)
	return v.hostError(cfg.Path)
}

// checkPaths is CheckPaths's work, adding the problems to v.
func checkPaths(v *validator, cfg *Config) {
	sc := cfg.Supervisor
	self := safefs.Self()
	stateOK := v.unsafePath("supervisor.state_dir", safefs.CheckDir(sc.StateDir, self))
	// Paths under state_dir by default are not refused twice for it.
	if stateOK || v.setInFile("supervisor.history_file") {
		v.unsafeFile("supervisor.history_file", sc.HistoryFile, self, self.UID)
	}
	if sc.ControlSocket != "" {
		v.unsafePath("supervisor.control_socket", safefs.CheckDir(filepath.Dir(sc.ControlSocket), self))
	}
	for i := range cfg.Children {
		c := &cfg.Children[i]
		key := "child." + strconv.Itoa(i)
		uid, ok := childUID(c)
		if !ok {
			continue // an unknown user: reported by checkChild
		}
		pol := safefs.Policy{UID: uid}
		for _, out := range []struct {
			key  string
			spec OutputSpec
		}{{".stdout.file", c.Stdout}, {".stderr.file", c.Stderr}} {
			if out.spec.Mode != OutputFile {
				continue
			}
			owner := uid // the file may be the configured owner's, as the writer allows
			if o, _, err := out.spec.FileOwner(c.User); err == nil {
				owner = o
			}
			v.unsafeFile(key+out.key, out.spec.File, pol, owner)
		}
		if c.Capture.Enabled && (stateOK || v.setInFile(key+".capture_dir")) {
			v.unsafePath(key+".capture_dir", safefs.CheckDir(c.Capture.Dir, pol))
		}
	}
}

// childUID is the uid the child runs as: its user's, or resreap's own
// without one. ok is false for a user that does not exist.
func childUID(c *ChildSpec) (uid int, ok bool) {
	if c.User == "" {
		return os.Geteuid(), true
	}
	u, err := LookupUser(c.User)
	if err != nil {
		return 0, false
	}
	uid, err = strconv.Atoi(u.Uid)
	return uid, err == nil
}

// unsafePath adds a problem for key when err is safefs's refusal of an
// unsafe path, and reports whether the path passed.
func (v *validator) unsafePath(key string, err error) bool {
	var ue *safefs.UnsafeError
	if !errors.As(err, &ue) {
		return true
	}
	v.add(key, "%s: %s", ue.Path, ue.Why)
	return false
}

// unsafeFile is unsafePath for the file at path, which resreap writes as
// root, owned by owner when it makes it. What is refused only for not
// being a regular file, in a directory that passes, is left out: it is no
// other user's hand on a root write.
func (v *validator) unsafeFile(key, path string, pol safefs.Policy, owner int) bool {
	err := safefs.CheckFile(path, pol, owner)
	if err != nil && safefs.CheckDir(filepath.Dir(path), pol) == nil {
		if st, lerr := os.Lstat(path); lerr == nil && !st.Mode().IsRegular() && st.Mode().Type() != fs.ModeSymlink {
			return true
		}
	}
	return v.unsafePath(key, err)
}

// setInFile reports whether the key is in the file, for a child's key in
// its own table or in [defaults].
func (v *validator) setInFile(key string) bool {
	if _, ok := v.lines.exact(key); ok {
		return true
	}
	if parts := strings.SplitN(key, ".", 3); len(parts) == 3 && parts[0] == "child" {
		_, ok := v.lines.exact("defaults." + parts[2])
		return ok
	}
	return false
}

// hostValidator is a validator for the host checks of cfg: problems carry
// the lines of the file and the names of its children.
func hostValidator(cfg *Config) *validator {
	v := &validator{lines: cfg.lines}
	for _, c := range cfg.Children {
		v.names = append(v.names, c.Name)
	}
	return v
}

// hostError is the *Error of the problems found, in the order of their
// lines, or nil.
func (v *validator) hostError(path string) error {
	if len(v.problems) == 0 {
		return nil
	}
	sort.SliceStable(v.problems, func(i, j int) bool { return v.problems[i].Line < v.problems[j].Line })
	return &Error{Path: path, Problems: v.problems}
}
