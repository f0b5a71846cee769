//go:build linux

package procfile

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := os.WriteFile(p, []byte("hello world"), 0o600); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if n, err := Read(p, buf); err != nil || string(buf[:n]) != "hello" {
		t.Errorf("cut short: %q, %v", buf[:n], err)
	}
	buf = make([]byte, 64)
	if n, err := Read(p, buf); err != nil || string(buf[:n]) != "hello world" {
		t.Errorf("whole: %q, %v", buf[:n], err)
	}
	if _, err := Read(filepath.Join(dir, "missing"), buf); !os.IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
	// /proc files have no size: the read goes to the end all the same.
	if n, err := Read("/proc/self/stat", buf[:64]); err != nil || n != 64 {
		t.Errorf("/proc/self/stat: %d bytes, %v", n, err)
	}
}

// DirNames lists every entry but . and .., across several getdents of a
// small buffer, and stops when asked.
func TestDirNames(t *testing.T) {
	dir := t.TempDir()
	var want []string
	for i := range 300 {
		name := "entry-" + strconv.Itoa(i)
		want = append(want, name)
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var have []string
	if err := DirNames(dir, make([]byte, 512), func(n []byte) bool { have = append(have, string(n)); return true }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(have)
	slices.Sort(want)
	if !slices.Equal(have, want) {
		t.Errorf("listed %d entries, want %d", len(have), len(want))
	}
	n := 0
	_ = DirNames(dir, make([]byte, 512), func([]byte) bool { n++; return n < 10 })
	if n != 10 {
		t.Errorf("stopped after %d entries, want 10", n)
	}
}

func TestAppendInts(t *testing.T) {
	for _, tc := range []struct {
		data string
		buf  int
		want []int
	}{
		{"", 8, nil},
		{"1\n22\n333\n", 8, []int{1, 22, 333}},
		{"123456 7 89", 2, []int{123456, 7, 89}}, // numbers across reads
		{"4 5", 1, []int{4, 5}},
	} {
		p := filepath.Join(t.TempDir(), "procs")
		if err := os.WriteFile(p, []byte(tc.data), 0o600); err != nil {
			t.Fatal(err)
		}
		fd, err := unix.Open(p, unix.O_RDONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		have := AppendInts([]int{-1}, fd, make([]byte, tc.buf))
		unix.Close(fd)
		if want := append([]int{-1}, tc.want...); !slices.Equal(have, want) {
			t.Errorf("%q through %d bytes: %v, want %v", tc.data, tc.buf, have, want)
		}
	}
}

func TestAtoi(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		ok   bool
	}{
		{"1", 1, true}, {"4194304", 4194304, true}, {"", 0, false}, {"self", 0, false},
		{"-1", 0, false}, {"12a", 0, false}, {"1234567890123456789", 0, false},
	} {
		if n, ok := Atoi([]byte(tc.in)); n != tc.want || ok != tc.ok {
			t.Errorf("Atoi(%q) = %d, %v; want %d, %v", tc.in, n, ok, tc.want, tc.ok)
		}
	}
}

// Reading allocates nothing but the path open(2) takes: that is the point
// of the package.
func TestAllocations(t *testing.T) {
	buf := make([]byte, 4096)
	dirBuf := make([]byte, 8192)
	if a := testing.AllocsPerRun(20, func() {
		_, _ = Read("/proc/self/stat", buf)
		_ = DirNames("/proc/self/fd", dirBuf, func([]byte) bool { return true })
	}); a > 2 {
		t.Errorf("%.0f allocations for two opens", a)
	}
}
