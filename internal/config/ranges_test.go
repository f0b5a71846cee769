//go:build linux

package config

import (
	"strings"
	"testing"
	"time"
)

// Every number and duration has a range; each bound is accepted and the
// value just past it is a problem naming the key, the value and the range.
func TestRanges(t *testing.T) {
	const child = "[[child]]\nname = \"a\"\ncommand = [\"x\"]\n"
	sup := func(line string) string { return "[supervisor]\n" + line + "\n" + child }
	ch := func(line string) string { return child + line + "\n" }
	tests := []struct {
		src  string
		want string // "" = accepted; else a substring of the problem
	}{
		// The values found in the field.
		{sup(`history_max_size = "8589934592GB"`), `supervisor.history_max_size: size "8589934592GB" is too large`},
		{sup(`history_keep = 10000000`), "supervisor.history_keep: 10000000 is out of range: must be between 0 and 1000"},
		{ch(`health.interval = "1ns"`), "child[a].health.interval: 1ns is out of range: must be between 100ms and 1h"},
		{ch(`start_limit = { interval = "1ns" }`), "child[a].start_limit.interval: 1ns is out of range: must be between 1s and 24h"},

		{sup(`history_max_size = "1MB"`), ""},
		{sup(`history_max_size = "1TB"`), ""},
		{sup(`history_max_size = 0`), ""},
		{sup(`history_max_size = "0"`), ""},
		{sup(`history_max_size = 1048575`), "supervisor.history_max_size: 1048575 is out of range: must be between 1MB and 1TB, or 0 (never rotate)"},
		{sup(`history_max_size = "1025GB"`), `"1025GB" is out of range`},
		{sup(`history_max_size = "9223372036854775807"`), "out of range"},
		{sup(`history_max_size = -1`), "negative"},
		{sup(`history_keep = 0`), ""},
		{sup(`history_keep = 1000`), ""},
		{sup(`history_keep = 1001`), "out of range"},
		{sup(`history_keep = -1`), "out of range"},

		{ch(`rlimit_nofile = 1`), ""},
		{ch(`rlimit_nofile = 1073741824`), ""},
		{ch(`rlimit_nofile = 0`), "child[a].rlimit_nofile: 0 is out of range: must be between 1 and 1073741824"},
		{ch(`rlimit_nofile = 1073741825`), "out of range"},
		{ch(`memory_max = "1MB"`), ""},
		{ch(`memory_max = "1PB"`), ""},
		{ch(`memory_max = 0`), ""},
		{ch(`memory_max = "512KB"`), `child[a].memory_max: "512KB" is out of range: must be between 1MB and 1PB, or 0 (no limit)`},
		{ch(`memory_max = "1025TB"`), "out of range"},
		{ch(`memory_max = "1.5GB"`), `bad size "1.5GB"`},
		{ch(`pids_max = 1`), ""},
		{ch(`pids_max = 4194304`), ""},
		{ch(`pids_max = 0`), "out of range"},
		{ch(`pids_max = 4194305`), "out of range"},

		{ch(`start_seconds = "0s"`), ""},
		{ch(`start_seconds = "1h"`), ""},
		{ch(`start_seconds = "61m"`), "child[a].start_seconds: 61m is out of range: must be between 0s and 1h"},
		{ch(`backoff = { initial = "0s", max = "0s" }`), ""},
		{ch(`backoff = { initial = "1h", max = "24h" }`), ""},
		{ch(`backoff = { initial = "61m", max = "24h" }`), "backoff.initial: 61m is out of range"},
		{ch(`backoff = { max = "25h" }`), "backoff.max: 25h is out of range: must be between 0s and 24h"},
		{ch(`backoff = { initial = "10s", max = "5s" }`), "backoff.max: must be >= initial (10s)"},
		{ch(`backoff = { multiplier = 1.0 }`), ""},
		{ch(`backoff = { multiplier = 100.0 }`), ""},
		{ch(`backoff = { multiplier = 0.5 }`), "backoff.multiplier: 0.5 is out of range: must be between 1 and 100"},
		{ch(`backoff = { multiplier = 101.0 }`), "out of range"},
		{ch(`backoff = { multiplier = nan }`), "backoff.multiplier: NaN is out of range"},
		{ch(`backoff = { multiplier = inf }`), "out of range"},
		{ch(`backoff = { jitter = 0.0 }`), ""},
		{ch(`backoff = { jitter = 0.99 }`), ""},
		{ch(`backoff = { jitter = 1.0 }`), "backoff.jitter: 1 is out of range: must be at least 0 and less than 1"},
		{ch(`backoff = { jitter = -0.1 }`), "out of range"},
		{ch(`backoff = { jitter = nan }`), "out of range"},
		{ch(`backoff = { reset_after = "0s" }`), ""},
		{ch(`backoff = { reset_after = "720h" }`), ""},
		{ch(`backoff = { reset_after = "721h" }`), "backoff.reset_after: 721h is out of range: must be between 0s and 720h"},
		{ch(`start_limit = { burst = 1, interval = "1s" }`), ""},
		{ch(`start_limit = { burst = 10000, interval = "24h" }`), ""},
		{ch(`start_limit = { burst = 0 }`), "start_limit.burst: 0 is out of range: must be between 1 and 10000"},
		{ch(`start_limit = { burst = 1000000 }`), "out of range"},
		{ch(`start_limit = { interval = "25h" }`), "out of range"},

		{ch(`stop = { wait = "1ns" }`), ""},
		{ch(`stop = { wait = "1h" }`), ""},
		{ch(`stop = { wait = "0s" }`), "child[a].stop.wait: 0s is out of range: must be more than 0s and at most 1h"},
		{ch(`stop = { signals = ["QUIT", "TERM"], wait = ["1s", "61m"] }`), "stop.wait: 61m is out of range"},
		{ch(`stop = { kill_wait = "100ms" }`), ""},
		{ch(`stop = { kill_wait = "10m" }`), ""},
		{ch(`stop = { kill_wait = "99ms" }`), "stop.kill_wait: 99ms is out of range: must be between 100ms and 10m"},
		{ch(`stop = { kill_wait = "11m" }`), "out of range"},
		{ch("ready = { tcp = \"a:1\" }\nliveness = { failures = 3, interval = \"1s\" }"), ""},
		{ch("ready = { tcp = \"a:1\" }\nliveness = { failures = 3, interval = \"1h\" }"), ""},
		{ch("ready = { tcp = \"a:1\" }\nliveness = { failures = 3, interval = \"500ms\" }"),
			"child[a].liveness.interval: 500ms is out of range: must be between 1s and 1h"},
		{ch("ready = { tcp = \"a:1\" }\nliveness = { failures = 3, interval = \"61m\" }"), "out of range"},

		{ch(`health.interval = "100ms"`), ""},
		{ch(`health.interval = "1h"`), ""},
		{ch(`health.interval = "0s"`), "out of range"},
		{ch(`health.interval = "2h"`), "out of range"},
		{ch(`health.close_wait = { threshold = 1, persist = 1 }`), ""},
		{ch(`health.close_wait = { threshold = 1000000, persist = 100 }`), ""},
		{ch(`health.close_wait = { threshold = 0 }`), "close_wait.threshold: 0 is out of range: must be between 1 and 1000000"},
		{ch(`health.close_wait = { threshold = 1000001 }`), "out of range"},
		{ch(`health.close_wait = { persist = 101 }`), "close_wait.persist: 101 is out of range: must be between 1 and 100"},
		{ch(`health.fds = { max_ratio = 0.0, max_open = 0, persist = 1 }`), ""},
		{ch(`health.fds = { max_ratio = 1.0, max_open = 1073741824, persist = 100 }`), ""},
		{ch(`health.fds = { max_ratio = 1.5 }`), "fds.max_ratio: 1.5 is out of range: must be between 0 and 1 (0 = off)"},
		{ch(`health.fds = { max_ratio = nan }`), "out of range"},
		{ch(`health.fds = { max_open = -1 }`), "out of range"},
		{ch(`health.fds = { max_open = 1073741825 }`), "out of range"},
		{ch(`health.fds = { persist = 0 }`), "fds.persist: 0 is out of range"},
		{ch(`health.before_restart = { command = ["x"], timeout = "100ms" }`), ""},
		{ch(`health.before_restart = { command = ["x"], timeout = "1h" }`), ""},
		{ch(`health.before_restart = { command = ["x"], timeout = "10ms" }`), "before_restart.timeout: 10ms is out of range: must be between 100ms and 1h"},
	}
	for _, tt := range tests {
		cfg, err := Parse("x.toml", []byte(tt.src))
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s\nrejected: %v", tt.src, err)
		case tt.want != "" && err == nil:
			t.Errorf("%s\naccepted (%+v); want %q", tt.src, cfg.Children, tt.want)
		case tt.want != "" && !strings.Contains(err.Error(), tt.want):
			t.Errorf("%s\nerror %v\ndoes not contain %q", tt.src, err, tt.want)
		}
	}
}

// A value from [defaults] that is out of range is blamed once, at its
// line in [defaults].
func TestRangeInheritedBlamedOnce(t *testing.T) {
	src := "[defaults]\nhealth.interval = \"10ms\"\n[[child]]\nname = \"a\"\ncommand = [\"x\"]\n[[child]]\nname = \"b\"\ncommand = [\"x\"]\n"
	_, err := Parse("x.toml", []byte(src))
	want := "x.toml:2: defaults.health.interval: 10ms is out of range: must be between 100ms and 1h"
	if err == nil || err.Error() != want {
		t.Errorf("have %v, want %q", err, want)
	}
}

// Values the kernel cannot pass to a child, or that a child's cgroup or the
// control socket cannot be named after, are problems too.
func TestUnpassableStrings(t *testing.T) {
	const child = "[[child]]\nname = \"a\"\ncommand = [\"x\"]\n"
	tests := []struct{ src, want string }{
		{child + "env = { \"A=B\" = \"1\" }\n", `child[a].env: bad variable name "A=B"`},
		{child + "env = { \"\" = \"1\" }\n", `child[a].env: bad variable name ""`},
		{child + "env = { A = \"x\\u0000y\" }\n", "child[a].env: A: value contains a NUL byte"},
		{"[[child]]\nname = \"a\"\ncommand = [\"x\", \"a\\u0000b\"]\n", "child[a].command: argument 1 contains a NUL byte"},
		{child + "dir = \"/a\\u0000b\"\n", "child[a].dir: contains a NUL byte"},
		{"[[child]]\nname = \"" + strings.Repeat("n", 201) + "\"\ncommand = [\"x\"]\n", `child[0].name: name "nnnnnnnnnnnnnnnn"... is 201 bytes long, more than 64`},
		{"[supervisor]\ncontrol_socket = \"/" + strings.Repeat("s", 107) + "\"\n" + child, "a Unix socket path holds at most 107"},
		{child + "health.before_restart = { command = [\"x\\u0000\"] }\n", "before_restart.command: argument 0 contains a NUL byte"},
	}
	for _, tt := range tests {
		_, err := Parse("x.toml", []byte(tt.src))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s\nerror %v, want %q", tt.src, err, tt.want)
		}
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   any
		want int64
		err  string
	}{
		{int64(0), 0, ""},
		{int64(4096), 4096, ""},
		{"100", 100, ""},
		{"512B", 512, ""},
		{"4k", 4 << 10, ""},
		{"64MB", 64 << 20, ""},
		{"64 MiB", 64 << 20, ""},
		{"1G", 1 << 30, ""},
		{"2TB", 2 << 40, ""},
		{"1PiB", 1 << 50, ""},
		{"8191PB", 8191 << 50, ""},
		{"9223372036854775807", 1<<63 - 1, ""},
		{"8192PB", 0, "too large"},
		{"8589934592GB", 0, "too large"},
		{"9223372036854775808", 0, "too large"},
		{"99999999999999999999KB", 0, "too large"},
		{int64(-1), 0, "negative"},
		{"-1MB", 0, "bad size"},
		{"1.5GB", 0, "bad size"},
		{"MB", 0, "bad size"},
		{"", 0, "bad size"},
		{1.5, 0, "bad size"},
	}
	for _, tt := range tests {
		n, err := parseSize(tt.in)
		switch {
		case tt.err == "" && (err != nil || n != tt.want):
			t.Errorf("parseSize(%#v) = %d, %v; want %d", tt.in, n, err, tt.want)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("parseSize(%#v) = %d, %v; want an error containing %q", tt.in, n, err, tt.err)
		}
	}
}

func TestFormatting(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 100 * time.Millisecond: "100ms", time.Second: "1s", 10 * time.Minute: "10m",
		time.Hour: "1h", 90 * time.Minute: "1h30m", 720 * time.Hour: "720h", 61 * time.Second: "1m1s",
	} {
		if have := fmtDuration(d); have != want {
			t.Errorf("fmtDuration(%v) = %q, want %q", d, have, want)
		}
	}
	for n, want := range map[int64]string{0: "0", 1000: "1000", 1 << 10: "1KB", 1 << 20: "1MB", 3 << 40: "3TB", 1 << 50: "1PB", 1<<20 + 1: "1048577"} {
		if have := fmtSize(n); have != want {
			t.Errorf("fmtSize(%d) = %q, want %q", n, have, want)
		}
	}
}
