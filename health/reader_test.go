//go:build linux

package health

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

func TestNewReader(t *testing.T) {
	r, err := NewReader(ReaderAuto, "", zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if n := r.Name(); n != ReaderNetlink && n != ReaderProc {
		t.Errorf("auto chose %q", n)
	}
	if _, err := NewReader("carrier-pigeon", "", zerolog.Nop()); !errors.Is(err, ErrReader) {
		t.Errorf("unknown kind: %v", err)
	}
}

// failingReader stands in for a reader whose kernel interface broke.
type failingReader struct{ calls int }

func (f *failingReader) CloseWait(int) ([]Socket, error) {
	f.calls++
	return nil, errors.New("sock_diag: permission denied")
}
func (f *failingReader) Name() string { return "failing" }
func (f *failingReader) Close() error { return nil }

func TestScanErrorLoggedOnce(t *testing.T) {
	var buf bytes.Buffer
	fr := &failingReader{}
	s, err := NewScanner(ScannerOptions{SocketReader: fr, Log: zerolog.New(&buf)})
	if err != nil {
		t.Fatal(err)
	}
	tg := []Target{target("self", os.Getpid())}
	for range 3 {
		if r := s.Scan(tg)[0]; r.Verdict != nil {
			t.Fatalf("verdict from a failing reader: %+v", r.Verdict)
		}
	}
	if fr.calls != 3 {
		t.Errorf("reader called %d times", fr.calls)
	}
	if n := strings.Count(buf.String(), "\n"); n != 1 || !strings.Contains(buf.String(), `"child":"self"`) {
		t.Errorf("log:\n%s\nwant one line naming the child", buf.String())
	}
}
