//go:build linux

package signame

import (
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseName(t *testing.T) {
	tests := []struct {
		name string
		want unix.Signal
		err  bool
	}{
		{"HUP", unix.SIGHUP, false},
		{"SIGHUP", unix.SIGHUP, false},
		{"hup", unix.SIGHUP, false},
		{"sigterm", unix.SIGTERM, false},
		{" Quit ", unix.SIGQUIT, false},
		{"usr2", unix.SIGUSR2, false},
		{"KILL", unix.SIGKILL, false},
		{"", 0, true},
		{"SIG", 0, true},
		{"FOO", 0, true},
		{"9", 0, true},
	}
	for _, tt := range tests {
		have, err := ParseName(tt.name)
		if have != tt.want || (err != nil) != tt.err {
			t.Errorf("ParseName(%q) = %v, %v; want %v, error %v", tt.name, have, err, tt.want, tt.err)
		}
	}
}

func TestParse(t *testing.T) {
	for in, want := range map[string]unix.Signal{"TERM": unix.SIGTERM, "sigquit": unix.SIGQUIT, "SIGKILL": unix.SIGKILL, "9": unix.SIGKILL, " hup ": unix.SIGHUP} {
		if got, err := Parse(in); err != nil || got != want {
			t.Errorf("Parse(%q) = %v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "TREM", "SIG", "999", "-1", "0"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q): no error", bad)
		}
	}
}

func TestName(t *testing.T) {
	for sig, want := range map[unix.Signal]string{unix.SIGTERM: "TERM", unix.SIGKILL: "KILL", 77: "SIG77"} {
		if have := Name(sig); have != want {
			t.Errorf("Name(%d) = %q, want %q", sig, have, want)
		}
	}
}
