//go:build linux

package testchild

import (
	"net"
	"net/netip"
	"testing"
)

// ClosingListener listens on addr (e.g. "127.0.0.1:0", "[::1]:0") and
// closes every connection it accepts at once, so the client's end sits in
// CLOSE_WAIT until the client closes it: the leak the health scan exists
// to find. It returns the address it listens on and stops at cleanup.
//
// A machine without IPv6 loopback skips the test (see Need); any other
// failure to listen fails it.
func ClosingListener(tb testing.TB, addr string) string {
	tb.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if ap, perr := netip.ParseAddrPort(addr); perr == nil && ap.Addr().Is6() {
			Need(tb, "IPv6 loopback ("+err.Error()+")", false)
		}
		tb.Fatalf("listen on %s: %v", addr, err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	tb.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}
