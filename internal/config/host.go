//go:build linux

package config

import (
	"bufio"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/cgroup"
)

// Host is what the host checks know of the machine and of the calling
// process, read by ReadHost. The checks judge the host as the calling
// process sees it: `resreap check` should run as the user, and in the
// cgroup, that resreap will run as; `resreap run` sees it exactly. A zero
// number means unknown, and its check is skipped.
type Host struct {
	// NofileHard is the hard RLIMIT_NOFILE of the calling process, which
	// children inherit: the most a child's rlimit_nofile may be unless the
	// child is started with CAP_SYS_RESOURCE.
	NofileHard uint64
	// CapSysResource reports CAP_SYS_RESOURCE in the calling process's
	// effective set: it may raise a hard limit, and so may a child that
	// keeps root's capabilities (no user, or user root).
	CapSysResource bool
	// NrOpen is fs.nr_open, the ceiling of every RLIMIT_NOFILE, root's
	// included.
	NrOpen uint64
	// Cgroup is the cgroup2 hierarchy as Detect found it; CgroupErr says
	// why there is none.
	Cgroup    cgroup.Hierarchy
	CgroupErr error
	// Controllers are those of the calling process's own cgroup
	// (cgroup.controllers): the ones the supervisor can enable for its
	// subtree, where the children's limits live.
	Controllers []string
	// V1 holds where each controller bound to cgroup v1 is mounted, by
	// controller: on a hybrid host, memory and pids are there, out of the
	// cgroup2 hierarchy's reach.
	V1 map[string]string
}

// ReadHost reads the Host of the calling process. What it cannot read it
// leaves zero (unknown), except the cgroup, whose absence is an answer.
func ReadHost() Host {
	var h Host
	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) == nil {
		h.NofileHard = rl.Max
	}
	if data, err := os.ReadFile("/proc/self/status"); err == nil {
		if caps, ok := parseCapEff(data); ok {
			h.CapSysResource = caps&(1<<unix.CAP_SYS_RESOURCE) != 0
		}
	}
	if data, err := os.ReadFile("/proc/sys/fs/nr_open"); err == nil {
		h.NrOpen, _ = strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
	}
	h.Cgroup, h.CgroupErr = cgroup.Detect()
	if h.CgroupErr == nil {
		g, err := h.Cgroup.OwnGroup()
		if err == nil {
			h.Controllers, err = g.Controllers()
		}
		h.CgroupErr = err
	}
	h.V1, _ = cgroup.V1Mounts() // unknown: the message names no mount
	return h
}

// parseCapEff returns the CapEff mask of a /proc/<pid>/status file.
func parseCapEff(data []byte) (uint64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CapEff:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// CheckHost checks a valid cfg against this host as the calling process
// sees it (ReadHost): what the file says is fine but this machine would
// refuse when a child starts. It returns nil, or an *Error listing every
// problem with its line, like Load. The checks:
//
//   - command (and health.before_restart.command): the program must exist,
//     not be a directory and have an execute bit, found as the supervisor
//     finds it (ResolveCommand);
//   - dir: must exist and be a directory;
//   - user, group, and the owner and group of stdout and stderr files:
//     must exist, by name or number;
//   - rlimit_nofile: at most fs.nr_open, and at most the calling process's
//     hard limit unless the child keeps CAP_SYS_RESOURCE;
//   - memory_max, pids_max: need a cgroup per child ([supervisor] cgroup
//     not "off", a writable cgroup2 hierarchy) and the controller;
//   - supervisor.history_file: if it exists, a regular file;
//   - the paths resreap writes as root (CheckPaths): state_dir,
//     history_file, the control socket's directory, each child's output
//     files and capture_dir must be out of other users' reach.
//
// Problems carry the lines of a Config made by Load or Parse; one built by
// hand gets line 0.
func CheckHost(cfg *Config) error { return ReadHost().Check(cfg) }

// Check is CheckHost against h.
func (h Host) Check(cfg *Config) error {
	v := hostValidator(cfg)
	h.checkSupervisor(v, cfg.Supervisor)
	for i := range cfg.Children {
		h.checkChild(v, "child."+strconv.Itoa(i), &cfg.Children[i], cfg.Supervisor)
	}
	checkPaths(v, cfg)
	return v.hostError(cfg.Path)
}

func (h Host) checkSupervisor(v *validator, sc Supervisor) {
	if st, err := os.Lstat(sc.HistoryFile); err == nil && !st.Mode().IsRegular() && st.Mode().Type() != fs.ModeSymlink {
		v.add("supervisor.history_file", "%s is not a regular file (%s): the history could not be written", sc.HistoryFile, fileKind(st.Mode()))
	}
	if sc.Cgroup != CgroupAuto && sc.Cgroup != CgroupOff && sc.Cgroup != "" && h.CgroupErr != nil {
		v.add("supervisor.cgroup", "no cgroup2 hierarchy to build %s in: %v", sc.Cgroup, h.CgroupErr)
	}
}

func (h Host) checkChild(v *validator, key string, c *ChildSpec, sc Supervisor) {
	dirOK := true
	if c.Dir != "" {
		if err := CheckDir(c.Dir); err != nil {
			v.add(key+".dir", "%v", err)
			dirOK = false
		}
	}
	// A relative command is relative to dir: with dir wrong, say so once.
	relative := func(argv0 string) bool { return strings.Contains(argv0, "/") && !filepath.IsAbs(argv0) }
	if len(c.Command) > 0 && (dirOK || !relative(c.Command[0])) {
		if _, err := ResolveCommand(c.Command[0], c.Dir); err != nil {
			v.add(key+".command", "%v", err)
		}
	}
	if hook := c.Health.BeforeRestart.Command; len(hook) > 0 && (dirOK || !relative(hook[0])) {
		if _, err := ResolveCommand(hook[0], c.Dir); err != nil {
			v.add(key+".health.before_restart.command", "%v", err)
		}
	}
	// A child keeps resreap's capabilities unless it switches away from
	// root to another user.
	keepsCaps := c.User == ""
	if c.User != "" {
		if u, err := LookupUser(c.User); err != nil {
			v.add(key+".user", "%v", err)
		} else {
			keepsCaps = u.Uid == "0"
		}
	}
	if c.Group != "" {
		if _, err := LookupGroup(c.Group); err != nil {
			v.add(key+".group", "%v", err)
		}
	}
	checkOutputOwners(v, key, c)
	if n := c.RlimitNofile; n > 0 {
		h.checkNofile(v, key+".rlimit_nofile", n, c.User, keepsCaps)
	}
	if c.MemoryMax > 0 {
		h.checkLimit(v, key+".memory_max", "memory", sc.Cgroup)
	}
	if c.PidsMax > 0 {
		h.checkLimit(v, key+".pids_max", "pids", sc.Cgroup)
	}
}

// checkNofile checks a child's rlimit_nofile: the child sets it on itself
// just before exec (the supervisor's exec shim), already as its user, so
// it can raise the hard limit it inherits only with CAP_SYS_RESOURCE, which
// a switch away from root drops.
func (h Host) checkNofile(v *validator, key string, n uint64, userName string, keepsCaps bool) {
	if h.NrOpen > 0 && n > h.NrOpen {
		v.add(key, "%d is above the kernel's fs.nr_open (%d), the most any process may have", n, h.NrOpen)
		return
	}
	if h.NofileHard == 0 || n <= h.NofileHard {
		return
	}
	switch {
	case !h.CapSysResource:
		v.add(key, "%d is above resreap's hard RLIMIT_NOFILE (%d), which only CAP_SYS_RESOURCE can raise, and resreap runs without it", n, h.NofileHard)
	case !keepsCaps:
		v.add(key, "%d is above resreap's hard RLIMIT_NOFILE (%d): the child runs as user %q, without the CAP_SYS_RESOURCE needed to raise it", n, h.NofileHard, userName)
	}
}

// checkLimit checks that a child's cgroup limit on controller can apply.
func (h Host) checkLimit(v *validator, key, controller, mode string) {
	switch {
	case mode == CgroupOff || mode == "":
		v.add(key, "cannot apply: [supervisor] cgroup = \"off\" runs children without cgroups")
	case h.CgroupErr != nil:
		v.add(key, "cannot apply: %v", h.CgroupErr)
	case mode == CgroupAuto && !h.Cgroup.Writable:
		v.add(key, "cannot apply: the cgroup2 hierarchy at %s is not writable below %s, so children would run in process groups", h.Cgroup.Mount, h.Cgroup.Own)
	case !slices.Contains(h.Controllers, controller) && h.V1[controller] != "":
		v.add(key, "cannot apply: the %s controller is bound to cgroup v1 on this host (mounted at %s), not in the cgroup2 hierarchy at %s that resreap runs children in: a hybrid host (boot with systemd.unified_cgroup_hierarchy=1 for cgroup v2 alone, or drop the key)",
			controller, h.V1[controller], h.Cgroup.Mount)
	case !slices.Contains(h.Controllers, controller):
		have := strings.Join(h.Controllers, " ")
		if have == "" {
			have = "none"
		}
		v.add(key, "%s controller not available in the cgroup2 hierarchy at %s (cgroup %s offers: %s)", controller, h.Cgroup.Mount, h.Cgroup.Own, have)
	}
}
