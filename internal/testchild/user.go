//go:build linux

package testchild

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// User is a local user made for one test: the hostile neighbour of the
// trust tests, who owns a directory resreap writes to and plants links
// there.
type User struct {
	Name     string
	UID, GID int
}

// NewUser creates a user (and its own group) with useradd, without a home,
// and removes both at cleanup. It needs root and useradd.
func NewUser(tb testing.TB) User {
	tb.Helper()
	NeedRoot(tb)
	useradd := NeedCommand(tb, "useradd")
	userdel := NeedCommand(tb, "userdel")
	b := make([]byte, 4)
	rand.Read(b) //nolint:errcheck // crypto/rand does not fail on Linux
	name := "rrt" + hex.EncodeToString(b)
	exists := func() bool { _, err := user.Lookup(name); return err == nil }
	if out, err := exec.Command(useradd, "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", name).CombinedOutput(); err != nil &&
		!(reapedElsewhere(err) && exists()) {
		tb.Fatalf("useradd %s: %v: %s", name, err, out)
	}
	tb.Cleanup(func() {
		if out, err := exec.Command(userdel, name).CombinedOutput(); err != nil && !(reapedElsewhere(err) && !exists()) {
			tb.Errorf("userdel %s: %v: %s", name, err, out)
		}
	})
	u, err := user.Lookup(name)
	if err != nil {
		tb.Fatalf("look up %s: %v", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return User{Name: name, UID: uid, GID: gid}
}

// Run runs argv as the user (setpriv, no supplementary groups) and fails
// the test if it fails; it returns the combined output.
func (u User) Run(tb testing.TB, argv ...string) string {
	tb.Helper()
	// The exit status comes back in the output (exitMark), which a
	// reaper elsewhere in the test binary cannot take (reapedElsewhere).
	sh := NeedCommand(tb, "sh")
	out, err := u.Command(tb, append([]string{sh, "-c", `"$@"; echo "` + exitMark + `$?"`, "sh"}, argv...)...).CombinedOutput()
	text, code, found := strings.Cut(string(out), exitMark)
	if err != nil && !reapedElsewhere(err) || !found || strings.TrimSpace(code) != "0" {
		tb.Fatalf("as %s: %v: %v (exit %q): %s", u.Name, argv, err, strings.TrimSpace(code), text)
	}
	return text
}

// exitMark precedes the exit status of a command User.Run ran.
const exitMark = "\nresreap-test-exit:"

// reapedElsewhere reports whether a command's Wait failed because its
// exit was reaped by someone else: a test binary that runs a
// proc.Reaper, which reaps every child of the process (wait4(-1), as
// resreap as PID 1 must), may reap a command before os/exec does. The
// command ran to its end (its output is whole), but its exit status is
// lost: callers learn what it did otherwise (NewUser: whether the user
// exists; Run: the status the command's shell printed).
func reapedElsewhere(err error) bool {
	return errors.Is(err, syscall.ECHILD)
}

// Command is the command that runs argv as the user.
func (u User) Command(tb testing.TB, argv ...string) *exec.Cmd {
	tb.Helper()
	setpriv := NeedCommand(tb, "setpriv")
	args := append([]string{"--reuid", strconv.Itoa(u.UID), "--regid", strconv.Itoa(u.GID), "--clear-groups", "--"}, argv...)
	return exec.Command(setpriv, args...)
}
