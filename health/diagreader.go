//go:build linux

package health

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// diagReader reads CLOSE_WAIT sockets with NETLINK_SOCK_DIAG. It talks to
// the kernel through x/sys/unix rather than a netlink library so that the
// socket and the receive buffer live across scans and a dump is decoded in
// place: a tick costs one sendto and a few recvfrom, with no allocation per
// socket. Both families come from one request where the kernel takes it
// (tcpDiagRequest), else from one request each.
type diagReader struct {
	mu       sync.Mutex
	procRoot string
	fd       int    // sock_diag socket of the supervisor's own namespace
	ownNS    uint64 // inode of that namespace
	seq      uint32
	both     bool // TCPDIAG_GETSOCK answers for both families
	req      [nlmsgHdrLen + inetDiagReqV2Len]byte
	reqBoth  [nlmsgHdrLen + inetDiagReqLen]byte
	buf      []byte
	out      []Socket
}

func newDiagReader(procRoot string) (*diagReader, error) {
	fd, err := openDiag()
	if err != nil {
		return nil, err
	}
	r := &diagReader{procRoot: procRoot, fd: fd, buf: make([]byte, 64<<10)}
	r.ownNS, _ = netnsInode(procRoot, "self")
	// Probe with a real request: sock_diag may exist but have no inet
	// handler (inet_diag not loaded), which only shows on the first request.
	// Asking for no state makes the kernel skip its socket tables, so the
	// probe costs nothing on a host with 100k connections. The request for
	// both families is tried first; a kernel that refuses it gets one
	// request per family.
	r.both = true
	if _, err := r.dump(fd, 0); err == nil {
		return r, nil
	}
	r.both = false
	if _, err := r.dump(fd, 0); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return r, nil
}

func openDiag() (int, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return -1, fmt.Errorf("sock_diag socket: %w", err)
	}
	// A dump is answered at once; the timeout only keeps a broken kernel
	// path from stalling the scan loop forever.
	tv := unix.Timeval{Sec: 5}
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	return fd, nil
}

// openDiagIn opens a sock_diag socket inside the network namespace at
// nsPath. A netlink socket stays bound to the namespace it was created in,
// so only the creation runs on a thread switched with setns. The work runs
// on its own goroutine: if switching back fails, the goroutine exits with
// the thread still locked and the runtime discards that thread instead of
// reusing it in the wrong namespace.
func openDiagIn(nsPath string) (int, error) {
	type res struct {
		fd  int
		err error
	}
	ch := make(chan res, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- res{-1, err}
			return
		}
		defer unix.Close(orig)
		target, err := unix.Open(nsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- res{-1, err}
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- res{-1, fmt.Errorf("setns %s: %w", nsPath, err)}
			return
		}
		fd, serr := openDiag()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			if serr == nil {
				unix.Close(fd)
			}
			ch <- res{-1, fmt.Errorf("setns back: %w", err)}
			return // thread stays locked and dies with the goroutine
		}
		runtime.UnlockOSThread()
		ch <- res{fd, serr}
	}()
	r := <-ch
	return r.fd, r.err
}

func (r *diagReader) Name() string { return ReaderNetlink }

func (r *diagReader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fd < 0 {
		return nil
	}
	err := unix.Close(r.fd)
	r.fd = -1
	return err
}

// CloseWait dumps the namespace of pid. The supervisor's own namespace uses
// the long-lived socket; another namespace gets a socket opened for this
// call and closed after it, because a cached socket would pin a namespace
// whose container is gone.
func (r *diagReader) CloseWait(pid int) ([]Socket, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fd < 0 {
		return nil, errors.New("sock_diag reader closed")
	}
	fd := r.fd
	if pid > 0 {
		p := strconv.Itoa(pid)
		ns, err := netnsInode(r.procRoot, p)
		if err == nil && r.ownNS != 0 && ns != r.ownNS {
			fd, err = openDiagIn(r.procRoot + "/" + p + "/ns/net")
			if err != nil {
				return nil, err
			}
			defer unix.Close(fd)
		}
	}
	return r.dump(fd, stateCloseWait)
}

// dump asks for the sockets in states, of both families, with one request
// or two (diagReader.both), and decodes the replies into r.out.
func (r *diagReader) dump(fd int, states uint32) ([]Socket, error) {
	r.out = r.out[:0]
	if r.both {
		r.seq++
		return r.out, r.request(fd, tcpDiagRequest(&r.reqBoth, states, r.seq))
	}
	for _, fam := range [...]uint8{unix.AF_INET, unix.AF_INET6} {
		r.seq++
		if err := r.request(fd, diagRequest(&r.req, fam, states, r.seq)); err != nil {
			return nil, err
		}
	}
	return r.out, nil
}

// request sends one dump request and appends its reply's sockets to r.out.
func (r *diagReader) request(fd int, req []byte) error {
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("sock_diag send: %w", err)
	}
	for done := false; !done; {
		n, _, err := unix.Recvfrom(fd, r.buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("sock_diag recv: %w", err)
		}
		r.out, done, err = parseDiagDump(r.buf[:n], r.seq, r.out)
		if err != nil {
			return err
		}
	}
	return nil
}
