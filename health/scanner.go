//go:build linux

package health

import (
	"errors"
	"fmt"
	"io/fs"
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
	// wrapper, a pre-fork server); false judges PID alone.
	Descendants bool
	Policy      Policy
}

// Result is the health of one target after a scan.
type Result struct {
	Name string
	PIDs []int // the processes judged, PID first
	// CloseWait counts the persistent CLOSE_WAIT sockets owned now. It is
	// only computed once some socket has persisted, so 0 also means "no
	// socket has persisted yet".
	CloseWait int
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
	ProcRoot string         // "" means "/proc"
	Reader   string         // "auto" (""), "netlink" or "proc"; see NewReader
	Log      zerolog.Logger // the zero Logger discards
	// Now is the clock for fd slopes; nil means time.Now.
	Now func() time.Time
	// SocketReader overrides Reader when non-nil (tests, other platforms).
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
}

// Scanner judges targets, one Scan per tick for all of them. It keeps the
// state that makes a judgement span scans (socket persistence, owners,
// fd history). Its methods may be called from several goroutines.
type Scanner struct {
	mu       sync.Mutex
	procRoot string
	fs       procfs.FS
	reader   SocketReader
	log      zerolog.Logger
	now      func() time.Time
	ownNS    uint64

	streak  map[sockKey]int // consecutive scans each CLOSE_WAIT socket was seen
	spare   map[sockKey]int // last scan's map, reused for the next one
	owners  ownerCache
	targets map[string]*targetState
	logged  map[string]bool // scanner-wide errors already logged
	stats   Stats
	dirBuf  []byte
}

// sockKey identifies a socket across scans: an inode may be reused by a new
// socket, which then has another tuple and starts afresh.
type sockKey struct {
	ns    uint64
	inode uint64
	tuple Tuple
}

// targetState is what the Scanner remembers about a target between scans.
type targetState struct {
	pids     []int
	fdStreak int
	history  map[int]*fdHistory // by pid
	logged   map[string]bool
}

// NewScanner opens the socket reader and returns a Scanner. Close it to
// release the reader.
func NewScanner(opts ScannerOptions) (*Scanner, error) {
	root := opts.ProcRoot
	if root == "" {
		root = "/proc"
	}
	pfs, err := procfs.NewFS(root)
	if err != nil {
		return nil, fmt.Errorf("health: %w", err)
	}
	r := opts.SocketReader
	if r == nil {
		if r, err = NewReader(opts.Reader, root, opts.Log); err != nil {
			return nil, err
		}
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	s := &Scanner{
		procRoot: root,
		fs:       pfs,
		reader:   r,
		log:      opts.Log,
		now:      now,
		streak:   map[sockKey]int{},
		spare:    map[sockKey]int{},
		owners:   newOwnerCache(),
		targets:  map[string]*targetState{},
		logged:   map[string]bool{},
		dirBuf:   make([]byte, 32<<10),
	}
	s.ownNS, _ = netnsInode(root, "self")
	return s, nil
}

// Reader names the socket reader in use ("netlink" or "proc").
func (s *Scanner) Reader() string { return s.reader.Name() }

// Stats returns the work counters.
func (s *Scanner) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Close releases the socket reader.
func (s *Scanner) Close() error { return s.reader.Close() }

// Forget drops what the Scanner remembers of a target: call it when the
// target restarted, so the new process starts with clean persistence and
// slope state instead of inheriting the old one's.
func (s *Scanner) Forget(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts := s.targets[name]
	if ts == nil {
		return
	}
	delete(s.targets, name)
	for _, ino := range s.owners.dropPIDs(ts.pids) {
		for k := range s.streak {
			if k.inode == ino {
				delete(s.streak, k)
			}
		}
	}
}

// Scan judges all targets once and returns their results in order. It
// reads each network namespace the targets live in once, however many
// targets share it. Names key the state kept between scans, so they must be
// unique; state of names absent from targets is dropped.
func (s *Scanner) Scan(targets []Target) []Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Scans++
	s.pruneTargets(targets)

	res := make([]Result, len(targets))
	pols := make([]Policy, len(targets))
	for i, t := range targets {
		pols[i] = t.Policy.withDefaults()
		res[i] = Result{Name: t.Name, PIDs: s.pidsOf(t)}
		s.state(t.Name).pids = res[i].PIDs
	}
	groups := s.groupByNetns(targets, res)
	cw := s.scanCloseWait(targets, pols, res, groups)
	for i, t := range targets {
		if !pols[i].FDs.Disabled {
			res[i].FDs = s.checkFDs(t.Name, pols[i].FDs, res[i].PIDs)
		}
		res[i].CloseWait = len(cw[i])
		res[i].Verdict = verdict(pols[i], cw[i], res[i].FDs, s.state(t.Name).fdStreak)
	}
	return res
}

func (s *Scanner) pidsOf(t Target) []int {
	if t.PID <= 0 {
		return nil
	}
	if t.Descendants {
		return Descendants(s.procRoot, t.PID)
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

// pruneTargets forgets targets that are no longer scanned.
func (s *Scanner) pruneTargets(targets []Target) {
	live := make(map[string]bool, len(targets))
	for _, t := range targets {
		live[t.Name] = true
	}
	for name := range s.targets {
		if !live[name] {
			delete(s.targets, name)
		}
	}
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
