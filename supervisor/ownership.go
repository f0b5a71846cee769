//go:build linux

package supervisor

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/cgroup"
	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/safefs"
)

// Ownership modes, as the log and status name them.
const (
	OwnCgroup       = "cgroup"
	OwnProcessGroup = "process group"
)

// ErrInstance is returned when another resreap already owns the cgroup
// subtree of this state directory.
var ErrInstance = errors.New("another resreap runs with this state_dir")

// owner is how the supervisor owns its children's process trees. With a
// writable cgroup2 hierarchy each child runs in a leaf cgroup of the
// instance's subtree, <own>/<instance>/child-<name>: signals reach every
// process of the tree (a setsid grandchild too), the last step of a stop
// is cgroup.kill, and a stop ends when the leaf is empty. resreap moves
// itself into the subtree's supervisor leaf, as cgroup v2 allows processes
// in leaves only once controllers are enabled. Without a hierarchy, each
// child leads a process group of its own and that is all resreap can
// reach.
type owner struct {
	mode string
	why  string // why this mode, for the log and status
	// missing says which controllers the children's cgroups lack and
	// why, for status ("" when none is missing, or without cgroups).
	missing string
	log     zerolog.Logger

	// cgroup mode only
	sub  cgroup.Subtree
	home cgroup.Group // resreap's cgroup before it moved into its leaf
	lock *os.File     // flock on the state directory: one instance per subtree

	mu   sync.Mutex     // guards gens and held: children start concurrently
	gens map[string]int // the last generation given out, by child
	// held are the leaves, by child, of a previous resreap's generations
	// that recovery could not empty: the child takes them over (see
	// takeHeld) and does not start beside them.
	held map[string][]cgroup.Group

	faultMu sync.Mutex       // guards faults
	faults  map[string]int64 // stops that went on without a helper, by helper
}

// removeWait bounds the retries of a busy rmdir of a cgroup whose
// processes are gone (see cgroup.Group.RemoveWait); at shutdown it bounds
// them all together.
const removeWait = 2 * time.Second

// newOwner sets ownership up as sc says: CgroupOff or an empty value means
// process groups, CgroupAuto a cgroup subtree when the host allows (else
// process groups, saying why), and a path a subtree there (an error when
// that cannot be had). A state_dir safefs refuses is an error either way.
// limits lists the controllers the children's limits need ("memory",
// "pids"); a missing one is logged, not fatal.
func newOwner(sc config.Supervisor, limits []string, log zerolog.Logger) (*owner, error) {
	o := &owner{mode: OwnProcessGroup, log: log, gens: map[string]int{}, held: map[string][]cgroup.Group{}, faults: map[string]int64{}}
	for _, h := range cgroup.Helpers() {
		o.faults[h] = 0
	}
	switch sc.Cgroup {
	case "", config.CgroupOff:
		o.why = "cgroup = \"off\""
		return o, nil
	}
	err := o.setUpCgroup(sc)
	switch {
	case err == nil:
		o.mode = OwnCgroup
		o.enable(limits)
		return o, nil
	case errors.Is(err, ErrInstance) || errors.Is(err, safefs.ErrUnsafe) || sc.Cgroup != config.CgroupAuto:
		// An unsafe state_dir is no reason to do without cgroups: it is
		// refused, as `resreap run` refuses it before starting.
		return nil, err
	}
	o.why = err.Error()
	return o, nil
}

// setUpCgroup finds the hierarchy, takes the instance lock, creates the
// subtree and moves resreap into its supervisor leaf.
func (o *owner) setUpCgroup(sc config.Supervisor) error {
	h, err := cgroup.Detect()
	if err != nil {
		return fmt.Errorf("no cgroup2 hierarchy: %w", err)
	}
	if sc.Cgroup == config.CgroupAuto && !h.Writable {
		return fmt.Errorf("cgroup2 hierarchy at %s not writable below %s: %w", h.Mount, h.Own, h.NotWritable)
	}
	if o.home, err = h.OwnGroup(); err != nil {
		return err
	}
	if sc.Cgroup == config.CgroupAuto {
		o.sub, err = cgroup.NewSubtree(h, instanceName(sc.StateDir))
	} else {
		var root cgroup.Group
		root, err = h.Group(sc.Cgroup)
		o.sub = cgroup.SubtreeAt(root)
	}
	if err != nil {
		return err
	}
	if o.lock, err = lockInstance(sc.StateDir); err != nil {
		return err
	}
	if err := o.sub.Create(); err != nil {
		o.unlock()
		return fmt.Errorf("cgroup subtree %s: %w", o.sub.Root(), err)
	}
	if err := o.sub.Supervisor().AddProc(os.Getpid()); err != nil {
		o.unlock()
		return fmt.Errorf("move resreap into %s: %w", o.sub.Supervisor(), err)
	}
	return nil
}

// instanceName names the subtree of the resreap whose state lives in
// stateDir: "resreap" for the default state directory, else "resreap-"
// and a hash of the directory, so that instances side by side (and the
// next one after a crash) each find their own.
func instanceName(stateDir string) string {
	if stateDir == "" || stateDir == config.DefaultStateDir {
		return "resreap"
	}
	if abs, err := filepath.Abs(stateDir); err == nil {
		stateDir = abs
	}
	sum := sha256.Sum256([]byte(stateDir))
	return "resreap-" + hex.EncodeToString(sum[:4])
}

// lockInstance takes an exclusive flock on <stateDir>/resreap.lock, held
// as long as resreap runs: the kernel drops it when the process dies, so
// a crashed instance never blocks the next one, and two live instances can
// never share (and kill each other's children in) one subtree.
//
// The state directory is made (0750) or opened through safefs, root's
// alone: one that another user owns or may write is refused, since that
// user could plant resreap.lock as a link and have root create whatever
// it names. The lock file is opened through the directory, created with
// O_EXCL when it is new and never through a link; flock needs no
// particular access, so it is opened as safefs opens files to append.
func lockInstance(stateDir string) (*os.File, error) {
	if stateDir == "" {
		return nil, nil
	}
	abs, err := filepath.Abs(stateDir)
	if err != nil {
		return nil, fmt.Errorf("state_dir: %w", err)
	}
	d, err := safefs.MkdirAll(abs, safefs.Perm{Mode: 0o750}, safefs.Self())
	if err != nil {
		return nil, fmt.Errorf("state_dir: %w", err)
	}
	defer d.Close()
	f, err := d.OpenAppend(lockName, safefs.Perm{Mode: 0o640})
	if err != nil {
		return nil, fmt.Errorf("state_dir: %w", err)
	}
	path := f.Name()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w (%s is locked)", ErrInstance, path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return f, nil
}

// lockName is the instance lock's name in the state directory.
const lockName = "resreap.lock"

func (o *owner) unlock() {
	if o.lock != nil {
		o.lock.Close()
		o.lock = nil
	}
}

// logMode says once, at start, how children are owned and why.
func (o *owner) logMode() {
	ev := o.log.Info().Str("ownership", o.mode)
	if o.cgroups() {
		ev = ev.Str("cgroup", o.sub.Root().Path())
	} else {
		ev = ev.Str("why", o.why)
	}
	ev.Msg("children are owned by " + o.mode)
}

// cgroups reports whether children get a cgroup each.
func (o *owner) cgroups() bool { return o.mode == OwnCgroup }

// leaf makes a fresh leaf cgroup for a start of the child, a generation
// of its own (see cgroup.ChildLeaf), with its limits set; ok is false in
// process-group mode. Release it once its processes are gone.
func (o *owner) leaf(spec *config.ChildSpec) (g cgroup.Group, ok bool, err error) {
	if !o.cgroups() {
		return cgroup.Group{}, false, nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	for gen := o.gens[spec.Name] + 1; ; gen++ {
		if g, err = o.sub.Child(spec.Name, gen); err != nil {
			return g, false, err
		}
		if exists, err := g.Exists(); err != nil {
			return g, false, err
		} else if !exists {
			o.gens[spec.Name] = gen
			break
		}
	}
	if err = g.Create(); err != nil {
		return g, false, err
	}
	o.limit(spec, g)
	return g, true, nil
}

// limit applies the child's memory_max and pids_max to g.
func (o *owner) limit(spec *config.ChildSpec, g cgroup.Group) {
	if spec.MemoryMax > 0 {
		if err := g.SetMemoryMax(spec.MemoryMax); err != nil {
			o.log.Error().Err(err).Str("child", spec.Name).Msg("memory_max not applied")
		}
	}
	if spec.PidsMax > 0 {
		if err := g.SetPidsMax(spec.PidsMax); err != nil {
			o.log.Error().Err(err).Str("child", spec.Name).Msg("pids_max not applied")
		}
	}
}

// release removes a leaf whose processes are all gone, trying again for
// up to removeWait while the kernel still counts the last exiting task.
func (o *owner) release(g cgroup.Group) {
	if g == (cgroup.Group{}) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), removeWait)
	defer cancel()
	if err := g.RemoveWait(ctx); err != nil {
		o.log.Warn().Err(err).Str("cgroup", g.Path()).Msg("cannot remove the cgroup of a stopped child")
	}
}

// hold keeps the leaf l of a previous resreap, which recovery could not
// empty, for its child to take over.
func (o *owner) hold(l cgroup.Leaf) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.held[l.Child] = append(o.held[l.Child], l.Group)
}

// takeHeld hands the child called name the leaves held for it.
func (o *owner) takeHeld(name string) []cgroup.Group {
	o.mu.Lock()
	defer o.mu.Unlock()
	g := o.held[name]
	delete(o.held, name)
	return g
}

// noteFaults logs, once, the helpers an operation on a child (what: "the
// stop", "the stop of the orphans", ...) went on without, and counts each
// for the resreap_stop_helper_errors_total metric.
func (o *owner) noteFaults(log zerolog.Logger, what string, faults []cgroup.Fault) {
	if len(faults) == 0 {
		return
	}
	helpers := make([]string, len(faults))
	errs := make([]error, len(faults))
	o.faultMu.Lock()
	for i, f := range faults {
		helpers[i], errs[i] = f.Helper, f
		o.faults[f.Helper]++
	}
	o.faultMu.Unlock()
	log.Warn().Strs("helpers", helpers).Err(errors.Join(errs...)).
		Msgf("%s went on without what failed: %s", what, strings.Join(helpers, ", "))
}

// faultCounts returns how many stops went on without each helper.
func (o *owner) faultCounts() map[string]int64 {
	o.faultMu.Lock()
	defer o.faultMu.Unlock()
	return maps.Clone(o.faults)
}

// noteGen records a generation found in the subtree (left by a previous
// resreap), so new leaves are numbered after it.
func (o *owner) noteGen(name string, gen int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.gens[name] = max(o.gens[name], gen)
}

// close moves resreap back into the cgroup it started in and removes the
// subtree (empty by now: every child was stopped), then lets go of the
// instance lock. A busy rmdir is tried again for up to removeWait in all;
// a leaf that still holds processes (a stop that gave up) is left in
// place, and whatever is left is logged with its path.
func (o *owner) close() {
	if !o.cgroups() {
		return
	}
	defer o.unlock()
	if err := o.home.AddProc(os.Getpid()); err != nil {
		o.log.Warn().Err(err).Str("cgroup", o.sub.Root().Path()).Msg("cannot move back to the cgroup resreap started in; its subtree stays")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), removeWait)
	defer cancel()
	leaves, err := o.sub.Leaves()
	if err != nil {
		o.log.Warn().Err(err).Str("cgroup", o.sub.Root().Path()).Msg("cgroup subtree")
	}
	kept := false
	for _, l := range leaves {
		if len(l.Procs) > 0 {
			o.log.Warn().Str("child", l.Child).Ints("pids", l.Procs).Str("cgroup", l.Group.Path()).Msg("cgroup still holds processes at exit; left in place")
			kept = true
			continue
		}
		if err := l.Group.RemoveWait(ctx); err != nil {
			o.log.Warn().Err(err).Str("cgroup", l.Group.Path()).Msg("cannot remove")
			kept = true
		}
	}
	if err := o.sub.Supervisor().RemoveWait(ctx); err != nil {
		o.log.Warn().Err(err).Str("cgroup", o.sub.Supervisor().Path()).Msg("cannot remove")
	}
	root := o.sub.Root()
	if kept {
		err = root.Remove() // busy for as long as the leaves are there
	} else {
		err = root.RemoveWait(ctx)
	}
	if err != nil {
		o.log.Warn().Err(err).Str("cgroup", root.Path()).Msg("cannot remove")
	}
}
