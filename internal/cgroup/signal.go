//go:build linux

package cgroup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"golang.org/x/sys/unix"
)

// maxSignalRounds bounds the re-reads of cgroup.procs when the tree could
// not be frozen and keeps showing new PIDs (a fork loop).
const maxSignalRounds = 16

// Signal sends sig to every process in the cgroup and its descendants and
// returns how many it signalled. It never signals a process it has not
// proven to be in the tree, and is meant for the soft steps of a stop
// (TERM, QUIT, ...); Kill is the last one. A cgroup holding the caller is
// refused (ErrContainsSelf). ctx bounds the freeze below.
//
// How, and the races it closes:
//
//   - The tree is frozen first (cgroup.freeze, waiting up to 2 s for
//     "frozen 1"), so no process in it runs, hence none forks, while the
//     PIDs are read and signalled. A cgroup already frozen by someone else
//     stays frozen; otherwise it is thawed before return. A signal that a
//     process handles stays pending while it is frozen and is delivered at
//     the thaw; one whose default action kills it and that it does not
//     handle (TERM without a handler, and KILL) is made fatal at once by
//     the kernel and kills it even while frozen.
//   - Each PID read from cgroup.procs is opened as a pidfd, then
//     /proc/<pid>/cgroup is read again and must name the tree; the signal
//     goes through the pidfd. If the process exited and its PID was reused
//     by an outsider between the read and the open, the check sees the
//     outsider's cgroup and skips it; if that happens after the open, the
//     pidfd still names the exited process and the kernel answers ESRCH.
//     Processes that are gone (ESRCH) are skipped quietly.
//   - Without cgroup.freeze, or if the freeze does not complete in time,
//     cgroup.procs is re-read until a read shows no new PID (at most 16
//     rounds, then an error): a process forked between two reads is caught
//     by the next one. A PID signalled once is not signalled again, so a
//     PID that is freed and reused inside the tree during the rounds is
//     missed; Kill has no such gap.
//
// It fails closed: a helper that fails does not stop it. A freeze that
// cannot be had (cgroup.freeze unwritable, cgroup.events unreadable or
// unwatchable) is skipped, and the tree is signalled unfrozen, in rounds;
// a process that cannot be pinned, checked or signalled is skipped and
// the others are signalled all the same. Each is recorded in the Faults
// of ctx (see WithFaults). The error then says what was missed (and n
// what was reached): a process that could not be signalled, a cgroup.procs
// that could not be read, a thaw that failed, rounds that did not settle.
// Only a ctx that ends, or a refusal, signals nothing on purpose.
//
// Accepted: a process moved out of the tree by a third party between the
// check and the signal is signalled anyway (the freeze does not stop
// migration, and nothing in resreap migrates processes).
func (g Group) Signal(ctx context.Context, sig unix.Signal) (int, error) {
	return g.signal(ctx, sig, false)
}

// SignalCont is Signal followed, for each process it signalled, by
// SIGCONT through the same pidfd, as systemd sends its stop signals: a
// process stopped by SIGSTOP (or a terminal's ^Z) cannot act on a TERM or
// QUIT until continued, and would otherwise sit out every soft step of a
// stop until KILL. The signal goes first, so the process wakes up to it
// pending. On a frozen tree the CONT ends the stop at once and the
// process handles the signal at the thaw.
func (g Group) SignalCont(ctx context.Context, sig unix.Signal) (int, error) {
	return g.signal(ctx, sig, true)
}

func (g Group) signal(ctx context.Context, sig unix.Signal, cont bool) (int, error) {
	if err := g.refuseSelf("signal"); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	seen := map[int]bool{}
	if n, done, err := g.signalAlone(ctx, sig, cont, seen); done {
		return n, err
	}
	fz, err := g.freeze(ctx)
	if err != nil {
		return 0, fmt.Errorf("signal cgroup %s: %w", g.dir, err)
	}
	n, err := g.signalRounds(ctx, sig, cont, seen)
	if terr := fz.unfreeze(); terr != nil {
		note(ctx, HelperFreeze, terr)
		err = errors.Join(err, terr)
	}
	return n, err
}

// signalAlone signals a tree of one process without freezing it, and
// reports whether that was all (done): the tree held that process alone
// (or none) at a read before the signal and at one after it. A process it
// forked in between would show in the second read, inside the tree from
// its fork on; and a PID cannot be freed and taken again inside a tree
// whose only process is alive until the second read shows it gone. The
// freeze, a write, a wait on cgroup.events and a thaw, is what a stop of
// many children spent most of its time on, for the one process a child
// usually is. A tree of several processes, or one that changed between
// the reads, is left to the freeze and the rounds (done false), with the
// process signalled already in seen.
func (g Group) signalAlone(ctx context.Context, sig unix.Signal, cont bool, seen map[int]bool) (n int, done bool, err error) {
	pids, err := g.treeProcs()
	if err != nil || len(pids) > 1 {
		return 0, false, nil // the rounds read it again, and say why
	}
	if len(pids) == 0 {
		return 0, true, nil
	}
	pid := pids[0]
	seen[pid] = true
	ok, err := signalMember(pid, g.path, sig, cont)
	if ok {
		n = 1
	}
	if err != nil {
		note(ctx, HelperSignal, err)
		return n, true, fmt.Errorf("signal cgroup %s: %w", g.dir, err)
	}
	after, err := g.treeProcs()
	if err == nil && (len(after) == 0 || len(after) == 1 && after[0] == pid) {
		return n, true, nil
	}
	return n, false, nil
}

// signalRounds signals every PID of the tree not in seen, until a read of
// the tree shows no new PID. On a frozen tree that is two reads. A
// process that cannot be signalled is recorded and skipped.
func (g Group) signalRounds(ctx context.Context, sig unix.Signal, cont bool, seen map[int]bool) (int, error) {
	n := 0
	var missed []error
	for range maxSignalRounds {
		pids, err := g.treeProcs()
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				note(ctx, HelperProcs, err)
			}
			return n, errors.Join(append(missed, fmt.Errorf("signal cgroup: %w", err))...)
		}
		fresh := 0
		for _, pid := range pids {
			if seen[pid] {
				continue
			}
			seen[pid] = true
			fresh++
			ok, err := signalMember(pid, g.path, sig, cont)
			if ok {
				n++
			}
			if err != nil {
				note(ctx, HelperSignal, err)
				missed = append(missed, fmt.Errorf("signal cgroup %s: %w", g.dir, err))
			}
		}
		if fresh == 0 {
			return n, errors.Join(missed...)
		}
	}
	return n, errors.Join(append(missed, fmt.Errorf("signal cgroup %s: new processes still appearing after %d rounds", g.dir, maxSignalRounds))...)
}

// signalMember sends sig to pid if, once pinned by a pidfd, the process is
// in the tree rooted at cgroup path root, and with cont SIGCONT after it.
// It reports whether it sent sig; a process that is gone is not an error.
func signalMember(pid int, root string, sig unix.Signal, cont bool) (bool, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return false, nil
	}
	if errors.Is(err, unix.ENOSYS) {
		return false, fmt.Errorf("pidfd_open: %w", errors.ErrUnsupported)
	}
	if err != nil {
		return false, fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	defer unix.Close(fd)
	p, err := ProcCgroup(pid)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ESRCH) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !inTree(p, root) {
		return false, nil
	}
	err = unix.PidfdSendSignal(fd, sig, nil, 0)
	if errors.Is(err, unix.ESRCH) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("pidfd_send_signal %d: %w", pid, err)
	}
	if !cont {
		return true, nil
	}
	if err := unix.PidfdSendSignal(fd, unix.SIGCONT, nil, 0); err != nil && !errors.Is(err, unix.ESRCH) {
		return true, fmt.Errorf("pidfd_send_signal %d CONT: %w", pid, err)
	}
	return true, nil
}
