//go:build linux

package watch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"

	"github.com/resreap/resreap/internal/procfile"
)

// candidate is a process the watch judges.
type candidate struct {
	PID     int
	Start   uint64 // start time (clock ticks since boot): with PID, names one process for good
	Comm    string // command name from /proc/<pid>/stat
	Cmdline string // full command line, NULs as spaces
	// CloseWait selects the process for the CLOSE_WAIT check (it matched -f).
	CloseWait bool
	// FDs selects it for the -o check (it matched -p, or -f without -p).
	FDs bool
}

// key names the candidate for the Scanner. The start time is part of it so
// that a new process on a reused PID starts with no history.
func (c candidate) key() string {
	return strconv.Itoa(c.PID) + "@" + strconv.FormatUint(c.Start, 10)
}

// selector lists the candidates of one scan.
type selector struct {
	procRoot string
	files    *procFiles
	dirBuf   []byte         // getdents of procRoot
	pattern  *regexp.Regexp // nil = every process
	fds      bool           // -o given
	psFilter []string       // -p arguments; nil = -o follows -f
	self     int
	// runPS runs ps with the -p arguments; a field so that tests can see
	// what would be run.
	runPS func(ctx context.Context, args []string) ([]byte, error)
}

// list returns the candidates, in /proc order. A process that exits while
// it is read is left out. The -p selection failing (ps missing, bad
// arguments) is reported in psErr, apart from the candidates, so that the
// CLOSE_WAIT check keeps working; err means /proc cannot be listed.
func (s *selector) list(ctx context.Context) (_ []candidate, psErr, err error) {
	if s.files == nil {
		s.files, s.dirBuf = newProcFiles(s.procRoot, 4096), make([]byte, 16<<10)
	}
	excluded := ancestors(s.files, s.self)
	var psPIDs map[int]bool
	if s.psFilter != nil {
		psPIDs, psErr = s.psSelect(ctx)
	}
	// The PIDs first, then each process: a process read while the
	// directory is still open would keep its getdents waiting.
	var pids []int
	err = procfile.DirNames(s.procRoot, s.dirBuf, func(name []byte) bool {
		if pid, ok := procfile.Atoi(name); ok && !excluded[pid] {
			pids = append(pids, pid)
		}
		return true
	})
	if err != nil {
		return nil, nil, fmt.Errorf("list processes: %w", err)
	}
	var out []candidate
	for _, pid := range pids {
		if c, ok := s.read(pid, psPIDs); ok {
			out = append(out, c)
		}
	}
	return out, psErr, nil
}

// read reads one process. The start time is read before the command
// line: if the PID is reused in between, the candidate carries the old
// start time, and the check made before any signal refuses the newcomer.
// When the pattern alone can select the process, its command line is
// read first, once more: a process the pattern does not match (most of
// them, with -f) costs that one read.
func (s *selector) read(pid int, psPIDs map[int]bool) (candidate, bool) {
	if s.pattern != nil && !psPIDs[pid] {
		cmd, err := s.files.cmdline(pid)
		if err != nil || !s.pattern.Match(cmd) {
			return candidate{}, false
		}
	}
	st, err := s.files.stat(pid)
	if err != nil {
		return candidate{}, false
	}
	b, err := s.files.cmdline(pid)
	if err != nil || len(b) == 0 {
		return candidate{}, false // gone, a zombie, or a kernel thread (no fds of its own)
	}
	cmd := string(b)
	c := candidate{PID: pid, Start: st.Start, Comm: st.Comm, Cmdline: cmd}
	c.CloseWait = s.pattern == nil || s.pattern.MatchString(cmd)
	if s.fds {
		if s.psFilter != nil {
			c.FDs = psPIDs[pid]
		} else {
			c.FDs = c.CloseWait
		}
	}
	return c, c.CloseWait || c.FDs
}

// psSelect runs "ps -o pid= ARGS" and returns the PIDs it prints: the
// processes the old tool's -p picked.
func (s *selector) psSelect(ctx context.Context) (map[int]bool, error) {
	args := append([]string{"-o", "pid="}, s.psFilter...)
	out, err := s.runPS(ctx, args)
	pids, perr := parsePIDs(out)
	if err != nil {
		// procps ps exits 1, silently, when the selection matches nothing.
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 1 && len(bytes.TrimSpace(ee.Stderr)) == 0 && len(pids) == 0 {
			return map[int]bool{}, nil
		}
		return nil, fmt.Errorf("-p: ps %s: %w%s", strings.Join(args, " "), err, stderrOf(err))
	}
	if perr != nil {
		return nil, fmt.Errorf("-p: ps %s: %w", strings.Join(args, " "), perr)
	}
	return pids, nil
}

func runPS(ctx context.Context, args []string) ([]byte, error) {
	return exec.CommandContext(ctx, "ps", args...).Output()
}

func stderrOf(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(bytes.TrimSpace(ee.Stderr)) > 0 {
		return ": " + strings.TrimSpace(string(bytes.SplitN(ee.Stderr, []byte{'\n'}, 2)[0]))
	}
	return ""
}

// parsePIDs reads one PID per line, as "ps -o pid=" prints them.
func parsePIDs(out []byte) (map[int]bool, error) {
	pids := map[int]bool{}
	for _, f := range bytes.Fields(out) {
		pid, err := strconv.Atoi(string(f))
		if err != nil || pid <= 0 {
			return nil, fmt.Errorf("unexpected output %q (want one PID per line)", f)
		}
		pids[pid] = true
	}
	return pids, nil
}

// ancestors returns pid and the chain of its parents up to the top of the
// PID namespace. They are never candidates: killing the shell or the
// launcher that runs the watchdog would take it down too. The chain is read
// each scan because a parent that exits hands the process to another.
func ancestors(files *procFiles, pid int) map[int]bool {
	out := map[int]bool{pid: true}
	for pid > 1 {
		st, err := files.stat(pid)
		if err != nil || st.PPID <= 0 || out[st.PPID] {
			break
		}
		pid = st.PPID
		out[pid] = true
	}
	return out
}
