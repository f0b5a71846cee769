//go:build linux

package health

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/procfs"
	"github.com/rs/zerolog"
)

// Target is one supervised child to judge.
type Target struct {
	Name string
	PID  int
	// Descendants extends the target to every descendant of PID (a shell
	// wrapper, a pre-fork server); false judges PID alone. A target with
	// a cgroup ignores it: the cgroup is the tree.
	Descendants bool
	// Cgroup and CgroupDir give the target a cgroup v2: its id (the
	// number internal/cgroup's Group.ID returns, which the kernel reports
	// with each socket) and its directory in the mounted hierarchy
	// (Group.Dir). A target has a cgroup when both are set; the zero
	// values mean none, and the target is judged by its fd tables as
	// described in closewait.go.
	//
	// With a cgroup, the target's processes are those CgroupDir's
	// cgroup.procs lists (PID first), read at every Scan into the
	// Scanner's buffers; the fd check counts each one's fds. A CLOSE_WAIT
	// socket carrying the id is the target's without any fd table read,
	// which is what makes a leaker with 100k fds as cheap to judge as one
	// with ten; the evidence samples of such sockets have PID 0, since
	// which process of the cgroup holds them is not looked up.
	//
	// The kernel records the cgroup of the process that created the
	// socket (for an accepted connection, the one that created the
	// listener). A socket the target holds but got from another cgroup
	// (accepted on a listener systemd made for socket activation, passed
	// over a unix socket) carries that cgroup's id: unless CgroupOnly, it
	// is looked for in the target's fd tables like the sockets of targets
	// without a cgroup. Before Linux 5.15 (unless the fix was backported)
	// every socket reports the root cgroup once a cgroup v1 net_cls or
	// net_prio hierarchy is in use. When the reader gives no id (the
	// /proc reader, a kernel before 5.7) a target with a cgroup falls back
	// to the fd walk of its cgroup's processes.
	Cgroup    uint64
	CgroupDir string
	// Cgroups are more cgroup ids whose sockets are the target's, found
	// by id like those of Cgroup: the cgroup a supervisor binds a
	// child's listening sockets in, which every connection accepted on
	// them carries whichever generation of the child holds it. Their
	// processes are not the target's. They mean nothing without Cgroup.
	Cgroups []uint64
	// CgroupOnly says that the target holds no socket made outside its
	// cgroup: a child the supervisor started in a fresh cgroup, which
	// inherits none. A socket carrying another cgroup's id is then never
	// looked for in its fd tables, so it costs no walk even when some
	// other process of the host leaks. It means nothing without a cgroup.
	CgroupOnly bool
	Policy     Policy
	// Interval is how often the target is scanned. Persist consecutive
	// scans of the target count only when they span (Persist-1) intervals:
	// a socket must have been in CLOSE_WAIT that long. 0 asks for the
	// scans alone.
	Interval time.Duration
}

// Result is the health of one target after a scan.
type Result struct {
	Name string
	PIDs []int // the processes judged, PID first
	// CloseWait counts the persistent CLOSE_WAIT sockets owned now. It is
	// only computed once some socket has persisted, so 0 also means "no
	// socket has persisted yet".
	CloseWait int
	// CloseWaitNow counts every CLOSE_WAIT socket the target owns at this
	// scan, persistent or not, whose foreign endpoint is not ignored. It
	// is known for a target with a cgroup when the reader reports cgroup
	// ids: the sockets carrying the target's id (one it got from another
	// cgroup counts in CloseWait once persistent, never here). Otherwise
	// it is -1: finding the owner of a socket that cannot be persistent
	// yet would cost an fd walk per scan. It is -1 too when the CLOSE_WAIT
	// check is off or the socket dump failed.
	CloseWaitNow int
	// FDs is the usage of the process closest to its limit; zero when the
	// fd check is disabled.
	FDs FDUsage
	// Verdict is non-nil when the target is unhealthy. CLOSE_WAIT wins over
	// fd exhaustion when both hold, since the leak usually causes both.
	Verdict *Evidence
}

// ScannerOptions configures NewScanner. The zero value reads /proc with the
// best available socket reader and logs nowhere.
type ScannerOptions struct {
	ProcRoot string // "" means "/proc"
	// Source is SourceAuto (""), SourceBPF or SourceDump: the event
	// source, or the dump of Reader (source.go). SourceInfo says which
	// is used and why.
	Source string
	// SourceWhy is why the caller chose SourceDump, for SourceInfo.Why;
	// "" says the setting did.
	SourceWhy string
	Events    EventOptions   // the event source's settings
	Reader    string         // the dump: "auto" (""), "netlink" or "proc"; see NewReader
	Log       zerolog.Logger // the zero Logger discards
	// Now is the clock for fd slopes; nil means time.Now.
	Now func() time.Time
	// SocketReader overrides Source and Reader when non-nil (tests,
	// other platforms).
	SocketReader SocketReader
}

// Stats counts the work a Scanner did, for tests and benchmarks.
type Stats struct {
	Scans int // calls of Scan
	// FDWalks counts scans that read fd tables to find socket owners; it
	// stays 0 while no CLOSE_WAIT socket persists without a known owner.
	FDWalks int
	// FDTables counts the fd tables read by those walks.
	FDTables int
	// Readlinks counts the fd links those walks read, one readlinkat each:
	// the cost of a walk.
	Readlinks int
	// ReadErrors counts socket dumps that failed (their namespace's
	// targets were not judged for CLOSE_WAIT at that scan).
	ReadErrors int
	// ByCgroup counts the CLOSE_WAIT sockets given to a target with a
	// cgroup by their cgroup id, with no fd table read, summed over scans
	// (a socket counts at every scan, once per such target).
	ByCgroup int
}

// Scanner judges targets, one Scan per tick for all of them. It keeps the
// state that makes a judgement span scans (socket persistence, owners,
// fd history). Its methods may be called from several goroutines.
type Scanner struct {
	mu       sync.Mutex
	procRoot string
	reader   SocketReader
	source   SourceInfo
	log      zerolog.Logger
	now      func() time.Time
	ownNS    uint64

	nss     map[uint64]*nsState // CLOSE_WAIT sockets by network namespace
	owners  ownerCache
	targets map[string]*targetState
	logged  map[string]bool // scanner-wide errors already logged
	stats   Stats
	walker  fdWalker // reads fd tables for the owner walk
	dirBuf  []byte   // getdents of /proc/<pid>/fd and /task
	fileBuf []byte   // small /proc files: limits, children
	judging []judged // the targets of the Scan in progress, reused
}

// targetState is what the Scanner remembers about a target between scans.
type targetState struct {
	pids []int
	nsOf []uint64 // network namespace of each of pids, as of the last scan
	cw   bool     // the CLOSE_WAIT check is on
	// cgroupOnly: the target has a cgroup and CgroupOnly; its fd tables
	// are walked only for sockets without a cgroup id.
	cgroupOnly bool
	scans      []time.Time // of this target's recent scans, oldest first
	// fdOver holds the times of the consecutive scans, up to the last, in
	// which some process of the target was over the fd policy.
	fdOver  []time.Time
	history map[int]*fdHistory // by pid
	logged  map[string]bool
}

// maxScans bounds the scan times a target keeps: more than any Persist
// the configuration accepts.
const maxScans = 128

// record appends t to a bounded list of times.
func record(times []time.Time, t time.Time) []time.Time {
	if len(times) == maxScans {
		times = append(times[:0], times[1:]...)
	}
	return append(times, t)
}

// NewScanner opens the socket reader and returns a Scanner. Close it to
// release the reader.
func NewScanner(opts ScannerOptions) (*Scanner, error) {
	root := opts.ProcRoot
	if root == "" {
		root = "/proc"
	}
	if _, err := procfs.NewFS(root); err != nil { // is it a directory?
		return nil, fmt.Errorf("health: %w", err)
	}
	r := opts.SocketReader
	var src SourceInfo
	if r == nil {
		var err error
		if r, src, err = openSource(opts, root); err != nil {
			return nil, err
		}
	} else {
		src = SourceInfo{Name: r.Name(), Why: "set by the caller"}
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	s := &Scanner{
		procRoot: root,
		reader:   r,
		source:   src,
		log:      opts.Log,
		now:      now,
		nss:      map[uint64]*nsState{},
		owners:   newOwnerCache(),
		targets:  map[string]*targetState{},
		logged:   map[string]bool{},
		dirBuf:   make([]byte, 32<<10),
		fileBuf:  make([]byte, 4<<10),
	}
	s.walker = fdWalker{procRoot: root, dents: s.dirBuf}
	s.ownNS, _ = netnsInode(root, "self")
	return s, nil
}

// Reader names the socket reader in use ("bpf", "netlink" or "proc").
func (s *Scanner) Reader() string { return s.reader.Name() }

// Source says where the CLOSE_WAIT sockets come from and why, with the
// event source's counters.
func (s *Scanner) Source() SourceInfo {
	src := s.source
	if ev, ok := s.reader.(*eventReader); ok {
		src.Events = ev.Stats()
	}
	return src
}

// Stats returns the work counters.
func (s *Scanner) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Close releases the socket reader.
func (s *Scanner) Close() error { return s.reader.Close() }

// Forget drops what the Scanner remembers of a target: call it when the
// target restarted or is no longer judged, so a new process starts with
// clean persistence and slope state instead of inheriting the old one's.
func (s *Scanner) Forget(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ts := s.targets[name]; ts != nil {
		delete(s.targets, name)
		s.owners.dropPIDs(ts.pids)
	}
}

// Prune forgets every target but those named in keep: for a caller that
// scans all its targets at every Scan and sees them come and go (the
// watchdog's candidates).
func (s *Scanner) Prune(keep []Target) {
	s.mu.Lock()
	defer s.mu.Unlock()
	live := make(map[string]bool, len(keep))
	for _, t := range keep {
		live[t.Name] = true
	}
	for name, ts := range s.targets {
		if !live[name] {
			delete(s.targets, name)
			s.owners.dropPIDs(ts.pids)
		}
	}
}

// Scan judges targets once and returns their results in order. It reads
// each network namespace the targets live in once, however many targets
// share it. Names key the state kept between scans, so they must be
// unique; a target's persistence advances only at the Scans it is part
// of, so targets may be scanned on schedules of their own.
func (s *Scanner) Scan(targets []Target) []Result {
	return s.scan(targets, time.Time{})
}

// ScanAt is Scan as of at: the time the scan was due, for a caller that
// scans on a fixed schedule (internal/cadence). Persistence counts the
// time between the scans of a target (persistSince), and scans stamped
// with the moment each began fall short of the interval whenever a timer
// fires a little later than the one before: the verdict then waits one
// more scan. Stamped with their due times they are an interval apart.
// at must not be after the present, nor before the last scan's.
func (s *Scanner) ScanAt(targets []Target, at time.Time) []Result {
	return s.scan(targets, at)
}

// scan is Scan as of at; the zero at means the Scanner's clock.
func (s *Scanner) scan(targets []Target, at time.Time) []Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Scans++
	now := at
	if now.IsZero() {
		now = s.now()
	}
	if b, ok := s.reader.(interface{ beginScan() }); ok {
		b.beginScan()
	}

	res := make([]Result, len(targets))
	js := s.records(targets, res, now)
	s.scanCloseWait(js, now)
	for i := range js {
		j := &js[i]
		fdOver := false
		if !j.pol.FDs.Disabled {
			j.res.FDs, fdOver = s.checkFDs(j.t, j.pol.FDs, j.res.PIDs, now)
		}
		j.res.CloseWait = len(j.persistent)
		j.res.Verdict = verdict(j.pol, j.persistent, j.res.FDs, fdOver)
	}
	// The records point into res and the targets: drop them, so that the
	// Scanner keeps nothing of this Scan alive until the next one.
	clear(js)
	return res
}

// records makes the records of a Scan's targets in the Scanner's reused
// slice, and records the Scan in each target's state. res receives the
// results, in the targets' order.
func (s *Scanner) records(targets []Target, res []Result, now time.Time) []judged {
	s.judging = slices.Grow(s.judging[:0], len(targets))[:len(targets)]
	js := s.judging
	for i, t := range targets {
		res[i] = Result{Name: t.Name, PIDs: s.pidsOf(t), CloseWaitNow: -1}
		j := &js[i]
		*j = judged{t: t, pol: t.Policy.withDefaults(), res: &res[i], ts: s.state(t.Name), cgroupOnly: t.cgroupOnly()}
		j.ts.pids, j.ts.cw, j.ts.cgroupOnly = res[i].PIDs, !j.pol.CloseWait.Disabled, j.cgroupOnly
		j.ts.scans = record(j.ts.scans, now)
	}
	return js
}

func (s *Scanner) pidsOf(t Target) []int {
	if t.PID <= 0 {
		return nil
	}
	if t.cgroupID() != 0 {
		pids, err := cgroupPIDs(t.CgroupDir, t.PID, s.fileBuf)
		if err == nil {
			return pids
		}
		// The directory goes only once the cgroup is empty: the target
		// is gone, and the fallback below finds as much.
		s.logOnce(t.Name, "read cgroup.procs", t.PID, err)
	}
	if t.Descendants {
		return descendants(s.procRoot, t.PID, s.dirBuf, s.fileBuf)
	}
	return []int{t.PID}
}

func (s *Scanner) state(name string) *targetState {
	ts := s.targets[name]
	if ts == nil {
		ts = &targetState{history: map[int]*fdHistory{}, logged: map[string]bool{}}
		s.targets[name] = ts
	}
	return ts
}

// logOnce logs err for the target the first time this operation fails for
// it. A process that exited mid-scan is not an error: its files vanish
// with ENOENT or ESRCH, and the next scan will not ask for it.
func (s *Scanner) logOnce(name, op string, pid int, err error) {
	if isGone(err) {
		return
	}
	logged := s.logged
	if ts := s.targets[name]; ts != nil {
		logged = ts.logged
	}
	if logged[op] {
		return
	}
	logged[op] = true
	s.log.Warn().Err(err).Str("child", name).Int("pid", pid).Str("op", op).
		Msg("health check cannot read process state")
}

func isGone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH)
}
