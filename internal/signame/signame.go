//go:build linux

// Package signame names signals the way resreap writes and reads them:
// "TERM" for SIGTERM in the history, the logs and the reports; "TERM",
// "SIGTERM", "term" or (where numbers are allowed) "15" on input.
//
// Config, stop escalation, the control socket and the watchdog all import
// it, so a signal is spelt the same everywhere.
package signame

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// ParseName turns a signal name into its number. The name is accepted with
// or without the "SIG" prefix and in any case ("HUP", "sighup", "SIGHUP").
// Numbers are refused: the control socket uses this so that a request
// means the same signal on every architecture.
func ParseName(name string) (unix.Signal, error) {
	n := strings.ToUpper(strings.TrimSpace(name))
	if n == "" {
		return 0, fmt.Errorf("missing signal name")
	}
	if !strings.HasPrefix(n, "SIG") {
		n = "SIG" + n
	}
	sig := unix.SignalNum(n)
	if sig == 0 {
		return 0, fmt.Errorf("unknown signal %q", name)
	}
	return sig, nil
}

// Parse is ParseName that also takes a signal number ("15"), as a config
// file or the watchdog's -s flag may give one.
func Parse(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(strings.TrimSpace(s)); err == nil {
		if n <= 0 || unix.SignalName(unix.Signal(n)) == "" {
			return 0, fmt.Errorf("unknown signal %q", s)
		}
		return unix.Signal(n), nil
	}
	return ParseName(s)
}

// Name is the short name of sig: "TERM" for SIGTERM. A number without a
// name is written "SIG35".
func Name(sig unix.Signal) string {
	if n := unix.SignalName(sig); n != "" {
		return strings.TrimPrefix(n, "SIG")
	}
	return fmt.Sprintf("SIG%d", int(sig))
}
