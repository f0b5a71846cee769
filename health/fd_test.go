//go:build linux

package health

import (
	"math"
	"os"
	"testing"
	"time"

	"github.com/prometheus/procfs"
	"github.com/resreap/resreap/internal/procfile"
	"golang.org/x/sys/unix"
)

func TestFDLimitFixture(t *testing.T) {
	buf := make([]byte, 4096)
	for pid, want := range map[int]uint64{100: 64, 101: 0} {
		have, err := fdLimit("testdata/proc", pid, buf)
		if err != nil || have != want {
			t.Errorf("fdLimit(%d) = %d, %v; want %d", pid, have, err, want)
		}
	}
	if _, err := fdLimit("testdata/proc", 12345, buf); !isGone(err) {
		t.Errorf("missing pid: %v, want ENOENT", err)
	}
}

// TestFDLimitSelf: the parser agrees with procfs and with getrlimit on
// this kernel's limits file.
func TestFDLimitSelf(t *testing.T) {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	want := rl.Cur
	if want == unix.RLIM_INFINITY {
		want = 0
	}
	have, err := fdLimit("/proc", os.Getpid(), make([]byte, 4096))
	if err != nil || have != want {
		t.Errorf("fdLimit(self) = %d, %v; want %d", have, err, want)
	}
	// "/proc/" is not "/proc": the limits file is read, and agrees.
	if have, err := fdLimit("/proc/", os.Getpid(), make([]byte, 4096)); err != nil || have != want {
		t.Errorf("fdLimit(self) from the limits file = %d, %v; want %d", have, err, want)
	}
	p, err := procfs.Self()
	if err != nil {
		t.Fatal(err)
	}
	l, err := p.Limits()
	if err != nil {
		t.Fatal(err)
	}
	if l.OpenFiles != rl.Cur {
		t.Errorf("procfs says %d, getrlimit %d", l.OpenFiles, rl.Cur)
	}
}

func TestParseNofileLimit(t *testing.T) {
	const head = "Limit                     Soft Limit           Hard Limit           Units     \n" +
		"Max processes             96365                96365                processes \n"
	tests := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{head + "Max open files            1024                 524288               files     \n", 1024, true},
		{head + "Max open files            unlimited            unlimited            files     \n", 0, true},
		{"Max open files            64                   4096                 files", 64, true}, // no final newline
		{head, 0, false},
		{"Max open files\n", 0, false},
		{"Max open files            lots                 4096                 files\n", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		have, err := parseNofileLimit([]byte(tt.in))
		if have != tt.want || (err == nil) != tt.ok {
			t.Errorf("parseNofileLimit(%q) = %d, %v; want %d, ok %v", tt.in, have, err, tt.want, tt.ok)
		}
	}
}

func TestParseNofileLimitAllocs(t *testing.T) {
	data := []byte("Limit                     Soft Limit           Hard Limit           Units     \n" +
		"Max open files            1024                 524288               files     \n")
	if n := testing.AllocsPerRun(100, func() { parseNofileLimit(data) }); n != 0 {
		t.Errorf("parseNofileLimit allocates %.0f times", n)
	}
}

func TestFDCountSelf(t *testing.T) {
	buf := make([]byte, 4096)
	before, err := fdCount("/proc", os.Getpid(), buf)
	if err != nil {
		t.Fatal(err)
	}
	var files []*os.File
	for range 5 {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	after, _ := fdCount("/proc", os.Getpid(), buf)
	for _, f := range files {
		f.Close()
	}
	// Other goroutines of the test binary may open fds meanwhile.
	if after < before+5 {
		t.Errorf("fd count %d -> %d after opening 5 files", before, after)
	}
	// The directory walk (kernels before 6.2) agrees with the stat size.
	n := 0
	if err := procfile.DirNames("/proc/self/fd", buf, func([]byte) bool { n++; return true }); err != nil {
		t.Fatal(err)
	}
	if n < before-2 || n > before+8 {
		t.Errorf("DirNames counted %d, stat said about %d", n, before)
	}
}

func TestParseSocketLink(t *testing.T) {
	for in, want := range map[string]uint64{"socket:[123]": 123, "socket:[]": 0, "pipe:[5]": 0, "socket:[x]": 0, "/dev/null": 0} {
		have, ok := parseSocketLink([]byte(in))
		if have != want || ok != (want != 0) {
			t.Errorf("parseSocketLink(%q) = %d %v", in, have, ok)
		}
	}
}

func TestOverFDLimit(t *testing.T) {
	tests := []struct {
		p     FDPolicy
		open  int
		limit uint64
		want  bool
	}{
		{FDPolicy{MaxRatio: 0.9}, 57, 64, false},
		{FDPolicy{MaxRatio: 0.9}, 58, 64, true},
		{FDPolicy{MaxRatio: 0.9}, 1e6, 0, false}, // unlimited
		{FDPolicy{MaxOpen: 100}, 100, 0, true},
		{FDPolicy{MaxOpen: 100}, 99, 1000, false},
		{FDPolicy{}, 64, 64, false},
	}
	for _, tt := range tests {
		if have := overFDLimit(tt.p, tt.open, tt.limit); have != tt.want {
			t.Errorf("overFDLimit(%+v, %d, %d) = %v", tt.p, tt.open, tt.limit, have)
		}
	}
}

func TestFDSlope(t *testing.T) {
	var h fdHistory
	t0 := time.Unix(1000, 0)
	if h.slopePerMin() != 0 {
		t.Error("empty history has a slope")
	}
	for i := range 40 {
		h.add(t0.Add(time.Duration(i)*10*time.Second), 100+5*i) // +5 per 10s = 30/min
	}
	if len(h.n) != fdHistoryLen {
		t.Errorf("history holds %d points", len(h.n))
	}
	if s := h.slopePerMin(); math.Abs(s-30) > 1e-9 {
		t.Errorf("slope %v, want 30", s)
	}
	var flat fdHistory
	flat.add(t0, 5)
	flat.add(t0, 9) // no elapsed time
	if flat.slopePerMin() != 0 {
		t.Error("slope without elapsed time")
	}
}
