//go:build linux

package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// ErrNotRunning is returned by Dial and Call, wrapped with the path, when
// no resreap listens on the socket: the file is missing, or it is a leftover
// nobody answers on.
var ErrNotRunning = errors.New("resreap is not running")

// Dial connects to the control socket at path.
func Dial(path string) (net.Conn, error) {
	return dial(context.Background(), path)
}

func dial(ctx context.Context, path string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	switch {
	case err == nil:
		return c, nil
	case errors.Is(err, os.ErrNotExist), errors.Is(err, syscall.ECONNREFUSED):
		return nil, fmt.Errorf("%w (no control socket at %s)", ErrNotRunning, path)
	case errors.Is(err, os.ErrPermission):
		return nil, fmt.Errorf("control socket %s: permission denied: %s", path, whoMayConnect(path))
	}
	return nil, fmt.Errorf("control socket %s: %w", path, err)
}

// Call sends req to the resreap listening at path and returns its answer.
// The error is about reaching resreap; what resreap thought of the request
// is in the Response (OK, Error, Code). Cancelling ctx abandons the call but
// not the command: a stop already under way runs to its end.
func Call(ctx context.Context, path string, req Request) (Response, error) {
	c, err := dial(ctx, path)
	if err != nil {
		return Response{}, err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	b, err := json.Marshal(req)
	if err != nil {
		return Response{}, err
	}
	// A server that refuses the peer answers and hangs up without reading,
	// so a failed write is reported only if no answer can be read either.
	_, werr := c.Write(append(b, '\n'))
	line, err := bufio.NewReader(c).ReadBytes('\n')
	if err != nil && len(line) == 0 {
		if werr != nil {
			err = werr
		}
		return Response{}, callErr(ctx, path, err)
	}
	var resp Response
	if err := json.Unmarshal(line, &resp); err != nil {
		return Response{}, fmt.Errorf("control socket %s: malformed response: %w", path, err)
	}
	return resp, nil
}

func callErr(ctx context.Context, path string, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	// The socket's own address in a net.OpError is the temporary name it
	// was bound to before being moved into place: misleading, so left out.
	var op *net.OpError
	if errors.As(err, &op) {
		err = op.Err
	}
	return fmt.Errorf("control socket %s: %w", path, err)
}

// whoMayConnect says who may use the socket at path, from its directory's
// owner and group (resreap makes it 0700, or 0750 with control_group).
func whoMayConnect(path string) string {
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Dir(path), &st); err != nil {
		return "run as root, as resreap's user, or as a member of its control_group"
	}
	owner := strconv.FormatUint(uint64(st.Uid), 10)
	if u, err := user.LookupId(owner); err == nil {
		owner = u.Username
	}
	if st.Mode&0o050 == 0 {
		return fmt.Sprintf("run as root or as %s (resreap's user); no control_group is set", owner)
	}
	group := strconv.FormatUint(uint64(st.Gid), 10)
	if g, err := user.LookupGroupId(group); err == nil {
		group = g.Name
	}
	return fmt.Sprintf("run as root, as %s (resreap's user), or as a member of the control group %q", owner, group)
}
