//go:build linux

package health

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"time"
)

// Reason says why a target was judged unhealthy.
type Reason string

// Reasons a health verdict can carry.
const (
	ReasonCloseWait    Reason = "close_wait"
	ReasonFDExhaustion Reason = "fd_exhaustion"
	// ReasonLiveness is a child whose ready probe kept failing once it ran
	// (the supervisor's liveness check, not a scan's).
	ReasonLiveness Reason = "liveness"
)

// Tuple is a TCP 4-tuple as seen from the owning process.
type Tuple struct {
	Local  netip.AddrPort `json:"local"`
	Remote netip.AddrPort `json:"remote"`
}

// String formats the tuple as "local -> remote".
func (t Tuple) String() string { return t.Local.String() + " -> " + t.Remote.String() }

// SocketSample is one persistent CLOSE_WAIT socket named in the evidence.
type SocketSample struct {
	// PID is the process holding the socket, as an fd table walk found
	// it; 0 (left out of the JSON) when the socket was matched by the
	// cgroup id the kernel reports with it, which reads no fd table.
	PID   int    `json:"pid,omitempty"`
	Inode uint64 `json:"inode"`
	Tuple Tuple  `json:"tuple"`
	// Age is how long the socket has been in CLOSE_WAIT, as far as the
	// scans tell: from the first scan that saw it.
	Age Duration `json:"age"`
}

// FDUsage is the file-descriptor figure of the worst process of a target.
type FDUsage struct {
	PID   int    `json:"pid"`
	Open  int    `json:"open"`
	Limit uint64 `json:"limit"` // soft RLIMIT_NOFILE; 0 = unlimited or unknown
	// SlopePerMin is the growth of Open in fds per minute over the recent
	// scans; 0 when fewer than two scans are known.
	SlopePerMin float64 `json:"slope_per_min"`
	// Prediction is set when the verdict is a prediction (fds.predict):
	// the fit, when it reaches the limit, and the counts it rests on.
	Prediction *Prediction `json:"prediction,omitempty"`
}

// Evidence is what a health verdict rests on. It is logged with the
// verdict, handed to the before-restart hook as JSON and stored in the
// restart history. The zero value means "no evidence" (a manual restart).
type Evidence struct {
	Reason Reason `json:"reason"`
	// CloseWait is the number of persistent CLOSE_WAIT sockets owned by the
	// target; Threshold the configured number that makes it unhealthy.
	CloseWait int `json:"close_wait"`
	Threshold int `json:"threshold,omitempty"`
	// Samples holds up to MaxSamples of the persistent sockets.
	Samples []SocketSample `json:"samples,omitempty"`
	// ByForeign counts the persistent sockets by foreign endpoint ("ip:port").
	ByForeign map[string]int `json:"by_foreign,omitempty"`
	// FDs is the fd usage of the target's process closest to its limit.
	FDs *FDUsage `json:"fds,omitempty"`
	// Probe is the last error of the ready probe, for a liveness verdict,
	// and Failures how many probes failed in a row.
	Probe    string `json:"probe,omitempty"`
	Failures int    `json:"failures,omitempty"`
}

// MaxSamples is the number of sample sockets kept in Evidence.
const MaxSamples = 10

// Summary renders the evidence on one line for logs and tables.
func (e *Evidence) Summary() string {
	if e == nil {
		return ""
	}
	var parts []string
	if e.CloseWait > 0 {
		parts = append(parts, fmt.Sprintf("%d CLOSE_WAIT", e.CloseWait))
		type kv struct {
			k string
			v int
		}
		var top []kv
		for k, v := range e.ByForeign {
			top = append(top, kv{k, v})
		}
		sort.Slice(top, func(i, j int) bool {
			if top[i].v != top[j].v {
				return top[i].v > top[j].v
			}
			return top[i].k < top[j].k
		})
		for i, t := range top {
			if i == 3 {
				parts = append(parts, fmt.Sprintf("+%d more", len(top)-3))
				break
			}
			parts = append(parts, fmt.Sprintf("%s×%d", t.k, t.v))
		}
	}
	if e.Probe != "" {
		parts = append(parts, fmt.Sprintf("%d probes failed, last: %s", e.Failures, e.Probe))
	}
	if f := e.FDs; f != nil {
		s := fmt.Sprintf("fds %d/%d", f.Open, f.Limit)
		if f.SlopePerMin != 0 {
			s += fmt.Sprintf(" (%+.0f/min)", f.SlopePerMin)
		}
		if pr := f.Prediction; pr != nil {
			s += fmt.Sprintf(", limit reached in %s at this rate (fit of %d scans, R² %.2f)",
				time.Duration(pr.ReachesLimitIn).Round(time.Second), len(pr.Samples), pr.R2)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}
