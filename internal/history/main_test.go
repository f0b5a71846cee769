//go:build linux

package history

import (
	"net/netip"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/resreap/resreap/health"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fullRecord returns a record with every field set, as a health restart
// that escalated to SIGKILL would write.
func fullRecord() Record {
	t0 := time.Date(2026, 11, 25, 10, 0, 0, 123_000_000, time.UTC)
	code := 3
	return Record{
		Time:     t0,
		Child:    "fe-server",
		PID:      4242,
		Event:    EventRestart,
		Reason:   ReasonCloseWait,
		Message:  "persistent CLOSE_WAIT <nil> & more",
		ExitCode: &code,
		Signal:   "KILL",
		Uptime:   Duration(3*time.Hour + 2*time.Second),
		SignalsSent: []SignalSent{
			{Signal: "TERM", Time: t0.Add(-2 * time.Second)},
			{Signal: "KILL", Time: t0.Add(-time.Millisecond)},
		},
		Killed:       true,
		StopDuration: Duration(1503 * time.Millisecond),
		Backoff:      Duration(2 * time.Second),
		Restarts:     7,
		Evidence: &health.Evidence{
			Reason:    health.ReasonCloseWait,
			CloseWait: 12,
			Threshold: 2,
			Samples: []health.SocketSample{{PID: 4242, Inode: 99, Tuple: health.Tuple{
				Local:  netip.MustParseAddrPort("10.0.0.1:8010"),
				Remote: netip.MustParseAddrPort("10.0.0.5:8080"),
			}}},
			ByForeign: map[string]int{"10.0.0.5:8080": 12},
			FDs:       &health.FDUsage{PID: 4242, Open: 900, Limit: 1024, SlopePerMin: 12},
		},
	}
}

// rec returns a minimal record for child c, n seconds after a fixed start.
func rec(c string, ev Event, n int) Record {
	return Record{
		Time:  time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Second),
		Child: c,
		Event: ev,
		PID:   1000 + n,
	}
}
