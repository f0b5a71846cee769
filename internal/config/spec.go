//go:build linux

package config

import (
	"maps"
	"reflect"
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/health"
)

// Config is a validated configuration: defaults applied, durations and
// signals parsed, children in file order. Build it with Load.
type Config struct {
	Path       string
	Supervisor Supervisor
	Children   []ChildSpec
	Groups     []GroupSpec
	// Fleet is the [fleet] table: the etcd cluster the fleet groups
	// share their budgets through. nil without one: nothing of the fleet
	// runs.
	Fleet *FleetSpec

	lines keyLines // the line of each key, for CheckHost's problems
}

// Child returns the child called name, or nil.
func (c *Config) Child(name string) *ChildSpec {
	for i := range c.Children {
		if c.Children[i].Name == name {
			return &c.Children[i]
		}
	}
	return nil
}

// Supervisor is the [supervisor] table.
type Supervisor struct {
	StateDir       string // default /var/lib/resreap
	HistoryFile    string // default <state_dir>/history.jsonl
	HistoryMaxSize int64  // bytes before rotation; 0 = never rotate
	HistoryKeep    int    // rotated files kept
	ControlSocket  string // default /run/resreap/control.sock; "" never
	ControlGroup   string // group allowed to use the control socket
	HealthReader   string // health.ReaderAuto, ReaderNetlink or ReaderProc: the dump
	// HealthSource is where CLOSE_WAIT sockets come from:
	// health.SourceAuto ("" too: the BPF event source when it loads, else
	// the dump), SourceBPF (it, or resreap does not start) or SourceDump.
	HealthSource string
	// Cgroup says how children are owned: CgroupAuto (a cgroup per child
	// when the host has a writable cgroup2 hierarchy, else process
	// groups), CgroupOff (process groups only), or the path of the cgroup
	// resreap builds its subtree in, as /proc/<pid>/cgroup shows paths.
	Cgroup string
	// MetricsListen is the address of the HTTP server for /metrics,
	// /healthz and /readyz ("127.0.0.1:9321"); "" serves none.
	MetricsListen string
}

// Values of Supervisor.Cgroup besides a path.
const (
	CgroupAuto = "auto"
	CgroupOff  = "off"
)

// RestartPolicy says when an exited child is started again.
type RestartPolicy string

// Restart policies.
const (
	RestartAlways    RestartPolicy = "always"
	RestartOnFailure RestartPolicy = "on-failure"
	RestartNever     RestartPolicy = "never"
)

// ChildSpec is one [[child]] with [defaults] applied.
type ChildSpec struct {
	Name string
	// Base is the name of the [[child]] table. With instances = N the
	// table makes N children, Base.0 to Base.N-1: Instances is N and
	// Instance the copy's number. Without, Base is Name and Instances 0.
	Base         string
	Instances    int
	Instance     int
	Command      []string // argv; Command[0] is looked up in PATH
	Dir          string
	Env          map[string]string // merged over the supervisor's environment
	ClearEnv     bool              // start from an empty environment instead
	User         string
	Group        string
	RlimitNofile uint64 // soft and hard RLIMIT_NOFILE; 0 = inherit
	// MemoryMax and PidsMax limit the child's cgroup (memory.max,
	// pids.max); 0 = no limit. They need a cgroup and the controller.
	MemoryMax  int64
	PidsMax    int64
	Restart    RestartPolicy
	StartGrace time.Duration // start_seconds: an exit sooner is a failed start
	Backoff    BackoffSpec
	StartLimit StartLimit
	Stop       StopSpec
	DependsOn  []string
	Health     HealthSpec
	// Ready says when a start has succeeded (see ReadySpec); StartTimeout
	// bounds the wait for it, after which the start has failed.
	Ready        ReadySpec
	StartTimeout time.Duration
	Liveness     LivenessSpec
	// Required children must be running and ready for resreap to report
	// itself ready (/readyz, systemd READY=1).
	Required bool
	Stdout   OutputSpec
	Stderr   OutputSpec
	Capture  CaptureSpec
	// Listen are the sockets resreap binds for the child and passes to
	// every generation, the way Pass says (PassSystemd or PassNginx).
	Listen []ListenSpec
	Pass   string
	// RestartMode is RestartStopStart or RestartSurge.
	RestartMode string
	// PidFile, when set, names the new main process of a child whose
	// main process exits after starting its successor (nginx's USR2
	// upgrade), read when the main process exits; "" reads none.
	PidFile string
}

// CaptureSpec saves the state of an unhealthy child before its stop
// escalation begins, into Dir/<child>/<time>-<pid>/: its CLOSE_WAIT
// sockets, its fd table, its /proc status and limits, and, when the first
// stop signal is QUIT, Output of its output after it (a JVM thread dump).
// Keep captures are kept per child, the newest.
type CaptureSpec struct {
	Enabled bool
	Dir     string // default <state_dir>/captures
	Output  time.Duration
	Keep    int
}

// BackoffSpec shapes the delay before a restart: after k consecutive
// failures the delay is min(Max, Initial*Multiplier^k), ±Jitter (a
// fraction), and k resets once the child has run for ResetAfter.
type BackoffSpec struct {
	Initial    time.Duration
	Max        time.Duration
	Multiplier float64
	Jitter     float64
	ResetAfter time.Duration
}

// StartLimit moves a child to Fatal after more than Burst failed starts
// within Interval.
type StartLimit struct {
	Burst    int
	Interval time.Duration
}

// StopSpec is the escalation chain: each step's signal goes to the process
// group, then resreap waits the step's Wait; SIGKILL follows the last step,
// and the stop gives up waiting KillWait after it (a process in
// uninterruptible sleep), saying so.
type StopSpec struct {
	Steps    []StopStep
	KillWait time.Duration
}

// StopStep is one signal of the escalation and how long to wait after it.
type StopStep struct {
	Signal unix.Signal
	Wait   time.Duration
}

// HealthSpec is the per-child health check: how often the child is
// judged, by which policy (the ignore list already parsed), and the hook
// that may veto a health restart.
type HealthSpec struct {
	Interval      time.Duration
	Policy        health.Policy
	BeforeRestart HookSpec
	// VetoCooldown is how long verdicts are not acted on after the hook
	// vetoed a restart (or, in a dry run, after a verdict was reported):
	// the hook is not asked again every scan. 0 means VetoIntervals
	// intervals; see Cooldown.
	VetoCooldown time.Duration
	// Observe holds the checks in observe mode: their verdicts are
	// recorded (would_restart), never acted on.
	Observe map[health.Reason]bool
}

// VetoIntervals is the default veto cooldown, in health intervals.
const VetoIntervals = 5

// Cooldown returns VetoCooldown, or VetoIntervals intervals when unset.
func (h HealthSpec) Cooldown() time.Duration {
	if h.VetoCooldown > 0 {
		return h.VetoCooldown
	}
	return VetoIntervals * h.Interval
}

// Enabled reports whether any check runs for the child.
func (h HealthSpec) Enabled() bool {
	return !h.Policy.CloseWait.Disabled || !h.Policy.FDs.Disabled
}

// HookSpec is a command run before a health restart; a non-zero exit or a
// timeout vetoes the restart. An empty Command means no hook.
type HookSpec struct {
	Command []string
	Timeout time.Duration
}

// Diff lists the keys whose values differ between a and b, in file order,
// and whether any of them concerns the process itself (its command,
// environment, user, limits...), so that a reload must restart it. The
// others (restart policy, backoff, stop, health, dependencies) change
// only how resreap supervises it and apply to the running process.
func (a ChildSpec) Diff(b ChildSpec) (keys []string, restart bool) {
	for _, f := range []struct {
		key     string
		same    bool
		process bool
	}{
		{"instances", a.Instances == b.Instances, false},
		{"command", slices.Equal(a.Command, b.Command), true},
		{"dir", a.Dir == b.Dir, true},
		{"env", maps.Equal(a.Env, b.Env), true},
		{"clear_env", a.ClearEnv == b.ClearEnv, true},
		{"user", a.User == b.User, true},
		{"group", a.Group == b.Group, true},
		{"rlimit_nofile", a.RlimitNofile == b.RlimitNofile, true},
		{"memory_max", a.MemoryMax == b.MemoryMax, true},
		{"pids_max", a.PidsMax == b.PidsMax, true},
		{"restart", a.Restart == b.Restart, false},
		{"start_seconds", a.StartGrace == b.StartGrace, false},
		{"backoff", a.Backoff == b.Backoff, false},
		{"start_limit", a.StartLimit == b.StartLimit, false},
		{"stop", reflect.DeepEqual(a.Stop, b.Stop), false},
		{"depends_on", slices.Equal(a.DependsOn, b.DependsOn), false},
		{"ready", reflect.DeepEqual(a.Ready, b.Ready), false},
		{"start_timeout", a.StartTimeout == b.StartTimeout, false},
		{"liveness", a.Liveness == b.Liveness, false},
		{"required", a.Required == b.Required, false},
		{"stdout", a.Stdout == b.Stdout, true},
		{"capture", a.Capture == b.Capture, false},
		{"stderr", a.Stderr == b.Stderr, true},
		{"health.interval", a.Health.Interval == b.Health.Interval, false},
		{"health.close_wait", reflect.DeepEqual(a.Health.Policy.CloseWait, b.Health.Policy.CloseWait), false},
		{"health.fds", a.Health.Policy.FDs == b.Health.Policy.FDs, false},
		{"health.before_restart", reflect.DeepEqual(a.Health.BeforeRestart, b.Health.BeforeRestart), false},
		{"health.veto_cooldown", a.Health.VetoCooldown == b.Health.VetoCooldown, false},
		{"health mode", maps.Equal(a.Health.Observe, b.Health.Observe), false},
		// New sockets are new fds: only a new generation gets them.
		{"listen", slices.Equal(a.Listen, b.Listen), true},
		{"pass", a.Pass == b.Pass, true},
		{"restart_mode", a.RestartMode == b.RestartMode, false},
		{"pid_file", a.PidFile == b.PidFile, false},
	} {
		if !f.same {
			keys = append(keys, f.key)
			restart = restart || f.process
		}
	}
	return keys, restart
}
