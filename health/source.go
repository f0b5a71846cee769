//go:build linux

package health

import (
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/resreap/resreap/health/bpf"
)

// Where the CLOSE_WAIT sockets come from, as ScannerOptions.Source says.
//
// The dump (a sock_diag dump filtered to CLOSE_WAIT, or /proc/net/tcp)
// walks every socket of the host at each tick, whatever the filter: 44 ms
// of CPU at 100k sockets. The event source (ReaderBPF) is told of each
// change instead: a BPF program on the inet_sock_set_state tracepoint
// keeps the sockets in CLOSE_WAIT in a map (health/bpf), and a tick reads
// that map, so its cost follows the CLOSE_WAIT sockets and not the host's.
// It hands the Scanner the same socket records as a dump, so the judgement
// is the same; the dump stays as the truth it is checked against
// (eventsync.go).
const (
	SourceAuto = "auto" // the event source when it loads, else the dump
	SourceBPF  = "bpf"  // the event source, or an error
	SourceDump = "dump" // the dump alone (the Reader option picks which)
)

// ReaderBPF names the event source among the readers (Scanner.Reader,
// SourceInfo.Name, NewReader's kinds).
const ReaderBPF = "bpf"

// EventOptions tune the event source. The zero value is what resreap
// runs with.
type EventOptions struct {
	// MapSize is the number of sockets the map holds host-wide; 0 means
	// bpf.DefaultMapSize. Tests make it small to make it overflow.
	MapSize int
	// CrossCheck is how often each network namespace's map entries are
	// compared with a dump; 0 means DefaultCrossCheck, < 0 never.
	CrossCheck time.Duration
}

// DefaultCrossCheck is how often the event source compares its map with a
// dump, per network namespace: one dump a minute costs 0.07 % of a core at
// 100k sockets, and a disagreement (there should be none) is found within
// a minute.
const DefaultCrossCheck = time.Minute

// SourceInfo says where a Scanner's CLOSE_WAIT sockets come from.
type SourceInfo struct {
	// Name is ReaderBPF, ReaderNetlink or ReaderProc.
	Name string
	// Why says why: the reason the event source is not used when Name
	// is a dump (with the verifier's words when it refused the program),
	// or how the event source is set up.
	Why string
	// Events counts the event source's work; zero for a dump.
	Events EventStats
}

// EventStats counts what the event source did since it was loaded.
type EventStats struct {
	MapReads int // reads of the map (one per Scan)
	// Dumps counts the dumps it made: Syncs, CrossChecks and InodeDumps.
	Dumps int
	// Syncs counts dumps merged into the map: the first Scan of a
	// network namespace (sockets in CLOSE_WAIT before the program ran),
	// and every Scan after the map overflowed until it holds a
	// namespace's sockets again; the dump answers those Scans.
	Syncs int
	// Overflow is the kernel's count of sockets the program could not add
	// because the map was full; OverflowEpisodes counts the times it grew
	// from a Scan to the next.
	Overflow         uint64
	OverflowEpisodes int
	// CrossChecks counts the comparisons with a dump; Missed the sockets
	// a dump had in CLOSE_WAIT that the map lacked (added to it), Stale
	// the map's entries a dump no longer had (removed). Both should stay 0.
	CrossChecks   int
	Missed, Stale int
	// InodeLookups counts sockets whose inode was asked of the kernel
	// one by one (in an accept queue when they entered CLOSE_WAIT);
	// InodeDumps the dumps made instead when there were many.
	InodeLookups, InodeDumps int
}

// openSource opens the reader the options ask for and says why.
func openSource(opts ScannerOptions, root string) (SocketReader, SourceInfo, error) {
	src := opts.Source
	if src == "" {
		src = SourceAuto
	}
	switch src {
	case SourceAuto, SourceBPF, SourceDump:
	default:
		return nil, SourceInfo{}, fmt.Errorf("%w: unknown source %q (want auto, bpf or dump)", ErrReader, src)
	}
	dump, err := NewReader(opts.Reader, root, opts.Log)
	if err != nil {
		return nil, SourceInfo{}, err
	}
	if src == SourceDump {
		why := opts.SourceWhy
		if why == "" {
			why = "health.source is dump"
		}
		return dump, SourceInfo{Name: dump.Name(), Why: why}, nil
	}
	diag, ok := dump.(*diagReader)
	if !ok {
		why := "the event source needs sock_diag (netlink) to merge its map with a dump, and the socket reader is " + dump.Name()
		if src == SourceBPF {
			dump.Close()
			return nil, SourceInfo{}, fmt.Errorf("%w: bpf: %s", ErrReader, why)
		}
		return dump, SourceInfo{Name: dump.Name(), Why: why}, nil
	}
	ev, err := newEventReader(diag, root, opts.Log, opts.Events)
	if err != nil {
		why := bpf.Why(err)
		if vlog := bpf.VerifierLog(err); vlog != "" {
			opts.Log.Warn().Str("verifier", vlog).Msg("the kernel refused the CLOSE_WAIT event program")
		}
		if src == SourceBPF {
			dump.Close()
			return nil, SourceInfo{}, fmt.Errorf("%w: bpf: %s", ErrReader, why)
		}
		return dump, SourceInfo{Name: dump.Name(), Why: why}, nil
	}
	return ev, SourceInfo{Name: ReaderBPF, Why: ev.describe()}, nil
}

// newBPFReader is NewReader's ReaderBPF: the event source over a netlink
// dump, with the default options.
func newBPFReader(procRoot string, log zerolog.Logger) (SocketReader, error) {
	diag, err := newDiagReader(procRoot)
	if err != nil {
		return nil, fmt.Errorf("%w: bpf: netlink: %w", ErrReader, err)
	}
	ev, err := newEventReader(diag, procRoot, log, EventOptions{})
	if err != nil {
		diag.Close()
		return nil, fmt.Errorf("%w: bpf: %s: %w", ErrReader, bpf.Why(err), err)
	}
	return ev, nil
}
