package control

import (
	"syscall"
	"testing"
)

func TestParseSignal(t *testing.T) {
	tests := []struct {
		name string
		want syscall.Signal
		err  bool
	}{
		{"HUP", syscall.SIGHUP, false},
		{"SIGHUP", syscall.SIGHUP, false},
		{"hup", syscall.SIGHUP, false},
		{"sigterm", syscall.SIGTERM, false},
		{" Quit ", syscall.SIGQUIT, false},
		{"usr2", syscall.SIGUSR2, false},
		{"KILL", syscall.SIGKILL, false},
		{"", 0, true},
		{"SIG", 0, true},
		{"FOO", 0, true},
		{"9", 0, true},
	}
	for _, tt := range tests {
		have, err := ParseSignal(tt.name)
		if have != tt.want || (err != nil) != tt.err {
			t.Errorf("ParseSignal(%q) = %v, %v; want %v, error %v", tt.name, have, err, tt.want, tt.err)
		}
	}
}

func TestSignalName(t *testing.T) {
	for sig, want := range map[syscall.Signal]string{syscall.SIGTERM: "TERM", syscall.SIGKILL: "KILL", 77: "SIG77"} {
		if have := SignalName(sig); have != want {
			t.Errorf("SignalName(%d) = %q, want %q", sig, have, want)
		}
	}
}
