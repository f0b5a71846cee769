//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/cgroup"
	"github.com/resreap/resreap/internal/testchild"
)

// checkFiles makes what the host checks look at: a file without an execute
// bit and a directory.
func checkFiles(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "noexec"), []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "adir"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// writeFile writes a config file and returns its path.
func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// What `resreap check` accepted used to fail only when a child started: a
// program that is missing, a directory or not executable, a user, group or
// dir that does not exist, a limit the cgroups cannot apply. Each is now a
// problem of the file, with its line, and exit 2; --no-host-checks accepts
// the same file, for a machine where they exist.
func TestCheckHost(t *testing.T) {
	dir := checkFiles(t)
	cfg := writeFile(t, dir, "bad.toml", fmt.Sprintf(`[[child]]
name = "noexec"
command = ["./noexec"]
dir = %[1]q

[[child]]
name = "isdir"
command = [%[2]q]

[[child]]
name = "missing"
command = [%[3]q, "--port", "8010"]

[[child]]
name = "nopath"
command = ["no-such-program-resreap"]

[[child]]
name = "nouser"
command = ["sh", "-c", "true"]
user = "no-such-user-resreap"

[[child]]
name = "nodir"
command = ["sh"]
dir = "missing-dir"

[[child]]
name = "limited"
command = ["sh"]
memory_max = "64MB"
`, dir, filepath.Join(dir, "adir"), filepath.Join(dir, "missing")))

	code, out := resreap(t, "check", "-c", cfg)
	if code != 2 {
		t.Errorf("exit %d, want 2:\n%s", code, out)
	}
	contains(t, out,
		cfg+`:3: child[noexec].command: `+filepath.Join(dir, "noexec")+` is not executable (mode -rw-r--r--)`,
		cfg+`:8: child[isdir].command: `+filepath.Join(dir, "adir")+` is a directory, not a program`,
		cfg+`:12: child[missing].command: program `+filepath.Join(dir, "missing")+` does not exist`,
		cfg+`:16: child[nopath].command: "no-such-program-resreap" not found in PATH`,
		cfg+`:21: child[nouser].user: no such user "no-such-user-resreap"`,
		cfg+`:26: child[nodir].dir: directory `+filepath.Join(dir, "missing-dir")+` does not exist`,
	)
	if want := memoryProblem(t); want != "" {
		contains(t, out, cfg+`:31: child[limited].memory_max: `+want)
	} else if strings.Contains(out, "memory_max") {
		t.Errorf("memory_max reported on a host with a writable hierarchy and the memory controller:\n%s", out)
	}
	if n := strings.Count(strings.TrimSpace(out), "\n") + 1; n > 7 {
		t.Errorf("%d problems, want at most 7 (one per child):\n%s", n, out)
	}

	code, out = resreap(t, "check", "--no-host-checks", "-c", cfg)
	if code != 0 || !strings.Contains(out, "ok (7 children, host not checked; ") {
		t.Errorf("--no-host-checks: exit %d, want 0 and ok:\n%s", code, out)
	}
}

// memoryProblem is what the host checks say of a memory_max on this host
// in cgroup "auto" mode, found here through the cgroup package: "" when
// the limit can apply.
func memoryProblem(t *testing.T) string {
	h, err := cgroup.Detect()
	if err != nil {
		return "cannot apply: "
	}
	if !h.Writable {
		return "cannot apply: the cgroup2 hierarchy at " + h.Mount + " is not writable"
	}
	g, err := h.OwnGroup()
	if err != nil {
		t.Fatal(err)
	}
	have, err := g.Controllers()
	if err != nil {
		return "cannot apply: "
	}
	if slices.Contains(have, "memory") {
		return ""
	}
	// A hybrid host binds memory to cgroup v1, and says where.
	if v1, _ := cgroup.V1Mounts(); v1["memory"] != "" {
		return "cannot apply: the memory controller is bound to cgroup v1 on this host (mounted at " + v1["memory"] +
			"), not in the cgroup2 hierarchy at " + h.Mount
	}
	// Else: memory controller not available in the cgroup2 hierarchy at
	// /sys/fs/cgroup/unified (cgroup / offers: hugetlb)
	return "memory controller not available in the cgroup2 hierarchy at " + h.Mount
}

// With cgroup = "off" a limit can never apply, whatever the host.
func TestCheckLimitWithoutCgroups(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, dir, "off.toml", `[supervisor]
cgroup = "off"

[defaults]
pids_max = 100

[[child]]
name = "a"
command = ["sh"]

[[child]]
name = "b"
command = ["sh"]
`)
	code, out := resreap(t, "check", "-c", cfg)
	want := cfg + `:5: defaults.pids_max: cannot apply: [supervisor] cgroup = "off" runs children without cgroups` + "\n"
	if code != 2 || out != want {
		t.Errorf("exit %d, output\n%s\nwant exit 2 and\n%s", code, out, want)
	}
}

// rlimit_nofile above resreap's hard limit cannot be set by a child
// without CAP_SYS_RESOURCE. The check runs in a process whose hard limit
// is lowered to 1000 (by the shell's ulimit, which needs no privilege) and
// which, as root, has dropped CAP_SYS_RESOURCE (setpriv); a non-root test
// run lacks it anyway.
func TestCheckNofileAboveHardLimit(t *testing.T) {
	sh := testchild.NeedCommand(t, "sh")
	var wrap []string
	if os.Geteuid() == 0 {
		setpriv := testchild.NeedCommand(t, "setpriv")
		wrap = []string{setpriv, "--inh-caps=-sys_resource", "--bounding-set=-sys_resource", "--"}
	} else if hasCapSysResource(t) {
		t.Skip("this non-root test process has CAP_SYS_RESOURCE and cannot drop it")
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		n    int
		code int
		want string
	}{
		{1000, 0, "ok (1 child, host checked; "},
		{1001, 2, ":4: child[a].rlimit_nofile: 1001 is above resreap's hard RLIMIT_NOFILE (1000), which only CAP_SYS_RESOURCE can raise, and resreap runs without it"},
	} {
		cfg := writeFile(t, dir, fmt.Sprintf("nofile-%d.toml", tc.n), fmt.Sprintf("[[child]]\nname = \"a\"\ncommand = [\"sh\"]\nrlimit_nofile = %d\n", tc.n))
		argv := append(slices.Clone(wrap), sh, "-c", `ulimit -n 1000 && exec "$0" "$@"`, os.Args[0], "check", "-c", cfg)
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), mainEnv+"=1")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("%v: %v", argv, err)
		}
		if code != tc.code || !strings.Contains(out.String(), tc.want) {
			t.Errorf("rlimit_nofile = %d: exit %d, output\n%s\nwant exit %d and %q", tc.n, code, out.String(), tc.code, tc.want)
		}
	}
}

// hasCapSysResource reports CAP_SYS_RESOURCE in the test process's
// effective set.
func hasCapSysResource(t *testing.T) bool {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		t.Fatal(err)
	}
	return data[0].Effective&(1<<unix.CAP_SYS_RESOURCE) != 0
}

// `check` and `run` refuse a child named ".", "..", with ESC, 300 bytes
// long, with '/', a leading '.', empty or in another script, each at its
// line and key, the name escaped; and what `check` prints of a host
// problem (a program path with ESC) carries no raw control character.
func TestCheckAndRunRefuseBadNames(t *testing.T) {
	dir := t.TempDir()
	names := []struct{ toml, want string }{
		{`"."`, `child[0].name: name "." starts with '.'`},
		{`".."`, `child[1].name: name ".." starts with '.'`},
		{`"fe\u001b]0;pwned\u0007"`, `child[2].name: name "fe\x1b]0;pwned\a" has '\x1b'`},
		{`"` + strings.Repeat("n", 300) + `"`, `child[3].name: name "nnnnnnnnnnnnnnnn"... is 300 bytes long, more than 64`},
		{`"a/b"`, `child[4].name: name "a/b" has '/'`},
		{`".hidden"`, `child[5].name: name ".hidden" starts with '.'`},
		{`""`, `child[6].name: missing or empty name`},
		{`"fé"`, `child[7].name: name "fé" has 'é'`},
	}
	var src strings.Builder
	for _, n := range names {
		fmt.Fprintf(&src, "[[child]]\nname = %s\ncommand = [\"/bin/true\"]\n\n", n.toml)
	}
	cfg := writeFile(t, dir, "names.toml", src.String())
	for _, cmd := range [][]string{{"check", "-c", cfg}, {"check", "--no-host-checks", "-c", cfg}, {"run", "-c", cfg, "--log-format", "json"}} {
		code, out := resreap(t, cmd...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2:\n%s", cmd, code, out)
		}
		for i, n := range names {
			contains(t, out, fmt.Sprintf("%s:%d: %s", cfg, 4*i+2, n.want))
		}
		if n, i := rawControls(out); n > 0 {
			t.Errorf("%v: %d raw control characters, the first at %d:\n%q", cmd, n, i, out)
		}
	}

	cfg = writeFile(t, dir, "host.toml", "[[child]]\nname = \"a\"\ncommand = [\"/nonexistent/\\u001b[2J\\u009b\"]\n")
	code, out := resreap(t, "check", "-c", cfg)
	if want := cfg + `:3: child[a].command: program /nonexistent/\x1b[2J\u009b does not exist` + "\n"; code != 2 || out != want {
		t.Errorf("exit %d, output\n%q\nwant exit 2 and\n%q", code, out, want)
	}
}

// terminalControl reports a character a terminal acts on, other than the
// newline that ends a line: C0, DEL, C1.
func terminalControl(r rune) bool {
	return r != '\n' && (r < 0x20 || r >= 0x7f && r < 0xa0)
}
