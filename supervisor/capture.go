//go:build linux

package supervisor

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/health"
	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/safefs"
)

// A capture saves what an operator wants to see of an unhealthy process
// after it is gone, into <capture_dir>/<child>/<time>-<pid>/:
//
//	close_wait.txt  its CLOSE_WAIT sockets: local, peer, pid, fd (as ss -tnp)
//	fds.txt         the fd table of each of its processes (as ls -l /proc/PID/fd)
//	status, limits  /proc/PID/status and /proc/PID/limits of its main process
//	evidence.json   the verdict's evidence
//	output.txt      with QUIT as the first stop signal: its output for
//	                capture_output after the QUIT (a JVM's thread dump)
//
// What /proc says is read before the escalation starts, in memory (a few
// reads); the files are written by a goroutine of their own, so a slow
// disk delays no stop.

// captureFiles is the state read from /proc, by file name.
type captureFiles map[string][]byte

// readCapture reads the capture files of the process tree pids (main
// process first) in memory. The fd tables and the sockets are health's
// readers' (ListFDs, CloseWaitByNetns), as the health check reads them;
// this only formats them.
func readCapture(pids []int, ev *health.Evidence) captureFiles {
	files := captureFiles{}
	main := strconv.Itoa(pids[0])
	for _, name := range []string{"status", "limits"} {
		if b, err := os.ReadFile("/proc/" + main + "/" + name); err == nil {
			files[name] = b
		} else {
			files[name] = fmt.Appendf(nil, "cannot read /proc/%s/%s: %v\n", main, name, err)
		}
	}
	holders := map[uint64][]string{} // socket inode -> "pid=P,fd=N" of each holder
	var fds bytes.Buffer
	tw := tabwriter.NewWriter(&fds, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PID\tFD\tTARGET")
	for _, pid := range pids {
		list, err := health.ListFDs("", pid)
		if err != nil {
			fmt.Fprintf(tw, "%d\t-\tcannot read /proc/%d/fd: %v\n", pid, pid, err)
			continue
		}
		for _, fd := range list {
			fmt.Fprintf(tw, "%d\t%d\t%s\n", pid, fd.Num, fd.Target)
			if ino, ok := fd.Socket(); ok {
				holders[ino] = append(holders[ino], fmt.Sprintf("pid=%d,fd=%d", pid, fd.Num))
			}
		}
	}
	tw.Flush()
	files["fds.txt"] = fds.Bytes()
	files["close_wait.txt"] = closeWaitList(pids, holders)
	if ev != nil {
		if b, err := json.MarshalIndent(ev, "", "  "); err == nil {
			files["evidence.json"] = append(b, '\n')
		}
	}
	return files
}

// closeWaitList lists the CLOSE_WAIT sockets that holders holds, with
// their holders, read in every network namespace the processes pids live
// in.
func closeWaitList(pids []int, holders map[uint64][]string) []byte {
	var lines, problems []string
	byNetns := health.CloseWaitByNetns("", pids)
	for _, ns := range byNetns {
		if ns.Err != nil {
			problems = append(problems, fmt.Sprintf("cannot read the sockets of pid %d: %v\n", ns.PID, ns.Err))
		}
		for _, s := range ns.Sockets {
			if h := holders[s.Inode]; len(h) > 0 {
				lines = append(lines, fmt.Sprintf("CLOSE-WAIT\t%s\t%s\t%s", s.Tuple.Local, s.Tuple.Remote, strings.Join(h, " ")))
			}
		}
	}
	if len(byNetns) == 0 {
		problems = append(problems, fmt.Sprintf("cannot read the network namespace of any of pids %v\n", pids))
	}
	slices.Sort(lines)
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STATE\tLOCAL\tPEER\tPROCESS")
	for _, l := range lines {
		fmt.Fprintln(tw, l)
	}
	tw.Flush()
	fmt.Fprintf(&b, "%s in CLOSE_WAIT\n", plural(len(lines), "socket", "sockets"))
	for _, p := range problems {
		b.WriteString(p)
	}
	return b.Bytes()
}

// outputTap collects a child's output lines while installed (see
// child.tap), up to maxTap bytes.
type outputTap struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	lost int
}

const maxTap = 4 << 20

func (t *outputTap) add(line []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.buf.Len()+len(line) > maxTap {
		t.lost++
		return
	}
	t.buf.Write(line)
	t.buf.WriteByte('\n')
}

func (t *outputTap) bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := slices.Clone(t.buf.Bytes())
	if t.lost > 0 {
		b = fmt.Appendf(b, "[%d more lines not kept: over %d bytes]\n", t.lost, maxTap)
	}
	return b
}

// capture saves the state of the child's process before a health stop,
// when the child's capture is on; it returns the capture's directory, or
// "". With QUIT as the first stop signal and capture_output set, the
// child's output is collected from now for capture_output.
func (c *child) capture(ev *health.Evidence) string {
	cs := c.spec.Capture
	if !cs.Enabled || c.proc == nil {
		return ""
	}
	p := c.proc
	pids := c.status().Health.PIDs
	if len(pids) == 0 || pids[0] != p.PID() {
		pids = []int{p.PID()}
	}
	now := time.Now().UTC()
	stamp := now.Format("20060102T150405.000Z") + "-" + strconv.Itoa(p.PID())
	dir := filepath.Join(cs.Dir, c.spec.Name, stamp)
	files := readCapture(pids, ev)
	var tap *outputTap
	if steps := c.spec.Stop.Steps; cs.Output > 0 && len(steps) > 0 && steps[0].Signal == unix.SIGQUIT {
		tap = &outputTap{}
		c.tap.Store(tap)
	}
	log := c.log.With().Str("capture", dir).Logger()
	spec := c.spec
	c.sup.captures.Go(func() {
		base, err := openCaptures(&spec)
		if err != nil {
			c.tap.CompareAndSwap(tap, nil)
			log.Error().Err(err).Msg("capture not saved")
			return
		}
		defer base.Close()
		if err := writeCapture(base, stamp, files); err != nil {
			log.Error().Err(err).Msg("capture not saved")
		}
		if tap != nil {
			// The QUIT is sent right after this capture began; a
			// shutdown cuts the wait short.
			select {
			case <-time.After(cs.Output):
			case <-c.sup.runCtx.Done():
			}
			c.tap.CompareAndSwap(tap, nil)
			if err := writeCapture(base, stamp, captureFiles{"output.txt": tap.bytes()}); err != nil {
				log.Error().Err(err).Msg("capture output not saved")
			}
		}
		if err := pruneCaptures(base, cs.Keep); err != nil {
			log.Warn().Err(err).Msg("old captures not pruned")
		}
		log.Info().Msg(c.name + " capture saved in " + dir)
	})
	return dir
}

// openCaptures opens <capture_dir>/<child> of spec, creating what is
// missing with mode 0700 (a capture shows a process's sockets, files and
// status), root's, or the child's user's inside a directory of that user
// (see safefs.MkdirAll). The capture directory may sit on a shared disk
// and belong to the child's user: it is opened by safefs's rules, which
// trust that user besides root, so a link the user planted in place of
// the child's directory (caps/<child> -> /a/root/dir) is refused, never
// followed to write or prune there.
func openCaptures(spec *config.ChildSpec) (*safefs.Dir, error) {
	uid, err := childUID(spec)
	if err != nil {
		return nil, err
	}
	top, err := safefs.MkdirAll(spec.Capture.Dir, safefs.Perm{}, safefs.Policy{UID: uid})
	if err != nil {
		return nil, err
	}
	defer top.Close()
	return top.Mkdir(spec.Name, safefs.Perm{})
}

// writeCapture writes files into the capture directory name of base,
// creating it (0700, as openCaptures creates) when it is missing; each
// file is new, root's, 0600.
func writeCapture(base *safefs.Dir, name string, files captureFiles) error {
	d, err := base.Mkdir(name, safefs.Perm{})
	if err != nil {
		return err
	}
	defer d.Close()
	var errs []error
	for _, n := range slices.Sorted(maps.Keys(files)) {
		if err := d.WriteNew(n, files[n], safefs.Perm{}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// pruneCaptures removes the oldest capture directories of base beyond
// the keep newest (their names sort by time). Entries are listed without
// following links and removed through base's descriptor: a link in the
// tree is removed, never followed.
func pruneCaptures(base *safefs.Dir, keep int) error {
	ents, err := base.ReadDir()
	if err != nil {
		return err
	}
	var dirs []string
	for _, e := range ents {
		if e.IsDir() {
			dirs = append(dirs, e.Name())
		}
	}
	slices.Sort(dirs)
	for len(dirs) > keep {
		if err := base.RemoveAll(dirs[0]); err != nil {
			return err
		}
		dirs = dirs[1:]
	}
	return nil
}

// tapOutput is where the output copiers of a child hand each line when a
// capture collects it (nil: none).
type tapOutput = atomic.Pointer[outputTap]
