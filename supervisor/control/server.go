//go:build linux

package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// ErrInUse is returned by Listen when another process answers on the
// socket path.
var ErrInUse = errors.New("control socket in use")

// Options configures Listen. The zero value makes a socket only root and
// the owner of the resreap process may use.
type Options struct {
	// Group, when set, names the operators group (a name or a numeric
	// gid): the socket is created 0660 and a missing directory 0750, both
	// owned by that group, and its members are let in. Empty means 0600 and
	// 0700.
	Group string
}

// fileIdent names an inode, so that Close removes the socket only while it
// is still ours.
type fileIdent struct{ dev, ino uint64 }

// Timeouts for one connection. A request is a single short line sent right
// after connecting, so a client that says nothing for readTimeout is gone or
// broken; writeTimeout bounds a client that never reads its answer.
const (
	readTimeout  = 10 * time.Second
	writeTimeout = 10 * time.Second
	maxRequest   = 64 << 10
)

// Server serves the control socket. Make one with Listen, run it with
// Serve, stop it by cancelling Serve's context or with Close.
type Server struct {
	path   string
	ln     *net.UnixListener
	ident  fileIdent // the socket inode, so Close removes only our own
	access access
	log    zerolog.Logger

	mu      sync.Mutex
	cancel  context.CancelFunc // of the running Serve
	serving bool
	closed  bool

	closeOnce sync.Once
	closeErr  error

	open atomic.Int64 // connections being served
}

// Listen creates the control socket at path and returns a Server ready to
// Serve. A missing parent directory is created 0700 (0750 with a group).
// When path exists and a process answers on it, Listen fails with an error
// wrapping ErrInUse that names that process; a socket nobody answers on is
// the leftover of a crash and is replaced. The socket gets its final mode
// and group before it appears at path, so there is no moment when it is
// reachable with wider permissions.
func Listen(path string, opts Options, log zerolog.Logger) (*Server, error) {
	ln, id, acc, err := listenSocket(path, opts)
	if err != nil {
		return nil, err
	}
	log.Debug().Str("socket", path).Str("group", opts.Group).Msg("control socket listening")
	return &Server{path: path, ln: ln, ident: id, access: acc, log: log}, nil
}

// Path returns the socket path the server listens on.
func (s *Server) Path() string { return s.path }

// Serve accepts connections and answers each request with h, one goroutine
// per connection so that a slow command never delays a status. It returns
// nil once ctx is done or Close has been called, after the listener is
// closed and every connection goroutine has returned; handlers see the
// cancellation through their context. Serve may be called only once.
func (s *Server) Serve(ctx context.Context, h Handler) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.mu.Lock()
	switch {
	case s.closed:
		s.mu.Unlock()
		return net.ErrClosed
	case s.serving:
		s.mu.Unlock()
		return errors.New("control: Serve called twice")
	}
	s.serving, s.cancel = true, cancel
	s.mu.Unlock()

	var wg sync.WaitGroup
	defer func() {
		// Whatever ended the loop, handlers still running learn of it
		// through their context, and Serve returns only once the socket
		// is gone and every connection goroutine has returned.
		cancel()
		_ = s.closeListener()
		wg.Wait()
	}()
	stop := context.AfterFunc(ctx, func() { _ = s.closeListener() })
	defer stop()

	var delay time.Duration
	var lastWarn time.Time
	for {
		c, err := s.ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			// EMFILE and friends: the supervisor must outlive an fd
			// shortage, so back off and retry as net/http does.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.log.Warn().Err(err).Str("retry_in", delay.String()).Msg("control socket accept failed")
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
			continue
		}
		delay = 0
		timeout := readTimeout
		if n := s.open.Add(1); n > busyConns {
			// A flood of connections that say nothing must not hold
			// resreap's fds for the whole read timeout; a real client
			// sends its request at once, so it is still answered.
			timeout = busyReadTimeout
			if time.Since(lastWarn) > 10*time.Second {
				s.log.Warn().Int64("open", n).Msg("control socket: many connections open; new ones get " + busyReadTimeout.String() + " to send their request")
				lastWarn = time.Now()
			}
		}
		wg.Go(func() {
			defer s.open.Add(-1)
			s.serveConn(ctx, c, h, timeout)
		})
	}
}

// Past busyConns open connections, a new one gets busyReadTimeout rather
// than readTimeout to send its request.
const (
	busyConns       = 64
	busyReadTimeout = time.Second
)

// Close removes the socket, closes the listener and makes a running Serve
// return. It does not wait for Serve: Serve's return says that every
// connection is done.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	cancel := s.cancel
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	return s.closeListener()
}

// closeListener unlinks the socket before closing the listener: the other
// order would leave a window in which a starting resreap finds a dead
// socket, replaces it, and then has its fresh socket removed by us.
func (s *Server) closeListener() error {
	s.closeOnce.Do(func() {
		if err := removeSocket(s.path, s.ident); err != nil {
			s.closeErr = err
		}
		if err := s.ln.Close(); err != nil && s.closeErr == nil {
			s.closeErr = err
		}
	})
	return s.closeErr
}

// serveConn answers the one request of a connection.
func (s *Server) serveConn(ctx context.Context, c *net.UnixConn, h Handler, timeout time.Duration) {
	defer c.Close()
	p, err := peerCred(c)
	if err != nil {
		s.log.Warn().Err(err).Msg("control socket: cannot read peer credentials")
		return
	}
	log := s.log.With().Uint32("uid", p.UID).Int32("peer_pid", p.PID).Logger()
	if err := s.access.check(p, func() ([]uint32, error) { return peerGroups(c, p.PID) }); err != nil {
		log.Warn().Err(err).Msg("control socket: peer refused")
		s.write(c, log, Response{Error: err.Error(), Code: CodeFailure})
		return
	}

	// Set the deadline before watching ctx: if ctx is already done the
	// watcher runs at once and its past deadline wins.
	_ = c.SetReadDeadline(time.Now().Add(timeout))
	unwatch := context.AfterFunc(ctx, func() { _ = c.SetReadDeadline(time.Unix(1, 0)) })
	req, err := readRequest(c)
	unwatch()
	if err != nil {
		if errors.Is(err, io.EOF) {
			// A Listen probing whether we are alive connects and
			// hangs up without a word.
			log.Debug().Msg("control socket: connection closed without a request")
			return
		}
		if ctx.Err() != nil {
			log.Debug().Err(err).Msg("control socket: shutting down before a request came")
			s.write(c, log, Response{Error: "resreap is shutting down", Code: CodeFailure})
			return
		}
		log.Warn().Err(err).Msg("control socket: no valid request")
		s.write(c, log, Response{Error: err.Error(), Code: CodeUsage})
		return
	}

	start := time.Now()
	resp := dispatch(ctx, h, req)
	// Commands that change something are the audit trail of who did
	// what; status is polled by monitoring and would drown it.
	ev := log.Info()
	if req.Cmd == CmdStatus {
		ev = log.Debug()
	}
	if !resp.OK {
		ev = log.Warn().Str("error", resp.Error).Int("code", resp.Code)
	}
	ev = ev.Str("cmd", req.Cmd)
	if req.Child != "" {
		ev = ev.Str("child", req.Child)
	}
	if req.Signal != "" {
		ev = ev.Str("signal", req.Signal)
	}
	ev.Str("took", time.Since(start).Round(time.Millisecond).String()).Msg("control command")
	s.write(c, log, resp)
}

// readRequest reads one JSON line of at most maxRequest bytes.
func readRequest(r io.Reader) (Request, error) {
	var req Request
	line, err := bufio.NewReaderSize(io.LimitReader(r, maxRequest), 4096).ReadBytes('\n')
	switch {
	case err == nil:
	case !errors.Is(err, io.EOF):
		return req, fmt.Errorf("reading request: %w", err)
	case len(line) == 0:
		return req, io.EOF
	}
	// A last line without its newline (the client half-closed) still counts.
	if err := json.Unmarshal(line, &req); err != nil {
		return req, fmt.Errorf("malformed request: %w", err)
	}
	return req, nil
}

func (s *Server) write(c *net.UnixConn, log zerolog.Logger, resp Response) {
	_ = c.SetWriteDeadline(time.Now().Add(writeTimeout))
	b, err := json.Marshal(resp)
	if err == nil {
		_, err = c.Write(append(b, '\n'))
	}
	if err != nil {
		log.Debug().Err(err).Msg("control socket: writing response")
	}
}
