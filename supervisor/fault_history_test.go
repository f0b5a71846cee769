//go:build linux

package supervisor

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/history"
)

// blockedSink is a history whose Append blocks until the test releases
// it, like a history file on a hung filesystem; then it records.
type blockedSink struct {
	mem      *memHistory
	entered  chan struct{} // closed at the first Append
	released chan struct{}
	enter    sync.Once
	release  sync.Once
}

func newBlockedSink() *blockedSink {
	return &blockedSink{mem: newMemHistory(), entered: make(chan struct{}), released: make(chan struct{})}
}

func (b *blockedSink) Append(r history.Record) error {
	b.enter.Do(func() { close(b.entered) })
	<-b.released
	return b.mem.Append(r)
}

func (b *blockedSink) unblock() { b.release.Do(func() { close(b.released) }) }

// Part of the fault suite (`make faults`, cmd/resreap/fault_*_test.go).
// The history blocks in Append: a restart of a real child completes all
// the same, and once the history takes records again every event arrives,
// in order.
func TestFaultIOHistorySinkBlocks(t *testing.T) {
	sink := newBlockedSink()
	cfg := &config.Config{Path: "test.toml", Supervisor: config.Supervisor{HealthReader: "auto"},
		Children: []config.ChildSpec{helperSpec("svc", "idle")}}
	h := startConfig(t, cfg, Options{History: sink})
	t.Cleanup(sink.unblock) // before the supervisor stops, whatever happens
	h.hist = sink.mem
	first := h.waitState(t, "svc", Running, 30*time.Second)
	select {
	case <-sink.entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the history was never written to")
	}

	start := time.Now()
	rep, st, err := h.sup.RestartChild(context.Background(), "svc", 30*time.Second)
	took := time.Since(start)
	if err != nil || rep == nil || st.PID == first.PID || st.State != Running {
		t.Fatalf("restart with the history blocked: %v, %+v, %+v", err, rep, st)
	}
	if n := len(sink.mem.all()); n != 0 {
		t.Fatalf("%d records got through a blocked history", n)
	}

	sink.unblock()
	recs := h.hist.waitFor(t, 30*time.Second, "the start of the new process", func(r []history.Record) bool {
		return count(r, "svc", history.EventStart) >= 2
	})
	type ev struct {
		event history.Event
		pid   int
	}
	want := []ev{{history.EventStart, first.PID}, {history.EventStop, first.PID}, {history.EventRestart, first.PID}, {history.EventStart, st.PID}}
	var have []ev
	for i, r := range recs {
		have = append(have, ev{r.Event, r.PID})
		if i > 0 && r.Time.Before(recs[i-1].Time) {
			t.Errorf("record %d (%s) is older than the one before it", i, r.Event)
		}
	}
	if len(have) != len(want) {
		t.Fatalf("records after the release:\n%s\nwant %v", dumpRecords(recs), want)
	}
	for i := range want {
		if have[i] != want[i] {
			t.Errorf("record %d: %v, want %v", i, have[i], want[i])
		}
	}
	t.Logf("history blocked: restart took %s (stop %s); after the release %d events arrived in order: %v",
		took.Round(time.Millisecond), rep.Duration.Round(time.Millisecond), len(recs), have)
}
