//go:build linux

package cgroup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"
)

// freezeWait bounds the wait for "frozen 1". A task in uninterruptible
// sleep (D state: NFS, a stuck device) is frozen only when it wakes, so
// the wait could be endless; past this the signalling goes on unfrozen.
const freezeWait = 2 * time.Second

// freezer remembers what freeze did, so that thaw undoes only that.
type freezer struct {
	g      Group
	frozen bool // "frozen 1" was seen: no process of the tree runs
	thaw   bool // we wrote cgroup.freeze = 1 and must write 0
}

// freeze freezes the cgroup tree (cgroup.freeze, Linux 5.2) and waits up
// to freezeWait for cgroup.events to say "frozen 1". Without cgroup.freeze
// it returns a freezer that did nothing. A cgroup that someone else froze
// is left frozen by unfreeze. Only ctx ending is an error: a freeze that
// cannot be had (the file cannot be read or written, the wait fails) or
// does not complete in time is recorded in the Faults of ctx, and the
// caller signals unfrozen, in rounds.
func (g Group) freeze(ctx context.Context) (*freezer, error) {
	fz := &freezer{g: g}
	cur, err := os.ReadFile(g.file("cgroup.freeze"))
	if errors.Is(err, fs.ErrNotExist) {
		return fz, nil
	}
	if err != nil {
		note(ctx, HelperFreeze, fmt.Errorf("freeze cgroup: %w", err))
		return fz, nil
	}
	if strings.TrimSpace(string(cur)) != "1" {
		if err := writeFile(g.file("cgroup.freeze"), "1"); err != nil {
			note(ctx, HelperFreeze, fmt.Errorf("freeze cgroup: %w", err))
			return fz, nil
		}
		fz.thaw = true
	}
	wctx, cancel := context.WithTimeout(ctx, freezeWait)
	defer cancel()
	err = g.waitEvents(wctx, func(ev map[string]uint64) bool { return ev["frozen"] == 1 })
	switch {
	case err == nil:
		fz.frozen = true
	case ctx.Err() != nil:
		return nil, errors.Join(ctx.Err(), fz.unfreeze())
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, errGone):
		// Not frozen in time: go on, unfrozen tasks are caught by rounds.
		// Removed: there is nothing left to signal.
	default:
		note(ctx, HelperFreeze, fmt.Errorf("freeze cgroup: %w", err))
	}
	return fz, nil
}

// unfreeze thaws the cgroup if freeze froze it. Signals other than SIGKILL
// sent while frozen are delivered now.
func (fz *freezer) unfreeze() error {
	if !fz.thaw {
		return nil
	}
	fz.thaw = false
	err := writeFile(fz.g.file("cgroup.freeze"), "0")
	if errors.Is(err, fs.ErrNotExist) {
		return nil // removed meanwhile: nothing left to thaw
	}
	if err != nil {
		return fmt.Errorf("thaw cgroup: %w", err)
	}
	return nil
}
