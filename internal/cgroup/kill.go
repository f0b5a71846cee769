//go:build linux

package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// ErrContainsSelf reports that an operation was refused because the cgroup
// holds the calling process: killing, signalling or freezing it would hit
// the supervisor itself.
var ErrContainsSelf = errors.New("cgroup holds the calling process")

// Kill SIGKILLs every process in the cgroup and its descendants by writing
// "1" to cgroup.kill (Linux 5.14). The kernel does it in one pass that new
// forks cannot escape, whatever sessions or process groups the processes
// made. It returns once the signals are sent, not once the processes are
// gone: wait with WaitEmpty. Without cgroup.kill the error wraps
// errors.ErrUnsupported, and the caller falls back to Signal(SIGKILL).
// A cgroup holding the caller is refused (ErrContainsSelf).
func (g Group) Kill() error {
	if err := g.refuseSelf("kill"); err != nil {
		return err
	}
	err := writeFile(g.file("cgroup.kill"), "1")
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(g.dir); serr != nil {
			return fmt.Errorf("kill cgroup: %w", serr)
		}
		return fmt.Errorf("kill cgroup %s: no cgroup.kill (Linux < 5.14): %w", g.dir, errors.ErrUnsupported)
	}
	if err != nil {
		return fmt.Errorf("kill cgroup: %w", err)
	}
	return nil
}

// refuseSelf fails when the calling process is in g or below it.
func (g Group) refuseSelf(op string) error {
	if err := g.valid(); err != nil {
		return err
	}
	own, err := selfCgroup()
	if err != nil {
		return fmt.Errorf("%s cgroup %s: %w", op, g.dir, err)
	}
	if inTree(own, g.path) {
		return fmt.Errorf("%s cgroup %s: this process is in %s: %w", op, g.dir, own, ErrContainsSelf)
	}
	return nil
}
