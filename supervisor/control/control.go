//go:build linux

package control

import (
	"context"
	"syscall"
	"time"

	"github.com/resreap/resreap/internal/history"
)

// Handler is what the supervisor exposes over the socket. The server calls
// it from one goroutine per connection, so its methods must be safe for
// concurrent use, and a slow call (a Stop waiting for an escalation) must
// not hold up the others.
type Handler interface {
	// Status reports resreap and every child. It must never block on a
	// child that is being stopped or started: it is what an operator runs
	// to find out why something else is slow.
	Status() (Supervisor, []ChildStatus)
	// Start starts a stopped child and waits up to wait for it to run (or
	// fail to start), and reports its status then.
	Start(ctx context.Context, child string, wait time.Duration) (ChildStatus, error)
	// Stop stops a child through its escalation chain and returns only
	// when the child has been reaped.
	Stop(ctx context.Context, child string) (StopReport, error)
	// Restart stops a child through its escalation chain, then starts it
	// and waits up to wait for it to run; the report names the new process.
	Restart(ctx context.Context, child string, wait time.Duration) (StopReport, error)
	// Reload re-reads the configuration and applies the difference. On an
	// invalid configuration it changes nothing and returns the error.
	Reload(ctx context.Context) (ReloadReport, error)
	// Signal sends sig to the child: every process of it, or with
	// mainOnly its main process alone. A child busy with a stop answers
	// when the stop is over; ctx bounds that wait, as for the other
	// commands.
	Signal(ctx context.Context, child string, sig syscall.Signal, mainOnly bool) error
}

// Waits of start and restart.
const (
	DefaultWait = 30 * time.Second
	MaxWait     = 10 * time.Minute
)

// Response codes: the exit status the command line uses for a response.
const (
	CodeOK      = 0 // the command succeeded
	CodeFailure = 1 // a runtime failure: the child failed to start, the stop failed, ...
	CodeUsage   = 2 // the request was wrong: unknown command, child or signal
)

// Commands a Request can carry.
const (
	CmdStatus  = "status"
	CmdStart   = "start"
	CmdStop    = "stop"
	CmdRestart = "restart"
	CmdReload  = "reload"
	CmdSignal  = "signal"
)

// Request is the one JSON line a client sends. Child is required by every
// command but status and reload; Signal only by signal.
type Request struct {
	Cmd    string `json:"cmd"`
	Child  string `json:"child,omitempty"`
	Signal string `json:"signal,omitempty"` // "HUP", "SIGHUP", "hup"
	Main   bool   `json:"main,omitempty"`   // signal: the main process only
	// Wait bounds how long start and restart wait for the child to run;
	// 0 means DefaultWait, and MaxWait caps it.
	Wait history.Duration `json:"wait,omitempty"`
}

// Response is the one JSON line the server answers with. When OK is false,
// Error says why and Code is CodeFailure or CodeUsage; otherwise the field
// of the command is set: Status for status and start (one entry), Stop for
// stop and restart, Reload for reload, none for signal.
type Response struct {
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
	Code  int    `json:"code,omitempty"`

	// Status is omitted only when absent: an empty supervisor answers
	// "status":[] so that scripts can iterate without a null check.
	Status     []ChildStatus `json:"status,omitzero"`
	Supervisor *Supervisor   `json:"supervisor,omitempty"` // status

	Stop   *StopReport   `json:"stop,omitempty"`
	Reload *ReloadReport `json:"reload,omitempty"`
}

// ChildStatus is one child as the supervisor sees it. Its JSON field
// names are the stable interface for scripts and alerts (resreap status
// --json); fields are only ever added. Figures of a process (pid,
// started, uptime, close_wait, fds, cgroup) are present only while it
// lives: a stopped child shows none rather than stale ones.
type ChildStatus struct {
	Name string `json:"name"`
	// State is "stopped", "starting", "running", "backoff", "stopping",
	// "exited" or "fatal"; Since when the child is in it, StateFor how
	// long that has been.
	State string `json:"state"`
	// WaitingFor names the dependency a stopped child waits for before
	// its first start, or the old generation a child in backoff waits to
	// exit before its next start.
	WaitingFor string           `json:"waiting_for,omitempty"`
	Since      time.Time        `json:"since,omitzero"`
	StateFor   history.Duration `json:"state_for"`
	// Up is true for a child that is as it should be: running and ready,
	// or exited cleanly as its restart policy allows. A child stopped by
	// an operator is not up. The exit code of resreap status follows it,
	// as resreap_child_up and /readyz do.
	Up bool `json:"up"`
	// Ready is true while the child is running and, with a ready probe,
	// its last probe passed (a liveness probe that fails makes it false
	// until one passes).
	Ready   bool             `json:"ready"`
	PID     int              `json:"pid,omitempty"`
	Started time.Time        `json:"started,omitzero"` // when the process started
	Uptime  history.Duration `json:"uptime,omitempty"` // how long the process has run
	// Restarts counts the start attempts after the first of each run of
	// resreap, whatever caused them: this run's, on top of those the
	// history holds of earlier runs; history --summary counts the same.
	Restarts   int    `json:"restarts"`
	LastReason string `json:"last_reason,omitempty"` // why it last stopped or restarted
	LastExit   string `json:"last_exit,omitempty"`   // how the last process ended: "exit 3", "signal KILL"
	// OutputTail is the end of what the process of the last start wrote,
	// when that start failed: its last lines, and where all of its
	// output is. Absent once the child runs.
	OutputTail *history.OutputTail `json:"output_tail,omitempty"`
	// CloseWait, FDs and ScannedAt are the last health scan of the live
	// process; absent before the first.
	CloseWait *CloseWait `json:"close_wait,omitempty"`
	FDs       *FDs       `json:"fds,omitempty"`
	ScannedAt time.Time  `json:"scanned_at,omitzero"`
	Cgroup    *Cgroup    `json:"cgroup,omitempty"`
}

// CloseWait is the CLOSE_WAIT sockets of a child at its last scan: Now is
// every one it holds (-1 when that is not known without reading fd tables:
// process-group ownership), Persistent those that count for the verdict.
type CloseWait struct {
	Now        int `json:"now"`
	Persistent int `json:"persistent"`
}

// FDs is the process of a child closest to its RLIMIT_NOFILE: open fds and
// the soft limit (0 = unlimited).
type FDs struct {
	PID   int    `json:"pid"`
	Open  int    `json:"open"`
	Limit uint64 `json:"limit"`
}

// Cgroup is the child's cgroup and what it uses, read at status time.
// Memory and pids are there only where those controllers are enabled.
type Cgroup struct {
	Path   string           `json:"path"`
	CPU    history.Duration `json:"cpu"` // user + system, all processes ever in it
	Memory *uint64          `json:"memory_bytes,omitempty"`
	Pids   *uint64          `json:"pids,omitempty"`
}

// Supervisor is what resreap says about itself in a status.
type Supervisor struct {
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
	// Ownership is "cgroup" or "process group"; OwnershipDetail the
	// cgroup subtree, or why there is none.
	Ownership       string `json:"ownership"`
	OwnershipDetail string `json:"ownership_detail"`
	// CgroupMissing says which controllers the children's cgroups lack,
	// why (bound to cgroup v1 on a hybrid host, say) and what is lost:
	// memory figures, memory_max, pids_max.
	CgroupMissing string `json:"cgroup_missing,omitempty"`
	DryRun        bool   `json:"dry_run,omitempty"`
	Children      int    `json:"children"`
	Up            int    `json:"up"`
	OutputLost    int64  `json:"output_lines_lost,omitempty"`
	// HistoryDropped counts the events that will never be recorded,
	// HistoryFailed the writes to the history that failed (their events
	// stay queued and are retried; the name is older than the retry), and
	// HistoryPending the events waiting for the history now.
	HistoryDropped int64 `json:"history_events_dropped,omitempty"`
	HistoryFailed  int64 `json:"history_events_failed,omitempty"`
	HistoryPending int   `json:"history_events_pending,omitempty"`
	// HealthSource is where the health scan's CLOSE_WAIT sockets come
	// from: "bpf" (the kernel's state changes, kept in a BPF map),
	// "netlink" or "proc" (a dump at each tick); HealthSourceWhy says why
	// (the reason BPF is not used, say). Empty before the scan is set up.
	HealthSource    string `json:"health_source,omitempty"`
	HealthSourceWhy string `json:"health_source_why,omitempty"`
	// Starting: resreap has not added its children yet (it is taking its
	// cgroups and recovering what an earlier run left); Children counts
	// none of them until then.
	Starting bool `json:"starting,omitempty"`
}

// StopReport says how a stop went. Exactly one of ExitCode and Signal is
// set when the child was running; PID is 0 when it was not.
type StopReport struct {
	Child       string               `json:"child"`
	PID         int                  `json:"pid"`
	ExitCode    *int                 `json:"exit_code,omitempty"`
	Signal      string               `json:"signal,omitempty"` // the signal that ended it: "TERM", "KILL"
	SignalsSent []history.SignalSent `json:"signals_sent"`
	Killed      bool                 `json:"killed"` // SIGKILL ended it
	Duration    history.Duration     `json:"duration"`
	// Started is the new process of a restart.
	Started *ChildStatus `json:"started,omitempty"`
}

// ReloadReport names the children a reload touched (see
// supervisor.ReloadReport). A nil list means none.
type ReloadReport struct {
	Started   []string            `json:"started"`
	Stopped   []string            `json:"stopped"`
	Restarted []string            `json:"restarted"`
	Updated   []string            `json:"updated"`
	Unchanged []string            `json:"unchanged"`
	Changes   map[string][]string `json:"changes,omitempty"` // the keys that changed, by child
}
