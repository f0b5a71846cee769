//go:build linux

package testchild

import (
	"crypto/rand"
	"encoding/hex"
	"os/exec"
	"os/user"
	"strconv"
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
	if out, err := exec.Command(useradd, "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", name).CombinedOutput(); err != nil {
		tb.Fatalf("useradd %s: %v: %s", name, err, out)
	}
	tb.Cleanup(func() {
		if out, err := exec.Command(userdel, name).CombinedOutput(); err != nil {
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
	out, err := u.Command(tb, argv...).CombinedOutput()
	if err != nil {
		tb.Fatalf("as %s: %v: %v: %s", u.Name, argv, err, out)
	}
	return string(out)
}

// Command is the command that runs argv as the user.
func (u User) Command(tb testing.TB, argv ...string) *exec.Cmd {
	tb.Helper()
	setpriv := NeedCommand(tb, "setpriv")
	args := append([]string{"--reuid", strconv.Itoa(u.UID), "--regid", strconv.Itoa(u.GID), "--clear-groups", "--"}, argv...)
	return exec.Command(setpriv, args...)
}
