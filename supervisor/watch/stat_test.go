package watch

import (
	"os"
	"testing"
)

func TestParseStat(t *testing.T) {
	tail := " 1 1 0 -1 4194560 1000 0 0 0 5 3 0 0 20 0 4 0 987654 1000000 300 18446744073709551615"
	for _, tc := range []struct {
		in   string
		want procStat
		ok   bool
	}{
		{"4242 (java) S 1" + tail, procStat{Comm: "java", State: 'S', PPID: 1, Start: 987654}, true},
		{"77 (a) b (c)) Z 12" + tail, procStat{Comm: "a) b (c)", State: 'Z', PPID: 12, Start: 987654}, true},
		{"5 (sp ace) R 4" + tail + "\n", procStat{Comm: "sp ace", State: 'R', PPID: 4, Start: 987654}, true},
		{"", procStat{}, false},
		{"4242 java S 1" + tail, procStat{}, false},
		{"4242 (java) S 1 1 1", procStat{}, false},
		{"4242 (java) S x" + tail, procStat{}, false},
		{"4242 (java) SS 1" + tail, procStat{}, false},
	} {
		have, err := parseStat([]byte(tc.in))
		if (err == nil) != tc.ok || have != tc.want {
			t.Errorf("parseStat(%q) = %+v, %v; want %+v, ok %v", tc.in, have, err, tc.want, tc.ok)
		}
	}
}

func TestReadStatSelf(t *testing.T) {
	st, err := readStat("/proc", os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st.PPID != os.Getppid() || st.Start == 0 {
		t.Errorf("readStat(self) = %+v, want ppid %d and a start time", st, os.Getppid())
	}
}

func TestCmdlineString(t *testing.T) {
	for in, want := range map[string]string{
		"java\x00-jar\x00fe.jar\x00": "java -jar fe.jar",
		"nginx: worker process":      "nginx: worker process", // rewritten argv, no NULs
		"":                           "",
		"a\x00\x00b\x00\x00":         "a  b",
	} {
		if have := cmdlineString([]byte(in)); have != want {
			t.Errorf("cmdlineString(%q) = %q, want %q", in, have, want)
		}
	}
}
