//go:build linux

package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/resreap/resreap/internal/testchild"
)

// control_group lets its members in, and only them: a real unprivileged
// user (nobody, through setpriv) with the group in its supplementary
// groups gets the status; without it, a refusal that names the group.
func TestControlGroupMembers(t *testing.T) {
	testchild.NeedRoot(t)
	setpriv := testchild.NeedCommand(t, "setpriv")
	const gid = "4242" // numeric: no /etc/group entry needed

	// A directory nobody can traverse, holding a copy of this binary
	// nobody can run.
	dir, err := os.MkdirTemp("", "resreap-control-group-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "resreap")
	copyFile(t, os.Args[0], bin, 0o755)

	sock := filepath.Join(dir, "run", "control.sock")
	cfg := filepath.Join(dir, "resreap.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`[supervisor]
state_dir      = %q
control_socket = %q
control_group  = %q

[[child]]
name    = "web"
command = ["sleep", "1000"]
start_seconds = "100ms"
`, filepath.Join(dir, "state"), sock, gid)), 0o644); err != nil {
		t.Fatal(err)
	}
	startDaemon(t, cfg)
	waitStatus(t, cfg, running("web"))

	asNobody := func(groups ...string) (int, string) {
		args := []string{"--reuid=65534", "--regid=65534"}
		if len(groups) > 0 {
			args = append(args, "--groups="+strings.Join(groups, ","))
		} else {
			args = append(args, "--clear-groups")
		}
		cmd := exec.Command(setpriv, append(args, bin, "status", "-s", sock)...)
		cmd.Env = append(os.Environ(), mainEnv+"=1")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), out.String()
		} else if err != nil {
			t.Fatal(err)
		}
		return 0, out.String()
	}
	if code, out := asNobody(gid); code != 0 || !strings.Contains(out, "web") {
		t.Errorf("a member of the control group: exit %d:\n%s", code, out)
	}
	code, out := asNobody()
	if code != 1 || !strings.Contains(out, `a member of the control group "`+gid+`"`) {
		t.Errorf("a stranger: exit %d, want 1 and a refusal naming the group:\n%s", code, out)
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}
