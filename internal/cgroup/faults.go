//go:build linux

package cgroup

import (
	"context"
	"sync"
)

// The helpers of a stop that can fail while the stop goes on without them,
// as Fault.Helper names them.
const (
	HelperFreeze = "freeze" // cgroup.freeze: freezing or thawing the tree around a signal
	HelperWatch  = "watch"  // inotify on cgroup.events (EMFILE once the user's instances are used up)
	HelperEvents = "events" // reading cgroup.events
	HelperProcs  = "procs"  // reading cgroup.procs
	HelperSignal = "signal" // one process: pidfd_open, /proc/<pid>/cgroup, pidfd_send_signal, kill(2)
	HelperKill   = "kill"   // writing cgroup.kill
)

// Helpers lists every helper name, for a metric that shows each from 0.
func Helpers() []string {
	return []string{HelperFreeze, HelperWatch, HelperEvents, HelperProcs, HelperSignal, HelperKill}
}

// Fault is a helper that failed while the operation it served went on
// without it: a signal sent without the freeze, a wait that polled
// cgroup.events instead of watching it.
type Fault struct {
	Helper string // one of the Helper constants
	Err    error  // the first failure of this helper
	Times  int    // how often it failed
}

func (f Fault) Error() string { return f.Helper + ": " + f.Err.Error() }

func (f Fault) Unwrap() error { return f.Err }

// Faults collects the faults of one operation, such as a child's stop,
// that goes through many signals and waits: one Fault per helper, so the
// operation can say once what it went on without, however often it
// retried. It is safe for concurrent use; the zero value is empty, and a
// nil *Faults drops what it is given. Hand it to Signal and WaitEmpty
// with WithFaults.
type Faults struct {
	mu   sync.Mutex
	list []Fault
}

// Add records that helper failed with err.
func (fs *Faults) Add(helper string, err error) {
	if fs == nil || err == nil {
		return
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for i := range fs.list {
		if fs.list[i].Helper == helper {
			fs.list[i].Times++
			return
		}
	}
	fs.list = append(fs.list, Fault{Helper: helper, Err: err, Times: 1})
}

// List returns one Fault per helper that failed, in the order of their
// first failure; nil when none did.
func (fs *Faults) List() []Fault {
	if fs == nil {
		return nil
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return append([]Fault(nil), fs.list...)
}

type faultsKey struct{}

// WithFaults returns a context that makes Signal, SignalCont and
// WaitEmpty record in fs the helpers they went on without, the way
// net/http/httptrace hands a trace down through a context: their results
// stay those of an operation that worked, and the caller still learns
// that it was degraded.
func WithFaults(ctx context.Context, fs *Faults) context.Context {
	return context.WithValue(ctx, faultsKey{}, fs)
}

// ContextFaults returns the Faults of ctx (see WithFaults), nil when it
// has none: a caller that works around a helper itself records it there.
func ContextFaults(ctx context.Context) *Faults {
	fs, _ := ctx.Value(faultsKey{}).(*Faults)
	return fs
}

// note records a fault in the Faults of ctx, if it has one.
func note(ctx context.Context, helper string, err error) {
	ContextFaults(ctx).Add(helper, err)
}
