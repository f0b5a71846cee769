package control

import (
	"fmt"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ParseSignal turns a signal name into its number. The name is accepted
// with or without the "SIG" prefix and in any case ("HUP", "sighup",
// "SIGHUP"); numbers are refused so that a request means the same signal on
// every architecture.
func ParseSignal(name string) (syscall.Signal, error) {
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

// SignalName is the short name of sig as the history and the reports write
// it: "TERM" for SIGTERM. An unnamed number is written as "SIG35".
func SignalName(sig syscall.Signal) string {
	if n := unix.SignalName(sig); n != "" {
		return strings.TrimPrefix(n, "SIG")
	}
	return fmt.Sprintf("SIG%d", int(sig))
}
