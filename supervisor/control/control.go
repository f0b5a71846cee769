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
	// Status reports every child. It must never block on a child that is
	// being stopped or started: it is what an operator runs to find out why
	// something else is slow.
	Status() []ChildStatus
	// Start starts a stopped child and reports its new status.
	Start(ctx context.Context, child string) (ChildStatus, error)
	// Stop stops a child through its escalation chain and returns only
	// when the child has been reaped.
	Stop(ctx context.Context, child string) (StopReport, error)
	// Restart stops a child through its escalation chain, then starts it.
	Restart(ctx context.Context, child string) (StopReport, error)
	// Reload re-reads the configuration and applies the difference. On an
	// invalid configuration it changes nothing and returns the error.
	Reload(ctx context.Context) (ReloadReport, error)
	// Signal sends sig to the child: every process of it, or with
	// mainOnly its main process alone.
	Signal(child string, sig syscall.Signal, mainOnly bool) error
}

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
	Status []ChildStatus `json:"status,omitzero"`
	Stop   *StopReport   `json:"stop,omitempty"`
	Reload *ReloadReport `json:"reload,omitempty"`
}

// ChildStatus is one child as the supervisor sees it. PID is 0 and Since,
// Uptime are zero when the child is not running; FDLimit 0 means unlimited
// or not known.
type ChildStatus struct {
	Name       string           `json:"name"`
	State      string           `json:"state"` // "running", "backoff", ...
	PID        int              `json:"pid"`
	Since      time.Time        `json:"since,omitzero"` // when it entered State
	Uptime     history.Duration `json:"uptime"`
	Restarts   int              `json:"restarts"`
	LastReason string           `json:"last_reason"` // why it last stopped or restarted
	CloseWait  int              `json:"close_wait"`  // persistent CLOSE_WAIT sockets at the last scan
	FDs        int              `json:"fds"`         // open file descriptors at the last scan
	FDLimit    uint64           `json:"fd_limit"`    // soft RLIMIT_NOFILE
}

// StopReport says how a stop went. Exactly one of ExitCode and Signal is
// set when the child was running; PID is 0 when it was not.
type StopReport struct {
	Child       string               `json:"child"`
	PID         int                  `json:"pid"`
	ExitCode    *int                 `json:"exit_code,omitempty"`
	Signal      string               `json:"signal,omitempty"` // the signal that ended it: "TERM", "KILL"
	SignalsSent []history.SignalSent `json:"signals_sent"`
	Killed      bool                 `json:"killed"` // the escalation reached SIGKILL
	Duration    history.Duration     `json:"duration"`
}

// ReloadReport names the children a reload touched. A nil list means none.
type ReloadReport struct {
	Started   []string `json:"started"`
	Stopped   []string `json:"stopped"`
	Restarted []string `json:"restarted"`
	Unchanged []string `json:"unchanged"`
}
