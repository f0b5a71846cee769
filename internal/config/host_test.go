//go:build linux

package config

import (
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/cgroup"
)

// hostFiles makes the files the host checks look at: an executable, a file
// without an execute bit, a directory.
func hostFiles(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, mode := range map[string]os.FileMode{"prog": 0o755, "noexec": 0o644} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\nexit 0\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "adir"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// parseT parses src as the file x.toml in dir, failing on a problem.
func parseT(t *testing.T, dir, src string) *Config {
	t.Helper()
	cfg, err := Parse(filepath.Join(dir, "x.toml"), []byte(src))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return cfg
}

// problems returns the lines of err, with the directory cut from paths.
func problems(err error, dir string) []string {
	if err == nil {
		return nil
	}
	return strings.Split(strings.ReplaceAll(err.Error(), dir+"/", ""), "\n")
}

// The programs, directories, users and groups a file names must exist on
// this host; each problem comes with its line, like a problem of the file.
func TestCheckHostFiles(t *testing.T) {
	dir := hostFiles(t)
	src := `[defaults]
user = "no-such-user-resreap"

[[child]]
name = "noexec"
command = ["./noexec"]
dir = "."
user = "root"

[[child]]
name = "isdir"
command = ["./adir"]
dir = "."
user = "0"

[[child]]
name = "missing"
command = ["missing/prog", "--flag"]
dir = "."
group = "no-such-group-resreap"

[[child]]
name = "nopath"
command = ["no-such-program-resreap"]
health.before_restart = { command = ["./noexec"] }
dir = "nodir"

[[child]]
name = "notdir"
command = ["/bin/sh"]
dir = "prog"

[[child]]
name = "good"
command = ["./prog"]
dir = "."
user = "root"
group = "0"
health.before_restart = { command = ["sh", "-c", "true"] }
`
	cfg := parseT(t, dir, src)
	have := problems(Host{}.Check(cfg), dir)
	want := []string{
		`x.toml:2: defaults.user: no such user "no-such-user-resreap"`,
		`x.toml:6: child[noexec].command: noexec is not executable (mode -rw-r--r--)`,
		`x.toml:12: child[isdir].command: adir is a directory, not a program`,
		`x.toml:18: child[missing].command: program missing/prog does not exist`,
		`x.toml:20: child[missing].group: no such group "no-such-group-resreap"`,
		`x.toml:24: child[nopath].command: "no-such-program-resreap" not found in PATH (` + os.Getenv("PATH") + `)`,
		`x.toml:26: child[nopath].dir: directory nodir does not exist`,
		`x.toml:31: child[notdir].dir: prog is not a directory (a regular file)`,
	}
	if !slices.Equal(have, want) {
		t.Errorf("have\n%s\nwant\n%s", strings.Join(have, "\n"), strings.Join(want, "\n"))
	}

	// Without the bad children, the file passes: a good child is not
	// judged by the defaults it overrides.
	cfg.Children = cfg.Children[len(cfg.Children)-1:]
	if err := (Host{}).Check(cfg); err != nil {
		t.Errorf("good child: %v", err)
	}
}

// A hook relative to a dir that is wrong is not reported twice.
func TestCheckHostRelativeToBadDir(t *testing.T) {
	dir := hostFiles(t)
	cfg := parseT(t, dir, "[[child]]\nname = \"a\"\ncommand = [\"./prog\"]\ndir = \"nodir\"\nhealth.before_restart = { command = [\"./hook\"] }\n")
	have := problems(Host{}.Check(cfg), dir)
	if want := []string{"x.toml:4: child[a].dir: directory nodir does not exist"}; !slices.Equal(have, want) {
		t.Errorf("have %q, want %q", have, want)
	}
}

func TestCheckHostHistoryFile(t *testing.T) {
	dir := hostFiles(t)
	if err := unix.Mkfifo(filepath.Join(dir, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := parseT(t, dir, "[supervisor]\nhistory_file = \"fifo\"\n[[child]]\nname = \"a\"\ncommand = [\"/bin/sh\"]\n")
	have := problems(Host{}.Check(cfg), dir)
	if want := []string{"x.toml:2: supervisor.history_file: fifo is not a regular file (a FIFO): the history could not be written"}; !slices.Equal(have, want) {
		t.Errorf("have %q, want %q", have, want)
	}
}

// rlimit_nofile must stay within fs.nr_open, and within resreap's hard
// limit unless the child starts with CAP_SYS_RESOURCE: resreap has it and
// the child does not switch away from root.
func TestCheckHostNofile(t *testing.T) {
	dir := hostFiles(t)
	other := nonRootUser(t)
	tests := []struct {
		name string
		host Host
		user string
		n    int
		want string
	}{
		{"at the hard limit", Host{NofileHard: 1000, NrOpen: 4096}, "", 1000, ""},
		{"above, no capability", Host{NofileHard: 1000, NrOpen: 4096}, "", 1001,
			"1001 is above resreap's hard RLIMIT_NOFILE (1000), which only CAP_SYS_RESOURCE can raise, and resreap runs without it"},
		{"above, capability", Host{NofileHard: 1000, NrOpen: 4096, CapSysResource: true}, "", 1001, ""},
		{"above, capability, user root", Host{NofileHard: 1000, NrOpen: 4096, CapSysResource: true}, "root", 4096, ""},
		{"above, capability, another user", Host{NofileHard: 1000, NrOpen: 4096, CapSysResource: true}, other, 1001,
			"1001 is above resreap's hard RLIMIT_NOFILE (1000): the child runs as user \"" + other + "\", without the CAP_SYS_RESOURCE needed to raise it"},
		{"above nr_open", Host{NofileHard: 1000, NrOpen: 4096, CapSysResource: true}, "", 4097,
			"4097 is above the kernel's fs.nr_open (4096), the most any process may have"},
		{"unknown host", Host{}, "", 1 << 30, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.user == "-" {
				t.Skip("no user other than root on this host")
			}
			src := "[[child]]\nname = \"a\"\ncommand = [\"/bin/sh\"]\nrlimit_nofile = " + strconv.Itoa(tt.n) + "\n"
			if tt.user != "" {
				src += "user = \"" + tt.user + "\"\n"
			}
			have := problems(tt.host.Check(parseT(t, dir, src)), dir)
			var want []string
			if tt.want != "" {
				want = []string{"x.toml:4: child[a].rlimit_nofile: " + tt.want}
			}
			if !slices.Equal(have, want) {
				t.Errorf("have %q, want %q", have, want)
			}
		})
	}
}

// nonRootUser returns the name of a user of this host other than root,
// or "-" if there is none.
func nonRootUser(t *testing.T) string {
	for _, name := range []string{"nobody", "daemon", "bin"} {
		if u, err := user.Lookup(name); err == nil && u.Uid != "0" {
			return name
		}
	}
	return "-"
}

// memory_max and pids_max need a cgroup per child and their controller.
func TestCheckHostLimits(t *testing.T) {
	dir := hostFiles(t)
	hybrid := Host{Cgroup: cgroup.Hierarchy{Mount: "/sys/fs/cgroup/unified", Root: "/", Own: "/", Writable: true}, Controllers: []string{"hugetlb"}}
	full := hybrid
	full.Controllers = []string{"cpu", "memory", "pids"}
	readOnly := full
	readOnly.Cgroup.Writable = false
	none := Host{CgroupErr: errors.New("no cgroup2 hierarchy: none mounted")}
	v1 := hybrid
	v1.V1 = map[string]string{"memory": "/sys/fs/cgroup/memory", "pids": "/sys/fs/cgroup/pids"}
	tests := []struct {
		name   string
		host   Host
		cgroup string
		want   []string
	}{
		{"controllers there", full, "auto", nil},
		{"hybrid host, v1 mounts found", v1, "auto", []string{
			"x.toml:5: child[a].memory_max: cannot apply: the memory controller is bound to cgroup v1 on this host (mounted at /sys/fs/cgroup/memory), not in the cgroup2 hierarchy at /sys/fs/cgroup/unified that resreap runs children in: a hybrid host (boot with systemd.unified_cgroup_hierarchy=1 for cgroup v2 alone, or drop the key)",
			"x.toml:6: child[a].pids_max: cannot apply: the pids controller is bound to cgroup v1 on this host (mounted at /sys/fs/cgroup/pids), not in the cgroup2 hierarchy at /sys/fs/cgroup/unified that resreap runs children in: a hybrid host (boot with systemd.unified_cgroup_hierarchy=1 for cgroup v2 alone, or drop the key)",
		}},
		{"hybrid host", hybrid, "auto", []string{
			"x.toml:5: child[a].memory_max: memory controller not available in the cgroup2 hierarchy at /sys/fs/cgroup/unified (cgroup / offers: hugetlb)",
			"x.toml:6: child[a].pids_max: pids controller not available in the cgroup2 hierarchy at /sys/fs/cgroup/unified (cgroup / offers: hugetlb)",
		}},
		{"cgroup off", full, "off", []string{
			"x.toml:5: child[a].memory_max: cannot apply: [supervisor] cgroup = \"off\" runs children without cgroups",
			"x.toml:6: child[a].pids_max: cannot apply: [supervisor] cgroup = \"off\" runs children without cgroups",
		}},
		{"not writable", readOnly, "auto", []string{
			"x.toml:5: child[a].memory_max: cannot apply: the cgroup2 hierarchy at /sys/fs/cgroup/unified is not writable below /, so children would run in process groups",
			"x.toml:6: child[a].pids_max: cannot apply: the cgroup2 hierarchy at /sys/fs/cgroup/unified is not writable below /, so children would run in process groups",
		}},
		{"no hierarchy", none, "auto", []string{
			"x.toml:5: child[a].memory_max: cannot apply: no cgroup2 hierarchy: none mounted",
			"x.toml:6: child[a].pids_max: cannot apply: no cgroup2 hierarchy: none mounted",
		}},
		{"no hierarchy for a path", none, "/resreap", []string{
			"x.toml:2: supervisor.cgroup: no cgroup2 hierarchy to build /resreap in: no cgroup2 hierarchy: none mounted",
			"x.toml:5: child[a].memory_max: cannot apply: no cgroup2 hierarchy: none mounted",
			"x.toml:6: child[a].pids_max: cannot apply: no cgroup2 hierarchy: none mounted",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "[supervisor]\ncgroup = \"" + tt.cgroup + "\"\n[[child]]\nname = \"a\"\nmemory_max = \"64MB\"\npids_max = 100\ncommand = [\"/bin/sh\"]\n"
			if have := problems(tt.host.Check(parseT(t, dir, src)), dir); !slices.Equal(have, tt.want) {
				t.Errorf("have\n%s\nwant\n%s", strings.Join(have, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

// ReadHost reads this host: the same limit, capability and controllers
// the process sees by other means.
func TestReadHost(t *testing.T) {
	h := ReadHost()
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	if h.NofileHard != rl.Max {
		t.Errorf("NofileHard %d, want %d", h.NofileHard, rl.Max)
	}
	var hdr = unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		t.Fatal(err)
	}
	if want := data[0].Effective&(1<<unix.CAP_SYS_RESOURCE) != 0; h.CapSysResource != want {
		t.Errorf("CapSysResource %v, capget says %v", h.CapSysResource, want)
	}
	if h.NrOpen < rl.Max {
		t.Errorf("NrOpen %d below the hard limit %d", h.NrOpen, rl.Max)
	}
	if h.CgroupErr != nil {
		t.Logf("no cgroup2 hierarchy: %v", h.CgroupErr)
		return
	}
	data2, err := os.ReadFile(filepath.Join(h.Cgroup.Mount, strings.TrimPrefix(h.Cgroup.Own, h.Cgroup.Root), "cgroup.controllers"))
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Fields(string(data2)); !slices.Equal(h.Controllers, want) {
		t.Errorf("Controllers %q, want %q", h.Controllers, want)
	}
}

func TestParseCapEff(t *testing.T) {
	status := "Name:\tcat\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t000001fffeffffff\nCapBnd:\t000001ffffffffff\n"
	n, ok := parseCapEff([]byte(status))
	if !ok || n != 0x1fffeffffff || n&(1<<unix.CAP_SYS_RESOURCE) != 0 {
		t.Errorf("have %x, %v; want 1fffeffffff without CAP_SYS_RESOURCE", n, ok)
	}
	if _, ok := parseCapEff([]byte("Name:\tcat\n")); ok {
		t.Error("no CapEff line parsed")
	}
	if _, ok := parseCapEff([]byte("CapEff:\tzz\n")); ok {
		t.Error("bad CapEff parsed")
	}
}
