//go:build linux

package supervisor

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/history"
	"github.com/resreap/resreap/internal/testchild"
)

// Without [fleet], a group's health restarts go by the local budget and
// nothing of the fleet is started: no link, no agent (the agent here
// would leave a file behind), and no goroutine outlives Run.
func TestNoFleetStartsNothing(t *testing.T) {
	addr := testchild.ClosingListener(t, "127.0.0.1:0")
	before := goleak.IgnoreCurrent() // the listener's, and those of tests before
	marker := filepath.Join(t.TempDir(), "agent-ran")
	var specs []config.ChildSpec
	var members []string
	for i := range 2 {
		s := leakerSpec("fe."+strconv.Itoa(i), addr, 5)
		specs = append(specs, s)
		members = append(members, s.Name)
	}
	cfg := &config.Config{Path: "test.toml", Supervisor: config.Supervisor{HealthReader: "auto"}, Children: specs,
		Groups: []config.GroupSpec{{Name: "fe", Members: members, MaxUnavailable: 1, FleetMaxUnavailable: 1}}}
	h := startConfig(t, cfg, Options{FleetAgent: []string{"/bin/sh", "-c", "touch " + marker}})
	recs := h.hist.waitFor(t, 60*time.Second, "a restart of each member", func(r []history.Record) bool {
		return count(r, "fe.0", history.EventRestart) > 0 && count(r, "fe.1", history.EventRestart) > 0
	})
	h.sup.mu.Lock()
	l := h.sup.fleet
	h.sup.mu.Unlock()
	if l != nil {
		t.Error("a fleet link without [fleet]")
	}
	for _, r := range recs {
		if r.Fleet != nil || r.Event == history.EventFleet {
			t.Errorf("a record with fleet context without [fleet]: %+v", r)
		}
	}
	h.stop()
	if _, err := os.Stat(marker); err == nil {
		t.Error("the fleet agent was started without [fleet]")
	}
	goleak.VerifyNone(t,
		before,
		goleak.IgnoreTopFunction("github.com/resreap/resreap/supervisor.(*Reaper).forkLoop"),
		goleak.IgnoreTopFunction("github.com/resreap/resreap/supervisor.(*Reaper).reapLoop"),
		goleak.IgnoreTopFunction("os/signal.signal_recv"),
		goleak.IgnoreAnyFunction("os/signal.loop"))
}
