//go:build linux

package proc

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/cgroup"
)

// Socket is one listening socket to bind: a TCP address (IPv4
// "127.0.0.1:8080", IPv6 "[::1]:8080", every IPv4 address ":8080") or
// the path of a unix stream socket, with the length of its accept queue.
type Socket struct {
	// Unix is true for a unix socket at Address (a path); else Address
	// is host:port with a numeric host, or none.
	Unix    bool   `json:"unix,omitempty"`
	Address string `json:"address"`
	// Backlog is listen(2)'s backlog: the connections the kernel
	// accepts while no process calls accept (during a restart); 0 means
	// SOMAXCONN. The kernel caps it at net.core.somaxconn.
	Backlog int `json:"backlog,omitempty"`
}

// String names the socket for logs: "127.0.0.1:8080", "unix:/run/x.sock".
func (s Socket) String() string {
	if s.Unix {
		return "unix:" + s.Address
	}
	return s.Address
}

// The bind helper is this binary re-run with bindVar set: it binds the
// sockets the variable lists (JSON), sends them over the socket pair end
// on bindFD with SCM_RIGHTS, or an error message, and exits. It exists so
// that the sockets are created in a cgroup of the child's (the kernel
// stamps every socket, and every connection accepted on a listener, with
// its creator's cgroup): clone3 places it there before it runs.
const (
	bindVar = "RESREAP_BIND"
	bindFD  = 3
)

// bindWait bounds the wait for the helper's answer and exit: a Go program
// starting on a loaded machine, with a wide margin.
const bindWait = 20 * time.Second

// ErrBind is wrapped by every failure of Bind: a socket that cannot be
// had (address in use, permission), or a helper that did not answer.
var ErrBind = errors.New("bind")

// Bind creates socks as listening sockets and returns them in order
// (close-on-exec in this process; Command.ExtraFiles passes them on). In
// cgroup g (not the zero Group) they are created by a short-lived helper
// placed there by clone3, so that the sockets and every connection
// accepted on them carry g's cgroup id; without one, here. Either way
// all of them are had or none.
func (r *Reaper) Bind(g cgroup.Group, socks []Socket) ([]*os.File, error) {
	if len(socks) == 0 {
		return nil, nil
	}
	if g == (cgroup.Group{}) {
		return BindHere(socks)
	}
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("%w: find own executable: %w", ErrBind, err)
	}
	spec, err := json.Marshal(socks)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBind, err)
	}
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: socketpair: %w", ErrBind, err)
	}
	// Non-blocking, so that the runtime's poller gives the read below a
	// deadline; the helper's end stays blocking.
	if err := unix.SetNonblock(pair[0], true); err != nil {
		unix.Close(pair[0])
		unix.Close(pair[1])
		return nil, fmt.Errorf("%w: %w", ErrBind, err)
	}
	mine, theirs := os.NewFile(uintptr(pair[0]), "bind helper"), os.NewFile(uintptr(pair[1]), "bind helper")
	defer mine.Close()
	p, err := r.Spawn(Command{
		Path: self, Args: []string{self, "bind-helper"}, ClearEnv: true,
		Env:    map[string]string{bindVar: string(spec)},
		Stdout: OutputNull, Stderr: OutputNull, Cgroup: g, ExtraFiles: []*os.File{theirs},
	})
	theirs.Close()
	if err != nil {
		return nil, fmt.Errorf("%w: helper in %s: %w", ErrBind, g.Path(), err)
	}
	files, err := receiveSockets(mine, len(socks))
	select {
	case <-p.Exit():
	case <-time.After(bindWait):
		p.Signal(unix.SIGKILL) //nolint:errcheck // it is reaped below
		<-p.Exit()
		if err == nil {
			err = fmt.Errorf("%w: the helper did not exit", ErrBind)
		}
	}
	if err != nil {
		closeAll(files)
		return nil, err
	}
	return files, nil
}

// receiveSockets reads the helper's answer on conn: n fds, or an error.
func receiveSockets(conn *os.File, n int) ([]*os.File, error) {
	if err := conn.SetReadDeadline(time.Now().Add(bindWait)); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBind, err)
	}
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBind, err)
	}
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(4*n))
	var nb, noob int
	var rerr error
	err = raw.Read(func(fd uintptr) bool {
		nb, noob, _, _, rerr = unix.Recvmsg(int(fd), buf, oob, unix.MSG_CMSG_CLOEXEC)
		return rerr != unix.EAGAIN
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return nil, fmt.Errorf("%w: no answer from the helper: %w", ErrBind, err)
	}
	var files []*os.File
	if msgs, err := unix.ParseSocketControlMessage(oob[:noob]); err == nil {
		for _, m := range msgs {
			fds, err := unix.ParseUnixRights(&m)
			if err != nil {
				continue
			}
			for _, fd := range fds {
				files = append(files, os.NewFile(uintptr(fd), "listener"))
			}
		}
	}
	if msg := string(buf[:nb]); msg != "ok" {
		closeAll(files)
		if nb == 0 {
			msg = "the helper exited without an answer"
		}
		return nil, fmt.Errorf("%w: %s", ErrBind, msg)
	}
	if len(files) != n {
		closeAll(files)
		return nil, fmt.Errorf("%w: the helper sent %d sockets for %d", ErrBind, len(files), n)
	}
	return files, nil
}

// runBindHelper is the helper's whole life, when bindVar is set: bind,
// answer, exit 0 (1 when it could not answer). See RunExecShim.
func runBindHelper() {
	spec, ok := os.LookupEnv(bindVar)
	if !ok {
		return
	}
	var socks []Socket
	var files []*os.File
	err := json.Unmarshal([]byte(spec), &socks)
	if err == nil {
		files, err = BindHere(socks)
	}
	msg, rights := []byte("ok"), []byte(nil)
	if err != nil {
		msg = []byte(err.Error())
	} else {
		fds := make([]int, len(files))
		for i, f := range files {
			fds[i] = int(f.Fd())
		}
		rights = unix.UnixRights(fds...)
	}
	if err := unix.Sendmsg(bindFD, msg, rights, nil, 0); err != nil {
		os.Exit(1)
	}
	os.Exit(0)
}

// BindHere creates socks as listening sockets in this process, all or
// none (see Bind).
func BindHere(socks []Socket) ([]*os.File, error) {
	var files []*os.File
	for _, s := range socks {
		f, err := listenSocket(s)
		if err != nil {
			closeAll(files)
			return nil, fmt.Errorf("%w %s: %w", ErrBind, s, err)
		}
		files = append(files, f)
	}
	return files, nil
}

// listenSocket creates one listening socket with the given backlog (which
// net.Listen does not let one choose), SO_REUSEADDR on TCP so that a
// rebind after resreap restarts does not wait out TIME_WAIT.
func listenSocket(s Socket) (*os.File, error) {
	family, sa, err := sockaddr(s)
	if err != nil {
		return nil, err
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			unix.Close(fd)
		}
	}()
	switch family {
	case unix.AF_INET, unix.AF_INET6:
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
			return nil, fmt.Errorf("SO_REUSEADDR: %w", err)
		}
		if family == unix.AF_INET6 {
			unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1) //nolint:errcheck // the default on most hosts
		}
	case unix.AF_UNIX:
		if err := removeStaleSocket(s.Address); err != nil {
			return nil, err
		}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return nil, fmt.Errorf("bind: %w", err)
	}
	if family == unix.AF_UNIX {
		// As systemd's SocketMode default: connecting needs write
		// permission on the file, and the clients are not resreap's user.
		if err := os.Chmod(s.Address, 0o666); err != nil {
			return nil, err
		}
	}
	backlog := s.Backlog
	if backlog <= 0 {
		backlog = unix.SOMAXCONN
	}
	if err := unix.Listen(fd, backlog); err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	ok = true
	return os.NewFile(uintptr(fd), s.String()), nil
}

// sockaddr is the address of s for bind(2).
func sockaddr(s Socket) (int, unix.Sockaddr, error) {
	if s.Unix {
		return unix.AF_UNIX, &unix.SockaddrUnix{Name: s.Address}, nil
	}
	host, port, err := net.SplitHostPort(s.Address)
	if err != nil {
		return 0, nil, err
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return 0, nil, fmt.Errorf("port %q: %w", port, err)
	}
	if host == "" {
		return unix.AF_INET, &unix.SockaddrInet4{Port: int(p)}, nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return 0, nil, fmt.Errorf("host %q is not a numeric address: %w", host, err)
	}
	if ip.Is4() || ip.Is4In6() {
		return unix.AF_INET, &unix.SockaddrInet4{Port: int(p), Addr: ip.Unmap().As4()}, nil
	}
	sa := &unix.SockaddrInet6{Port: int(p), Addr: ip.As16()}
	if z := ip.Zone(); z != "" {
		ifi, err := net.InterfaceByName(z)
		if err != nil {
			return 0, nil, err
		}
		sa.ZoneId = uint32(ifi.Index)
	}
	return unix.AF_INET6, sa, nil
}

// removeStaleSocket removes a unix socket file that nobody listens on (a
// previous resreap's, after a crash), as bind would fail on it; a live
// one, or anything that is not a socket, is an error.
func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode().Type() != os.ModeSocket {
		return fmt.Errorf("%s exists and is not a socket", path)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("%s: %w (another process listens on it)", path, unix.EADDRINUSE)
	} else if !strings.Contains(err.Error(), "refused") && !errors.Is(err, unix.ECONNREFUSED) {
		return fmt.Errorf("%s: %w", path, err)
	}
	return os.Remove(path)
}
