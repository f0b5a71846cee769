//go:build linux

package health

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// scripted is a SocketReader whose dump the test sets before each scan.
type scripted struct{ socks []Socket }

func (r *scripted) CloseWait(int) ([]Socket, error) { return r.socks, nil }
func (r *scripted) Name() string                    { return "scripted" }
func (r *scripted) Close() error                    { return nil }

// persistFixture is a Scanner over testdata/persist/proc, where pid 100
// holds sockets 1001 and 1002 and pid 200 holds none, with a clock and a
// socket dump the test drives.
type persistFixture struct {
	s      *Scanner
	reader *scripted
	now    time.Time
}

func newPersistFixture(t *testing.T) *persistFixture {
	t.Helper()
	f := &persistFixture{reader: &scripted{}, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	s, err := NewScanner(ScannerOptions{ProcRoot: "testdata/persist/proc", SocketReader: f.reader,
		Log: zerolog.Nop(), Now: func() time.Time { return f.now }})
	if err != nil {
		t.Fatal(err)
	}
	f.s = s
	return f
}

// leaked is the CLOSE_WAIT socket 1001 (or 1002) of pid 100.
func leaked(inode uint64) Socket {
	return Socket{Inode: inode, Tuple: Tuple{
		Local:  netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(40000+inode-1000)),
		Remote: netip.MustParseAddrPort("127.0.0.1:8080"),
	}}
}

// scanAt moves the clock to at (from the fixture's start) and scans the
// named targets (pid 100 is "server", pid 200 "sibling").
func (f *persistFixture) scanAt(at time.Duration, names ...string) []Result {
	f.now = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(at)
	var tg []Target
	for _, n := range names {
		pid := map[string]int{"server": 100, "sibling": 200}[n]
		pol := Policy{CloseWait: CloseWaitPolicy{Threshold: 1, Persist: 2}, FDs: FDPolicy{Disabled: true}}
		tg = append(tg, Target{Name: n, PID: pid, Policy: pol, Interval: time.Second})
	}
	return f.s.Scan(tg)
}

const ms = time.Millisecond

// A sibling's scan between two of the server's scans must not count as
// the server's: with persist 2 at 1s, a socket 0.5s old is not persistent,
// however many scans of other children saw it.
func TestPersistenceIsPerTargetAndInTime(t *testing.T) {
	f := newPersistFixture(t)
	f.scanAt(0, "server")
	f.reader.socks = []Socket{leaked(1001)} // the leak starts at 500ms
	f.scanAt(500*ms, "sibling")
	if r := f.scanAt(1000*ms, "server")[0]; r.Verdict != nil {
		t.Fatalf("1000ms: socket 500ms old judged persistent: %+v", r.Verdict)
	}
	f.scanAt(1300*ms, "sibling")
	r := f.scanAt(2000*ms, "server")[0]
	if r.Verdict == nil || r.Verdict.CloseWait != 1 {
		t.Fatalf("2000ms: in the server's scans at 1000ms and 2000ms: want a verdict, have %+v", r)
	}
	if age := time.Duration(r.Verdict.Samples[0].Age); age != 1500*ms {
		t.Errorf("age %s, want 1.5s (first seen at 500ms)", age)
	}
}

// Two scans of the target closer together than its interval do not make
// a socket persistent, even when both saw it.
func TestPersistenceNeedsTheSpan(t *testing.T) {
	f := newPersistFixture(t)
	f.reader.socks = []Socket{leaked(1001)}
	f.scanAt(0, "server")
	if r := f.scanAt(300*ms, "server")[0]; r.Verdict != nil {
		t.Fatalf("two scans 300ms apart at a 1s interval: %+v", r.Verdict)
	}
	if r := f.scanAt(1000*ms, "server")[0]; r.Verdict == nil {
		t.Fatal("scans at 0 and 1000ms saw it: want a verdict")
	}
}

// A socket missing from one dump starts over, even if a scan of another
// target made that dump.
func TestPersistenceRestartsAfterAGap(t *testing.T) {
	f := newPersistFixture(t)
	f.reader.socks = []Socket{leaked(1001)}
	f.scanAt(0, "server")
	f.reader.socks = nil
	f.scanAt(500*ms, "sibling")
	f.reader.socks = []Socket{leaked(1001)}
	if r := f.scanAt(1000*ms, "server")[0]; r.Verdict != nil {
		t.Fatalf("socket gone at 500ms counted from 0: %+v", r.Verdict)
	}
	if r := f.scanAt(2000*ms, "server")[0]; r.Verdict == nil || time.Duration(r.Verdict.Samples[0].Age) != 1000*ms {
		t.Fatalf("want a verdict with age 1s (back since 1000ms), have %+v", r.Verdict)
	}
}

// Random schedules: the server and its siblings scanned at random times,
// sockets coming and going at random. No verdict ever rests on a socket
// younger than (persist-1) x interval, and a socket that stays is caught
// once two of the server's scans have seen it.
func TestPersistenceNeverYoungerThanTheSpan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 200 {
		f := newPersistFixture(t)
		var at time.Duration
		nextServer := time.Duration(0)
		var leakFrom time.Duration = -1
		seenBy := 0 // scans of the server since the leak began
		for range 60 {
			at += time.Duration(rng.IntN(400)+1) * ms
			if rng.IntN(10) == 0 { // the leak comes or goes
				if leakFrom < 0 {
					leakFrom = at
					f.reader.socks = []Socket{leaked(1001)}
				} else {
					leakFrom = -1
					f.reader.socks = nil
				}
				seenBy = 0
			}
			if at < nextServer {
				f.scanAt(at, "sibling")
				continue
			}
			nextServer = at + time.Second // the server's own schedule
			r := f.scanAt(at, "server")[0]
			if leakFrom >= 0 {
				seenBy++
			}
			if r.Verdict == nil {
				// The server's scans are a second apart: two of them
				// that saw the socket are enough.
				if seenBy >= 2 {
					t.Fatalf("round %d at %s: leak since %s seen by %d scans of the server, no verdict", round, at, leakFrom, seenBy)
				}
				continue
			}
			if age := time.Duration(r.Verdict.Samples[0].Age); age < time.Second || at-leakFrom != age {
				t.Fatalf("round %d at %s: verdict on a socket %s old (leak since %s)", round, at, age, leakFrom)
			}
		}
	}
}

// Scans due a second apart whose timer fired late the first time (real
// times 0.004s and 1.001s) are stamped with their due times by ScanAt:
// the second one gives the verdict. Stamped with the moments they began,
// they fall short of the interval and the verdict waits for a third.
func TestScanAtStampsDueTimes(t *testing.T) {
	for _, due := range []bool{true, false} {
		f := newPersistFixture(t)
		f.reader.socks = []Socket{leaked(1001)}
		pol := Policy{CloseWait: CloseWaitPolicy{Threshold: 1, Persist: 2}, FDs: FDPolicy{Disabled: true}}
		tg := []Target{{Name: "server", PID: 100, Policy: pol, Interval: time.Second}}
		t0 := f.now
		scan := func(began, dueAt time.Duration) []Result {
			f.now = t0.Add(began)
			if due {
				return f.s.ScanAt(tg, t0.Add(dueAt))
			}
			return f.s.Scan(tg)
		}
		scan(4*ms, 0)
		r := scan(1001*ms, 1000*ms)[0]
		if due != (r.Verdict != nil) {
			t.Errorf("stamped with due times %v: verdict %+v", due, r.Verdict)
		}
		if due && time.Duration(r.Verdict.Samples[0].Age) != time.Second {
			t.Errorf("age %s, want 1s between the due times", time.Duration(r.Verdict.Samples[0].Age))
		}
	}
}

// A target scanned on and on keeps only the scan times persistence may
// still need; its verdicts are those it would reach keeping them all.
func TestScanTimesTrimmed(t *testing.T) {
	f := newPersistFixture(t)
	f.reader.socks = []Socket{leaked(1001)}
	for k := range 300 {
		r := f.scanAt(time.Duration(k)*time.Second, "server")[0]
		if (k >= 1) != (r.Verdict != nil) {
			t.Fatalf("scan %d: verdict %+v", k, r.Verdict)
		}
	}
	if n := len(f.s.targets["server"].scans); n > 3 {
		t.Errorf("%d scan times kept after 300 scans, want at most 3", n)
	}
	// Irregular scans (a restart of the schedule, a late tick) need the
	// older ones: a scan 0.4s after the last is not a span.
	r := f.scanAt(299*time.Second+400*ms, "server")[0]
	if r.Verdict == nil || time.Duration(r.Verdict.Samples[0].Age) != 299*time.Second+400*ms {
		t.Errorf("verdict %+v after a scan 0.4s later", r.Verdict)
	}
}
