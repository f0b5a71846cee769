//go:build linux

package supervisor

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/cgroup"
)

// notifier is the datagram socket children tell resreap about themselves
// on, with systemd's notify protocol (sd_notify(3)): READY=1 when a
// generation is ready (ready = { notify = true }), MAINPID= when the main
// process handed over to a successor, STATUS= and STOPPING=1 for the log.
// It is given to a child as NOTIFY_SOCKET.
//
// The socket is in the abstract namespace ("@resreap/<pid>/<random>/
// notify"), not a file in the state directory: a child that runs as
// another user could not reach a file under the 0750 state directory,
// and an abstract socket has no file for anyone to plant or remove. Who
// may speak is decided per message, as systemd's NotifyAccess=all within
// the service's cgroup: the kernel attaches the sender's credentials
// (SO_PASSCRED), and a message counts only for the generation whose
// cgroup the sending process is in (without cgroups: the generation's
// main process or a process of its group). Anything else is dropped.
type notifier struct {
	conn *net.UnixConn
	addr string
	log  zerolog.Logger
	done chan struct{}

	mu      sync.Mutex
	waiters map[string]chan struct{} // barriers sent and not yet read back
}

// notice is one message of a child: the generation it is about (the
// PID of its main process), the process that sent it, its assignments.
type notice struct {
	gen, sender int
	vars        map[string]string
}

// noticeQueue bounds the messages waiting for a busy child; more are
// dropped (a child that floods STATUS= loses some, READY=1 is sent again
// by a well-behaved one at worst once per state change).
const noticeQueue = 16

// newNotifier opens the notify socket; nil (and the error) when it cannot
// be had: children are then started without NOTIFY_SOCKET.
func newNotifier(log zerolog.Logger) (*notifier, error) {
	var r [6]byte
	rand.Read(r[:]) //nolint:errcheck // never fails (crypto/rand)
	addr := "@resreap/" + strconv.Itoa(os.Getpid()) + "/" + hex.EncodeToString(r[:]) + "/notify"
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		return nil, err
	}
	raw, err := conn.SyscallConn()
	if err == nil {
		cerr := raw.Control(func(fd uintptr) { err = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1) })
		err = errors.Join(err, cerr)
	}
	if err != nil {
		conn.Close()
		return nil, err
	}
	return &notifier{conn: conn, addr: addr, log: log, done: make(chan struct{}), waiters: map[string]chan struct{}{}}, nil
}

// address is NOTIFY_SOCKET's value; "" without a notifier.
func (n *notifier) address() string {
	if n == nil {
		return ""
	}
	return n.addr
}

// run reads messages until close, handing each to deliver with the
// sender's PID.
func (n *notifier) run(deliver func(pid int, vars map[string]string)) {
	defer close(n.done)
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred))
	for {
		nb, noob, _, _, err := n.conn.ReadMsgUnix(buf, oob)
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			continue
		}
		pid := senderPID(oob[:noob])
		if pid <= 0 {
			n.log.Debug().Msg("notify message without credentials dropped")
			continue
		}
		vars := parseNotice(string(buf[:nb]))
		if token, ok := vars[barrierVar]; ok && pid == os.Getpid() {
			n.mu.Lock()
			if ch := n.waiters[token]; ch != nil {
				close(ch)
				delete(n.waiters, token)
			}
			n.mu.Unlock()
			continue
		}
		deliver(pid, vars)
	}
}

// barrierVar is the variable of a message resreap sends itself (see
// barrier).
const barrierVar = "RESREAP_BARRIER"

// barrierWait bounds barrier: the reader is never blocked for long.
const barrierWait = 2 * time.Second

// barrier returns once every message sent to the socket before it was
// called has been delivered: it sends one of its own and waits for it to
// come back through the reader. A child's main process that sent
// MAINPID= and exited has its message queued before its exit is seen,
// but maybe not read yet.
func (n *notifier) barrier() {
	if n == nil {
		return
	}
	var r [8]byte
	rand.Read(r[:]) //nolint:errcheck // never fails (crypto/rand)
	token := hex.EncodeToString(r[:])
	ch := make(chan struct{})
	n.mu.Lock()
	n.waiters[token] = ch
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		delete(n.waiters, token)
		n.mu.Unlock()
	}()
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: n.addr, Net: "unixgram"})
	if err != nil {
		return
	}
	_, err = conn.Write([]byte(barrierVar + "=" + token))
	conn.Close()
	if err != nil {
		return
	}
	select {
	case <-ch:
	case <-time.After(barrierWait):
	case <-n.done:
	}
}

// takeNotices acts on the messages queued for the child now, once those
// sent before are in (see barrier): what its exiting main process said
// last (MAINPID=) is known before its exit is handled.
func (c *child) takeNotices() {
	if !c.wantsNotify() {
		return
	}
	c.sup.notify.barrier()
	for {
		select {
		case n := <-c.notices:
			c.noticed(n)
		default:
			return
		}
	}
}

// close ends run and closes the socket.
func (n *notifier) close() {
	if n == nil {
		return
	}
	n.conn.Close()
	<-n.done
}

// senderPID is the PID in the SCM_CREDENTIALS of a message; 0 when none.
func senderPID(oob []byte) int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0
	}
	for _, m := range msgs {
		if cred, err := unix.ParseUnixCredentials(&m); err == nil {
			return int(cred.Pid)
		}
	}
	return 0
}

// parseNotice reads a message's newline-separated assignments.
func parseNotice(msg string) map[string]string {
	vars := map[string]string{}
	for _, line := range strings.Split(msg, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && k != "" {
			vars[k] = v
		}
	}
	return vars
}

// deliverNotice finds the child and generation the sender belongs to and
// queues the message for it.
func (s *Supervisor) deliverNotice(pid int, vars map[string]string) {
	path := ""
	if s.own.cgroups() {
		var err error
		if path, err = cgroup.ProcCgroup(pid); err != nil {
			return // gone already
		}
	}
	pgid, _ := unix.Getpgid(pid)
	for _, c := range s.childList() {
		gen, ok := c.generationOf(pid, pgid, path)
		if !ok {
			continue
		}
		select {
		case c.notices <- notice{gen: gen, sender: pid, vars: vars}:
		default:
			c.log.Debug().Int("pid", pid).Msg("notify message dropped: the child is busy")
		}
		return
	}
	s.log.Debug().Int("pid", pid).Str("cgroup", path).Msg("notify message from no child's process dropped")
}

// genRef is one live generation of a child, for deliverNotice: its main
// process, and its cgroup's path ("" without one).
type genRef struct {
	pid  int
	leaf string
}

// setGens records the child's live generations.
func (c *child) setGens(gens ...genRef) {
	c.gensMu.Lock()
	defer c.gensMu.Unlock()
	c.gens = gens
}

// generationOf says which live generation of the child the process pid
// (of process group pgid, in the cgroup at path) belongs to.
func (c *child) generationOf(pid, pgid int, path string) (int, bool) {
	c.gensMu.Lock()
	defer c.gensMu.Unlock()
	for _, g := range c.gens {
		switch {
		case g.leaf != "" && path == g.leaf:
			return g.pid, true
		case g.leaf == "" && (pid == g.pid || pgid == g.pid):
			return g.pid, true
		}
	}
	return 0, false
}

// noticed acts on a message about the child's current generation; one
// about another (an old generation draining, a new one during a surge,
// which waits for its own) is not acted on here.
func (c *child) noticed(n notice) {
	if c.proc == nil || n.gen != c.proc.PID() {
		return
	}
	log := c.log.With().Int("pid", n.sender).Logger()
	if st, ok := n.vars["STATUS"]; ok {
		log.Info().Str("status", st).Msg(c.name + ": " + st)
	}
	if n.vars["STOPPING"] == "1" {
		log.Info().Msg(c.name + " says it is stopping")
	}
	if m, ok := n.vars["MAINPID"]; ok {
		c.noteMainPID(m, n.sender)
	}
	if n.vars["READY"] == "1" && c.spec.Ready.Notify && c.status().State == Starting {
		c.cancelTimer()
		c.running("ready: READY=1 from pid " + strconv.Itoa(n.sender))
	}
}
