//go:build linux

package config

import (
	"time"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/health"
)

// This file is the one place each built-in default lives, next to the
// range a file may set the key to and why the range ends where it does.
// Every number and duration of the file has a range: a value the supervisor
// cannot live with (a scan every nanosecond, a rotation over ten million
// names, a size that overflows) is a problem with its line, found by
// `resreap check`, never a surprise at run time. README's configuration
// table repeats these ranges.

// Default locations used when the [supervisor] table does not set them.
const (
	DefaultStateDir      = "/var/lib/resreap"
	DefaultControlSocket = "/run/resreap/control.sock"
	defaultHistoryName   = "history.jsonl"
)

// [supervisor] numbers.
const (
	// history_max_size, default 64MB.
	defaultHistoryMaxSize = 64 << 20
	// history_keep, default 5.
	defaultHistoryKeep = 5
)

var (
	// history_max_size: 1MB..1TB, or 0 to never rotate. Below 1MB a
	// restart storm rotates several times a second, each rotation a
	// directory sync under the writer's lock; above 1TB is a typo, and
	// sizes near 8EB overflowed into a negative limit that silently
	// disabled the history.
	rangeHistoryMaxSize = numRange{min: 1 << 20, max: 1 << 40, zero: "never rotate", unit: fmtSize}
	// history_keep: 0..1000. Each rotation renames every rotated file
	// present and `resreap history` reads them all; a thousand files of
	// history_max_size is already more history than anyone reads.
	rangeHistoryKeep = numRange{min: 0, max: 1000}
)

// [fleet] lease_ttl, default 10s: a resreap that dies frees its fleet
// slots within 10s, and its keep-alives (one every third of it) cost the
// cluster 0.3 writes a second per host.
const defaultLeaseTTL = 10 * time.Second

// lease_ttl: 2s..5m, whole seconds. etcd grants no lease shorter than
// its own minimum (1.5 election timeouts rounded up: 2s with its default
// timing) and counts in seconds; beyond 5 minutes the slots of a dead
// host hold up the fleet's restarts for longer than any leak should wait.
var rangeLeaseTTL = durRange{min: 2 * time.Second, max: 5 * time.Minute}

// defaultStopWait is the wait after each stop signal when the file gives
// none.
const defaultStopWait = 5 * time.Second

// DefaultKillWait bounds the wait for an exit after SIGKILL.
const DefaultKillWait = 10 * time.Second

// builtinChild holds the built-in defaults, used where neither [defaults]
// nor the child sets a key. Each key's range follows it.
var builtinChild = ChildSpec{
	// restart: always.
	Restart: RestartAlways,
	// start_seconds: 1s.
	StartGrace: time.Second,
	// backoff: 1s doubling to 1m, ±10%, reset after 5m of running.
	Backoff: BackoffSpec{Initial: time.Second, Max: time.Minute, Multiplier: 2, Jitter: 0.1, ResetAfter: 5 * time.Minute},
	// start_limit: more than 5 failed starts within 1m.
	StartLimit: StartLimit{Burst: 5, Interval: time.Minute},
	// stop: TERM, 5s, then KILL and up to 10s for the exit.
	Stop: StopSpec{Steps: []StopStep{{Signal: unix.SIGTERM, Wait: defaultStopWait}}, KillWait: DefaultKillWait},
	Health: HealthSpec{
		// health.interval: 2s.
		Interval: 2 * time.Second,
		// close_wait: 2 sockets over 2 scans; fds: 90% of the limit
		// over 2 scans (health.DefaultPolicy).
		Policy: health.DefaultPolicy(),
		// before_restart.timeout: 10s.
		BeforeRestart: HookSpec{Timeout: 10 * time.Second},
	},
	// rlimit_nofile, memory_max, pids_max: unset (inherit, no limit).
	// ready: none (ready once up start_seconds); a probe's timeout 2s and
	// interval 500ms. start_timeout: 1m. liveness: off; its probes,
	// once on, every 10s.
	Ready:        ReadySpec{Timeout: 2 * time.Second, Interval: 500 * time.Millisecond},
	StartTimeout: time.Minute,
	Liveness:     LivenessSpec{Interval: 10 * time.Second},
	// stdout, stderr: inherit (resreap's own, lines prefixed).
	Stdout:  OutputSpec{Mode: OutputInherit},
	Stderr:  OutputSpec{Mode: OutputInherit},
	Capture: CaptureSpec{Output: 3 * time.Second, Keep: 10},
	// listen: none. pass: systemd. restart_mode: stop-start. (The
	// backlog and the crash backoff of a child with listen are in
	// listen.go.)
	Pass:        PassSystemd,
	RestartMode: RestartStopStart,
}

// A child's output file: rotated at 100MB, 5 kept.
const (
	defaultOutputMaxSize = 100 << 20
	defaultOutputKeep    = 5
	// Output files are created rw-r-----: the owner (the child's user)
	// and its group (a log shipper's) may read them, nobody else.
	defaultOutputFileMode = 0o640
)

// maxNameLen bounds the name of a [[child]] or a [[group]]: 64 bytes. A
// child's name is a path component three times over, and each must stay
// well under NAME_MAX (255 bytes): the capture directory
// <capture_dir>/<name>/, the cgroup leaf child-<name>.<gen> (with a copy's
// ".999" and a generation of up to 19 digits, at most 94 bytes), and
// {name} in an output file, which a rotated copy lengthens by lumberjack's
// 24-byte time stamp and ".gz". Beyond 64 bytes a name is a sentence, not
// a name, and no longer fits a column of `status`. The alphabet is in
// nameProblem.
const maxNameLen = 64

// Ranges of the [[child]] and [defaults] keys.
var (
	// rlimit_nofile: 1..2^30 (absent = inherit resreap's). The kernel's
	// own ceiling, fs.nr_open, cannot exceed about 2^31; 2^30 is far above
	// any real setting. Whether this host allows the value (fs.nr_open,
	// the hard limit) is a host check.
	rangeRlimitNofile = numRange{min: 1, max: 1 << 30}
	// memory_max: 1MB..1PB, or 0 for no limit. Below 1MB no program
	// starts (the cgroup OOM-kills it at once); above 1PB is a typo.
	rangeMemoryMax = numRange{min: 1 << 20, max: 1 << 50, zero: "no limit", unit: fmtSize}
	// pids_max: 1..4194304, the kernel's PID_MAX_LIMIT: no cgroup can hold
	// more tasks than that.
	rangePidsMax = numRange{min: 1, max: 4 << 20}
	// capture_output: 0 (none) .. 1m of output after QUIT; capture_keep:
	// 1 .. 1000 captures per child.
	rangeCaptureOutput = durRange{min: 100 * time.Millisecond, max: time.Minute, zero: "none"}
	rangeCaptureKeep   = numRange{min: 1, max: 1000}
	// fds.predict: 1m .. 7d ahead; a trend fitted over the last 16 scans
	// says little about next month.
	rangePredict = durRange{min: time.Minute, max: 7 * 24 * time.Hour}
	// instances: copies of one [[child]]; a thousand is a fleet, not a host.
	rangeInstances = numRange{min: 1, max: 1000}
	// start_seconds: 0..1h. 0 makes no exit a failed start (the start
	// limit never applies); a start that takes over an hour is not a
	// start.
	rangeStartSeconds = durRange{min: 0, max: time.Hour}
	// backoff.initial: 0..1h. 0 restarts at once (and the delay stays 0:
	// it is initial × multiplier^k).
	rangeBackoffInitial = durRange{min: 0, max: time.Hour}
	// backoff.max: 0..24h, and at least initial. A child down for longer
	// than a day between two tries is better stopped (restart = "never").
	rangeBackoffMax = durRange{min: 0, max: 24 * time.Hour}
	// backoff.multiplier: 1..100. Below 1 the delay would shrink with
	// each failure; over 100 the second delay is already max.
	rangeBackoffMultiplier = floatRange{min: 1, max: 100}
	// backoff.jitter: [0, 1), a fraction of the delay. At 1 a delay could
	// come out as 0.
	rangeBackoffJitter = floatRange{min: 0, max: 1, maxOpen: true}
	// backoff.reset_after: 0..30 days (720h). 0 forgets every failure as
	// soon as the child runs again (the delay stays initial).
	rangeResetAfter = durRange{min: 0, max: 30 * 24 * time.Hour}
	// start_limit.burst: 1..10000. The supervisor keeps one timestamp per
	// failed start within interval and walks them at each failure; a
	// burst of a million made every failed start of a crash loop walk a
	// million entries.
	rangeStartLimitBurst = numRange{min: 1, max: 10000}
	// start_limit.interval: 1s..24h. An interval of 1ns was accepted and
	// no number of failures ever fell within it: with no backoff, a crash
	// loop restarted for ever at full speed.
	rangeStartLimitInterval = durRange{min: time.Second, max: 24 * time.Hour}
	// stop.wait, each step: (0, 1h]. 0 would send the next signal at once,
	// skipping the step; a stop straight to SIGKILL is signals = []. A
	// graceful stop that needs over an hour is stuck.
	rangeStopWait = durRange{min: time.Nanosecond, max: time.Hour}
	// stop.kill_wait: 100ms..10m, the wait for the exit after SIGKILL.
	// Shorter gives up on a process merely slow to be reaped on a busy
	// host; a process still there after 10 minutes sleeps uninterruptibly
	// and the stop must say so.
	rangeKillWait = durRange{min: 100 * time.Millisecond, max: 10 * time.Minute}
	// health.interval: 100ms..1h. Each scan dumps the CLOSE_WAIT sockets
	// and counts fds; at 1ns the scan loop burnt 82% of a core. Beyond an
	// hour a leak has long exhausted its process.
	rangeHealthInterval = durRange{min: 100 * time.Millisecond, max: time.Hour}
	// health.close_wait.threshold: 1..1000000 persistent sockets; a
	// million is beyond the sockets of any one process.
	rangeThreshold = numRange{min: 1, max: 1000000}
	// health.close_wait.persist, health.fds.persist: 1..100 consecutive
	// scans. A verdict that needs more than 100 of them comes too late
	// (over 3 minutes at the default interval, over 4 days at 1h).
	rangePersist = numRange{min: 1, max: 100}
	// health.fds.max_ratio: 0..1 of the soft RLIMIT_NOFILE, 0 = off. A
	// process cannot hold more than its limit.
	rangeMaxRatio = floatRange{min: 0, max: 1, zero: "off"}
	// health.fds.max_open: 0..2^30 fds, 0 = off; rlimit_nofile's ceiling.
	rangeMaxOpen = numRange{min: 0, max: 1 << 30, zero: "off"}
	// health.before_restart.timeout: 100ms..1h. Shorter kills a hook
	// before it could fork; the restart waits for the hook, and a leaking
	// child should not wait an hour.
	rangeHookTimeout = durRange{min: 100 * time.Millisecond, max: time.Hour}
	// health.veto_cooldown: 0..24h, 0 = VetoIntervals intervals (the
	// default). After a veto the hook is not asked again for that long;
	// a day of vetoes is an operator's decision, not a cooldown.
	rangeVetoCooldown = durRange{min: 0, max: 24 * time.Hour}
	// ready.timeout: 10ms..1m for one probe; ready.interval: 50ms..1m
	// between probes (a probe every few ms is load, not a probe).
	rangeReadyTimeout  = durRange{min: 10 * time.Millisecond, max: time.Minute}
	rangeReadyInterval = durRange{min: 50 * time.Millisecond, max: time.Minute}
	// start_timeout: 1s..1h to become ready; then the start has failed.
	rangeStartTimeout = durRange{min: time.Second, max: time.Hour}
	// liveness.failures: 0..100 probes failing in a row, 0 = off.
	rangeLivenessFailures = numRange{min: 0, max: 100, zero: "off"}
	// liveness.interval: 1s..1h between the probes of a running child.
	// It asks whether the child still answers, not whether it has come
	// up: more often than every second is load on the child (every probe
	// is a request in its access log); a child that hangs for an hour
	// unnoticed is not watched.
	rangeLivenessInterval = durRange{min: time.Second, max: time.Hour}
	// stdout/stderr file: max_size 1MB..1TB, keep 0..100 rotated files.
	rangeOutputMaxSize = numRange{min: 1 << 20, max: 1 << 40, unit: fmtSize}
	rangeOutputKeep    = numRange{min: 1, max: 100} // 0 would delete each rotated file at once
)

// DefaultChild returns a ChildSpec holding every built-in default and no
// name or command: what a [[child]] gets when neither it nor [defaults]
// sets a key.
func DefaultChild() ChildSpec {
	c := builtinChild
	c.Stop.Steps = append([]StopStep(nil), c.Stop.Steps...)
	return c
}
