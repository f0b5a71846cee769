//go:build linux

package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// WalkCount is what resreap's owner walks cost in one run of a command: the
// Scanner logs each walk at debug level ("owner walk"), with the fd tables
// it read and its readlinks (health.Stats).
type WalkCount struct {
	Walks     int // owner walks (0: nothing persisted without a known owner)
	FDTables  int
	Readlinks int
	NotFound  int // wanted sockets no walk found
}

// CountWalk runs t.Count once, with stdout discarded, and sums the owner
// walks its log reports. The run is not one of the measured ones: debug
// output costs CPU of its own.
func CountWalk(ctx context.Context, t Tool) (WalkCount, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, t.Count[0], t.Count[1:]...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && slices.Contains(t.OKExit, exit.ExitCode())) {
		return WalkCount{}, fmt.Errorf("%s: %w", strings.Join(t.Count, " "), err)
	}
	return parseWalkLog(stderr.Bytes())
}

// parseWalkLog sums the "owner walk" lines of a JSON log.
func parseWalkLog(log []byte) (WalkCount, error) {
	var wc WalkCount
	sc := bufio.NewScanner(bytes.NewReader(log))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.Contains(line, []byte(`"owner walk"`)) {
			continue
		}
		var w struct {
			Message   string `json:"message"`
			FDTables  int    `json:"fd_tables"`
			Readlinks int    `json:"readlinks"`
			NotFound  int    `json:"not_found"`
		}
		if err := json.Unmarshal(line, &w); err != nil {
			return wc, fmt.Errorf("owner walk log line %q: %w", line, err)
		}
		if w.Message != "owner walk" {
			continue
		}
		wc.Walks++
		wc.FDTables += w.FDTables
		wc.Readlinks += w.Readlinks
		wc.NotFound += w.NotFound
	}
	return wc, sc.Err()
}

// HolderPattern is the -f pattern that selects, among the load's processes,
// only the one holding the CLOSE_WAIT sockets: its worker command line is
// the only one with "-close-wait N", N > 0 (bench/cmd/sockload).
const HolderPattern = `-worker .*-close-wait [1-9]`

// TaggedHolder is HolderPattern for a load started with tag (StartLoadIn):
// it selects that load's holder alone, whatever other loads run on the
// host (another engineer's benchmark, say).
func TaggedHolder(tag string) string { return HolderPattern + `.* -tag ` + regexp.QuoteMeta(tag) + `$` }

// WalkTools is the owner-walk comparison: the floor, `resreap watch --once`
// over every process and over the holder alone (-f), and `ss -tnp`, which
// reads every fd of every process.
func WalkTools(resreap string) []Tool {
	watch := func(extra ...string) (argv, count []string) {
		argv = append([]string{resreap, "watch", "--once", "-d", "-i", "0.05", "--reader", "netlink"}, extra...)
		return argv, append(append([]string(nil), argv...), "--json", "-D")
	}
	all, allCount := watch()
	one, oneCount := watch("-f", HolderPattern)
	probe := []string{resreap, "watch", "--help"}
	return []Tool{
		{Name: "ss -tn state close-wait", Argv: []string{"ss", "-tn", "state", "close-wait"}, Floor: true},
		{Name: "resreap watch --once", Argv: all, Count: allCount, OKExit: []int{0, 1}, Probe: probe},
		{Name: "resreap watch --once -f HOLDER", Argv: one, Count: oneCount, OKExit: []int{0, 1}, Probe: probe},
		{Name: "ss -tnp state close-wait", Argv: []string{"ss", "-tnp", "state", "close-wait"}},
	}
}

// Holder is who holds the load's CLOSE_WAIT sockets in an owner-walk case.
type Holder struct {
	Apart bool   // a worker of its own (else the first worker, the largest)
	Name  string // as the report says it
}

// WalkHolders are the two owner-walk cases.
var WalkHolders = []Holder{
	{Apart: true, Name: "a small process of its own"},
	{Apart: false, Name: "the process holding the most fds"},
}

// WalkResult is one owner-walk case: the scan comparison on a load whose
// CLOSE_WAIT sockets are held as Holder says.
type WalkResult struct {
	Holder     Holder
	Scan       ScanResult
	HolderFDs  int // fds of the process holding the CLOSE_WAIT sockets
	LargestFDs int // fds of the largest other process of the load
	HostFDs    int // fds of every process on the host: what `ss -tnp` reads
	Processes  int // processes on the host
}

// holderFDs returns the fds of the load's CLOSE_WAIT holder and of its
// largest other worker, from the worker PIDs of sockload's ready line
// (plan order: the apart holder is the last worker, else the first).
func holderFDs(ready string, apart bool) (holder, largest int, err error) {
	var pids []int
	for _, f := range strings.Fields(ready) {
		if v, ok := strings.CutPrefix(f, "pids="); ok {
			for _, p := range strings.Split(v, ",") {
				n, err := strconv.Atoi(p)
				if err != nil {
					return 0, 0, fmt.Errorf("ready line %q: %w", ready, err)
				}
				pids = append(pids, n)
			}
		}
	}
	if len(pids) == 0 {
		return 0, 0, fmt.Errorf("ready line %q names no worker", ready)
	}
	h := 0
	if apart {
		h = len(pids) - 1
	}
	for i, pid := range pids {
		n, err := fdsOf(pid)
		if err != nil {
			return 0, 0, err
		}
		if i == h {
			holder = n
		} else {
			largest = max(largest, n)
		}
	}
	return holder, largest, nil
}

// fdsOf counts the open fds of pid.
func fdsOf(pid int) (int, error) {
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	return len(ents), err
}

// hostFDs counts the processes of the host and their open fds.
func hostFDs() (fds, procs int) {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if n, err := fdsOf(pid); err == nil {
			fds += n
			procs++
		}
	}
	return fds, procs
}
