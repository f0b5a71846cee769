//go:build linux

package supervisor

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/testchild"
)

// probeServer answers the probes of a test and notes when each came; it
// fails the first failFirst, and any while down is set.
type probeServer struct {
	mu        sync.Mutex
	at        []time.Time
	failFirst int
	down      bool
	url       string
}

func newProbeServer(t *testing.T, failFirst int) *probeServer {
	ps := &probeServer{failFirst: failFirst}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		ps.mu.Lock()
		ps.at = append(ps.at, time.Now())
		fail := len(ps.at) <= ps.failFirst || ps.down
		ps.mu.Unlock()
		if fail {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	ps.url = srv.URL + "/healthz"
	return ps
}

func (ps *probeServer) times() []time.Time {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return slices.Clone(ps.at)
}

func (ps *probeServer) setDown(down bool) {
	ps.mu.Lock()
	ps.down = down
	ps.mu.Unlock()
}

// gaps returns the time between each probe and the one before.
func gaps(at []time.Time) []time.Duration {
	var out []time.Duration
	for i := 1; i < len(at); i++ {
		out = append(out, at[i].Sub(at[i-1]))
	}
	return out
}

// Readiness is probed every ready.interval until the child is ready, then
// liveness every liveness.interval: not the readiness interval for ever
// (two requests a second in the child's access log).
func TestLivenessAtItsOwnInterval(t *testing.T) {
	ps := newProbeServer(t, 4)
	spec := helperSpec("web", "sleep")
	spec.Ready = config.ReadySpec{HTTP: ps.url, Timeout: 5 * time.Second, Interval: 50 * time.Millisecond}
	spec.StartTimeout = 5 * time.Minute
	spec.Liveness = config.LivenessSpec{Failures: 3, Interval: time.Second}
	h := startSupervisor(t, spec)
	h.waitState(t, "web", Running, 60*time.Second)

	// Four failures and the pass that made it ready, then three
	// liveness probes.
	testchild.WaitWithin(t, "three liveness probes", 60*time.Second, func() bool { return len(ps.times()) >= 8 })
	at := ps.times()
	for i, g := range gaps(at[:5]) {
		if g >= spec.Liveness.Interval {
			t.Errorf("readiness probe %d came %s after the one before, want about ready.interval (%s)", i+2, g, spec.Ready.Interval)
		}
	}
	// A ticker never fires early; half the interval leaves room for
	// one probe slower to answer than the next.
	for i, g := range gaps(at[4:]) {
		if g < spec.Liveness.Interval/2 {
			t.Errorf("liveness probe %d came %s after the one before, want about liveness.interval (%s); probes at %v", i+1, g, spec.Liveness.Interval, at)
		}
	}
	if n := len(h.hist.matching("web", history.EventRestart)); n != 0 {
		t.Errorf("%d restarts of a child whose probe passes", n)
	}
}

// A running child whose liveness probe fails is not ready, and so not up
// (nor is a required one ready for /readyz), until a probe passes again;
// fewer failures than liveness.failures restart nothing.
func TestFailingProbeMakesChildNotReady(t *testing.T) {
	ps := newProbeServer(t, 0)
	spec := helperSpec("web", "sleep")
	spec.Ready = config.ReadySpec{HTTP: ps.url, Timeout: 5 * time.Second, Interval: 50 * time.Millisecond}
	spec.StartTimeout = 5 * time.Minute
	spec.Liveness = config.LivenessSpec{Failures: 5, Interval: time.Second}
	spec.Required = true
	h := startSupervisor(t, spec)
	st := h.waitState(t, "web", Running, 60*time.Second)
	if !st.Ready || !st.Up() || len(h.sup.NotReady()) != 0 {
		t.Fatalf("running and probed fine, but ready %v up %v, not ready %v", st.Ready, st.Up(), h.sup.NotReady())
	}

	ps.setDown(true)
	testchild.WaitWithin(t, "web not ready after a failed probe", 60*time.Second, func() bool { return !statusOf(t, h, "web").Ready })
	ps.setDown(false)
	st = statusOf(t, h, "web")
	if st.State != Running || st.Up() || !slices.Equal(h.sup.NotReady(), []string{"web"}) {
		t.Errorf("with its probe failing: %s, up %v, not ready %v; want running, not up, web not ready", st.State, st.Up(), h.sup.NotReady())
	}
	testchild.WaitWithin(t, "web ready again", 60*time.Second, func() bool { return statusOf(t, h, "web").Ready })
	if now := statusOf(t, h, "web"); !now.Up() || len(h.sup.NotReady()) != 0 || now.PID != st.PID {
		t.Errorf("probe passes again: up %v, not ready %v, pid %d (was %d)", now.Up(), h.sup.NotReady(), now.PID, st.PID)
	}
	if n := len(h.hist.matching("web", history.EventRestart)); n != 0 {
		t.Errorf("%d restarts for fewer failures than liveness.failures", n)
	}
}
