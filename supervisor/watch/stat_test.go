//go:build linux

package watch

import (
	"os"
	"testing"
)

func TestReadStatFixtures(t *testing.T) {
	files := newProcFiles("testdata/proc", 16) // grown to fit
	for pid, want := range map[int]procStat{
		4242: {Comm: "java", State: 'S', PPID: 1, Start: 987654},
		77:   {Comm: "a) b (c)", State: 'Z', PPID: 12, Start: 987654}, // parentheses in the name
	} {
		if have, err := files.stat(pid); err != nil || have != want {
			t.Errorf("stat(%d) = %+v, %v; want %+v", pid, have, err, want)
		}
	}
	for pid, want := range map[int]string{4242: "java -jar fe.jar", 77: ""} {
		if have, err := files.cmdline(pid); err != nil || string(have) != want {
			t.Errorf("cmdline(%d) = %q, %v; want %q", pid, have, err, want)
		}
	}
	if _, err := files.stat(5); err == nil {
		t.Error("stat of a missing pid: no error")
	}
}

func TestReadStatSelf(t *testing.T) {
	st, err := realProc().stat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st.PPID != os.Getppid() || st.Start == 0 {
		t.Errorf("stat(self) = %+v, want ppid %d and a start time", st, os.Getppid())
	}
}

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		line string
		want procStat
		ok   bool
	}{
		{"1 (systemd) S 0 1 1 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 42 1000 10\n",
			procStat{Comm: "systemd", State: 'S', PPID: 0, Start: 42}, true},
		{"9 ((sd-pam) ) x) R 1 9 9 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 777",
			procStat{Comm: "(sd-pam) ) x", State: 'R', PPID: 1, Start: 777}, true},
		{"9 (a b) Z 3  9 9 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 0", // two spaces
			procStat{Comm: "a b", State: 'Z', PPID: 3, Start: 5}, true},
		{"9 (short) S 1 2 3", procStat{}, false},
		{"9 no name S 1", procStat{}, false},
		{"9 (x) S ppid 9 9 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5", procStat{}, false},
		{"", procStat{}, false},
	} {
		have, err := parseStat([]byte(tc.line))
		if (err == nil) != tc.ok || have != tc.want {
			t.Errorf("parseStat(%q) = %+v, %v; want %+v, ok %v", tc.line, have, err, tc.want, tc.ok)
		}
	}
}

// A command line longer than the buffer is read whole, into a larger one.
func TestCmdlineLong(t *testing.T) {
	files := newProcFiles("/proc", 8)
	want, err := os.ReadFile("/proc/self/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	have, err := files.cmdline(os.Getpid())
	if err != nil || len(have) != len(want)-1 { // without the last NUL
		t.Errorf("cmdline %q (%v), want the %d bytes of %q", have, err, len(want)-1, want)
	}
}
