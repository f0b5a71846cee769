//go:build linux

package harness

import (
	"context"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/health"
)

// SourceTick is the CPU of one health tick with each CLOSE_WAIT source at
// one socket table size (MeasureSourceTicks).
type SourceTick struct {
	Target, Sockets, CloseWait int // asked for; in the table when measured
	Ticks                      int // per source, over all rounds
	// BPF and Dump are the median over rounds of the CPU per tick of the
	// event source and of the netlink dump (filtered to CLOSE_WAIT, as
	// resreap ticks without BPF); CrossCheck is the dump's cost spread
	// over a minute of 1 s ticks, what the event source's cross-check
	// adds per tick.
	BPF, Dump, CrossCheck time.Duration
	Err                   string
}

// MeasureSourceTicks times Scans of one target (this process: its
// CLOSE_WAIT sockets are none of the load's, so every tick reads the
// sockets and attributes none, with the fd check off) with the event
// source and with the netlink dump, in rounds that alternate them, ticks
// per source in all. The CPU is this process's (getrusage): the kernel's
// work for the dump and the map reads counts, as in resreap.
func MeasureSourceTicks(ticks, rounds int) (SourceTick, error) {
	var res SourceTick
	ev, err := health.NewScanner(health.ScannerOptions{Source: health.SourceBPF})
	if err != nil {
		return res, err
	}
	defer ev.Close()
	dump, err := health.NewScanner(health.ScannerOptions{Source: health.SourceDump, Reader: health.ReaderNetlink})
	if err != nil {
		return res, err
	}
	defer dump.Close()
	pol := health.DefaultPolicy()
	pol.FDs.Disabled = true
	tg := []health.Target{{Name: "bench", PID: os.Getpid(), Policy: pol, Interval: time.Second}}
	// Warm up: the event source's first tick merges a dump into its map.
	for range 3 {
		ev.Scan(tg)
		dump.Scan(tg)
	}
	per := max(ticks/rounds, 1)
	var bpfs, dumps []time.Duration
	for range rounds {
		bpfs = append(bpfs, cpuPer(per, func() { ev.Scan(tg) }))
		dumps = append(dumps, cpuPer(per, func() { dump.Scan(tg) }))
	}
	res.Ticks = per * rounds
	res.BPF, res.Dump = medianDur(bpfs), medianDur(dumps)
	res.CrossCheck = res.Dump / 60
	if st := ev.Source().Events; st.Dumps > 1 || st.Missed+st.Stale > 0 {
		return res, fmt.Errorf("event source made %d dumps, %d missed, %d stale: %+v", st.Dumps, st.Missed, st.Stale, st)
	}
	return res, nil
}

// cpuPer runs f n times and returns the process's CPU time per run.
func cpuPer(n int, f func()) time.Duration {
	before := rusageCPU()
	for range n {
		f()
	}
	return (rusageCPU() - before) / time.Duration(n)
}

func rusageCPU() time.Duration {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// medianDur is the median of ds.
func medianDur(ds []time.Duration) time.Duration {
	return time.Duration(median(millis(ds)) * float64(time.Millisecond))
}

// MeasureSourceTicksAt puts a load of each size up in turn (closeWait of
// its sockets in CLOSE_WAIT) and measures the ticks of both sources.
func MeasureSourceTicksAt(ctx context.Context, sockload string, sizes []int, closeWait, ticks, rounds int,
	logf func(string, ...any)) []SourceTick {
	var out []SourceTick
	for _, size := range sizes {
		if ctx.Err() != nil {
			break
		}
		r := SourceTick{Target: size}
		logf("sources: load of %d sockets (%d in CLOSE_WAIT)", size, closeWait)
		load, err := StartLoad(ctx, sockload, size, closeWait, false)
		if err != nil {
			r.Err = err.Error()
			out = append(out, r)
			logf("  %v", err)
			continue
		}
		r.Sockets, r.CloseWait, _ = CountSockets()
		m, err := MeasureSourceTicks(ticks, rounds)
		load.Stop()
		m.Target, m.Sockets, m.CloseWait = r.Target, r.Sockets, r.CloseWait
		if err != nil {
			m.Err = err.Error()
		}
		logf("  %d sockets, %d in CLOSE_WAIT: bpf %s, dump %s per tick (%d ticks each)%s",
			m.Sockets, m.CloseWait, m.BPF, m.Dump, m.Ticks, errSuffix(m.Err))
		out = append(out, m)
	}
	return out
}

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return "; " + e
}
