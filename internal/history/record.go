//go:build linux

package history

import (
	"time"

	"github.com/resreap/resreap/health"
)

// Event names what happened to a child.
type Event string

// Events written to the history.
const (
	EventStart     Event = "start"     // a child was started (pid set)
	EventExit      Event = "exit"      // a child exited on its own
	EventUnhealthy Event = "unhealthy" // a health verdict (evidence set)
	EventVeto      Event = "veto"      // the before-restart hook vetoed a restart
	EventStop      Event = "stop"      // a child was stopped by resreap (signals_sent set)
	EventRestart   Event = "restart"   // a stop followed by a new start was decided
	EventFatal     Event = "fatal"     // the start limit was hit; no more restarts
	EventReload    Event = "reload"    // the configuration was reloaded
	EventOrphaned  Event = "orphaned"  // processes a previous resreap left were found and stopped
	// EventWouldRestart is a verdict resreap did not act on because it was
	// told not to (--dry-run, or the check's mode = "observe"): recorded
	// once per process and reason.
	EventWouldRestart Event = "would_restart"
	// EventDeferred is a health restart held back by its group's restart
	// budget (max_unavailable): the child stays up and is judged again at
	// each scan. Recorded once per process and reason.
	EventDeferred Event = "deferred"
	// EventCorrelated is most members of a group found unhealthy at once
	// with the same dominant foreign endpoint: probably that upstream, not
	// the processes. Child is empty; Group, Endpoint and Members say it.
	EventCorrelated Event = "correlated"
	// EventOrder is a step of a fleet's rolling restart order on this
	// host: a member's restart begun for it, done, or failed. Fleet says
	// which order.
	EventOrder Event = "order"
	// EventFleet is a change of this host's link with the fleet: etcd
	// unreachable (and what fleet groups do meanwhile), or back. Recorded
	// once per change.
	EventFleet Event = "fleet"
)

// Reason says why the event happened.
type Reason string

// Reasons an event can carry.
const (
	ReasonExited       Reason = "exited"
	ReasonCloseWait    Reason = Reason(health.ReasonCloseWait)
	ReasonFDExhaustion Reason = Reason(health.ReasonFDExhaustion)
	ReasonManual       Reason = "manual"
	ReasonReload       Reason = "reload"
	ReasonShutdown     Reason = "shutdown"
	ReasonStartFailed  Reason = "start_failed"
	ReasonRecovery     Reason = "recovery" // a new resreap found the processes of one that died
	ReasonLiveness     Reason = Reason(health.ReasonLiveness)
	ReasonNotReady     Reason = "not_ready" // not ready within start_timeout: a failed start
	ReasonOrder        Reason = "order"     // a fleet's rolling restart order (resreap fleet restart)
	// ReasonRejected is a reload refused: the file is invalid, or has a
	// path resreap must not write; the children keep the configuration
	// they had. The message has every problem as file:line.
	ReasonRejected Reason = "rejected"
)

// RestartReasons lists the reasons a restart can have (the reason the
// process before ended, or its start failed), for counters that start
// at 0 for each.
func RestartReasons() []Reason {
	return []Reason{ReasonExited, ReasonStartFailed, ReasonNotReady, ReasonCloseWait, ReasonFDExhaustion,
		ReasonLiveness, ReasonManual, ReasonReload}
}

// Proc is a process named in a record: one left by a previous resreap,
// or by a process that exited.
type Proc struct {
	PID     int      `json:"pid"`
	Command string   `json:"command"`
	Uptime  Duration `json:"uptime"` // how long it had been running
}

// OutputTail is the end of what a process wrote, on a record of a start
// that failed: its own words for why (nginx's "[emerg] unexpected "}" in
// nginx.conf:4"), where an exit code says nothing.
type OutputTail struct {
	// Lines are the last lines of its stdout and stderr, oldest first,
	// as written: at most 10 lines and 2 KiB (a longer line is cut, and
	// ends in "…"). They are the child's bytes: escape them for a
	// terminal.
	Lines []string `json:"lines"`
	// FullOutput says where all of it is: the output file, or
	// "resreap's own output" for inherit ("stdout: FILE; stderr:
	// resreap's own output" when the two streams differ).
	FullOutput string `json:"full_output"`
}

// SignalSent is one step of a stop escalation.
type SignalSent struct {
	Signal string    `json:"signal"` // "TERM", "KILL", ...
	Time   time.Time `json:"time"`
}

// Record is one line of the history file. Fields that do not apply to an
// event are left at their zero value and omitted from the JSON.
type Record struct {
	Time    time.Time `json:"time"` // UTC, written with millisecond precision
	Child   string    `json:"child"`
	PID     int       `json:"pid,omitempty"`
	Event   Event     `json:"event"`
	Reason  Reason    `json:"reason,omitempty"`
	Message string    `json:"message,omitempty"` // e.g. the start error, the hook's verdict

	// How the process ended (exit, stop): exactly one of ExitCode and Signal.
	ExitCode *int   `json:"exit_code,omitempty"`
	Signal   string `json:"signal,omitempty"` // the signal that killed it ("KILL")

	Uptime       Duration     `json:"uptime,omitempty"`
	SignalsSent  []SignalSent `json:"signals_sent,omitempty"`
	Killed       bool         `json:"killed,omitempty"` // the stop escalated to SIGKILL
	StopDuration Duration     `json:"stop_duration,omitempty"`
	Backoff      Duration     `json:"backoff,omitempty"`  // delay before the next start
	Restarts     int          `json:"restarts,omitempty"` // restarts of this child so far

	Evidence *health.Evidence `json:"evidence,omitempty"`
	// OutputTail is the end of the process's output, on the records of a
	// failed start: the exit within start_seconds (reason start_failed),
	// the restart of one never ready (not_ready).
	OutputTail *OutputTail `json:"output_tail,omitempty"`
	// Processes lists what an orphaned record found, and on an exit
	// record the processes the exited one left in its cgroup, killed
	// with it.
	Processes []Proc `json:"processes,omitempty"`
	// Capture is the directory where the state of the process was saved
	// before a health stop (capture = true).
	Capture string `json:"capture,omitempty"`

	// Group is the [[group]] of a deferred or correlated record; Endpoint
	// and Members the shared foreign endpoint and the members found
	// leaking to it (correlated).
	Group    string   `json:"group,omitempty"`
	Endpoint string   `json:"endpoint,omitempty"`
	Members  []string `json:"members,omitempty"`

	// Fleet is the fleet context of a record of a fleet group (deferred,
	// correlated, order, fleet, and the unhealthy record of a restart
	// the fleet admitted); nil for the others.
	Fleet *Fleet `json:"fleet,omitempty"`
}

// Fleet is what the fleet had to do with a record.
type Fleet struct {
	Host string `json:"host"` // this resreap's [fleet] host
	// Holders are who held the group's slots when a restart was
	// deferred: "web-2/fe.1 since 15:04:05".
	Holders []string `json:"holders,omitempty"`
	Slots   int      `json:"slots,omitempty"` // the group's fleet budget then
	// Hosts are the hosts whose members agreed on a correlated
	// endpoint; Members there are host/child.
	Hosts []string `json:"hosts,omitempty"`
	Order string   `json:"order,omitempty"` // the order's id
	// Fallback says what a fleet member's restart went by while etcd
	// was unreachable: "local" (the local budget) or "hold" (deferred).
	Fallback string `json:"fallback,omitempty"`
}

// Duration is a time.Duration that JSON writes as seconds, a number
// ("uptime":5.240065511): what jq, log shippers and every JSON consumer
// compare and add without parsing Go's duration text. Files written
// before hold that text ("5.240065511s"); it is read as before
// (UnmarshalJSON). The zero value is no duration, omitted from a record.
//
// The evidence keeps health.Duration, text: it is also the before-restart
// hook's RESREAP_EVIDENCE, whose format hooks already parse.
type Duration time.Duration

// String formats d as Go duration text ("1.503s").
func (d Duration) String() string { return time.Duration(d).String() }

// Text formats d for a log line or a command's answer, as
// health.Duration.Text does: "800µs", "32ms", "1.2s", "12s", "1m5s".
func (d Duration) Text() string { return health.Duration(d).Text() }
