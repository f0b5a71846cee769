//go:build linux

package watch

import (
	"os"
	"testing"

	"github.com/prometheus/procfs"
)

func TestReadStatFixtures(t *testing.T) {
	fs, err := procfs.NewFS("testdata/proc")
	if err != nil {
		t.Fatal(err)
	}
	for pid, want := range map[int]procStat{
		4242: {Comm: "java", State: 'S', PPID: 1, Start: 987654},
		77:   {Comm: "a) b (c)", State: 'Z', PPID: 12, Start: 987654}, // parentheses in the name
	} {
		if have, err := readStat(fs, pid); err != nil || have != want {
			t.Errorf("readStat(%d) = %+v, %v; want %+v", pid, have, err, want)
		}
	}
	for pid, want := range map[int]string{4242: "java -jar fe.jar", 77: ""} {
		if have, err := readCmdline(fs, pid); err != nil || have != want {
			t.Errorf("readCmdline(%d) = %q, %v; want %q", pid, have, err, want)
		}
	}
	if _, err := readStat(fs, 5); err == nil {
		t.Error("readStat of a missing pid: no error")
	}
}

func TestReadStatSelf(t *testing.T) {
	fs, err := procfs.NewFS("/proc")
	if err != nil {
		t.Fatal(err)
	}
	st, err := readStat(fs, os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st.PPID != os.Getppid() || st.Start == 0 {
		t.Errorf("readStat(self) = %+v, want ppid %d and a start time", st, os.Getppid())
	}
}
