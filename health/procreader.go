//go:build linux

package health

import (
	"io"
	"os"
	"strconv"
	"sync"
)

// procReader reads CLOSE_WAIT sockets from /proc/<pid>/net/tcp{,6}. Those
// files show the network namespace of pid, so a child in a container is
// read in its own namespace for free. It is the fallback: the kernel
// formats every socket of the namespace as text, which is an order of
// magnitude more work than a filtered sock_diag dump.
type procReader struct {
	mu       sync.Mutex
	procRoot string
	buf      []byte
	out      []Socket
}

func newProcReader(procRoot string) *procReader {
	return &procReader{procRoot: procRoot, buf: make([]byte, 0, 64<<10)}
}

func (r *procReader) Name() string { return ReaderProc }

func (r *procReader) Close() error { return nil }

// CloseWait reads both files of pid's namespace; pid 0 means the
// supervisor's own ("self").
func (r *procReader) CloseWait(pid int) ([]Socket, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := "self"
	if pid > 0 {
		p = strconv.Itoa(pid)
	}
	r.out = r.out[:0]
	for _, name := range [...]string{"/net/tcp", "/net/tcp6"} {
		data, err := r.read(r.procRoot + "/" + p + name)
		if err != nil {
			if name == "/net/tcp6" && os.IsNotExist(err) {
				continue // kernel without IPv6
			}
			return nil, err
		}
		if r.out, err = parseProcNetTCP(data, r.out); err != nil {
			return nil, err
		}
	}
	return r.out, nil
}

// read fills the reader's buffer with the file, growing it as needed; proc
// files have no size, so os.ReadFile would start small every time.
func (r *procReader) read(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := r.buf[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := f.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	r.buf = b
	return b, nil
}
