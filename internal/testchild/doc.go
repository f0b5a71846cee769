//go:build linux

// Package testchild runs the test binary again as a helper child: a real
// process that leaks CLOSE_WAIT sockets, holds file descriptors, ignores
// signals, forks a grandchild or exits after a while. The supervisor, the
// health scan, the watchdog and the command line test themselves against
// such processes rather than mocks.
//
// TestMain hands control to the helper first:
//
//	func TestMain(m *testing.M) {
//		testchild.Main() // returns at once unless this process is a helper
//		os.Exit(m.Run())
//	}
//
// A test then starts a helper with os/exec and waits for its "ready" line,
//
//	addr := testchild.ClosingListener(t, "127.0.0.1:0")
//	c := testchild.Start(t, testchild.Spec{Mode: "leak", Env: []string{testchild.AddrEnv + "=" + addr, testchild.NEnv + "=3"}})
//
// or gives a supervisor the argv and environment of one (Argv, EnvMap).
// Start kills the helper's process group and reaps it at cleanup.
package testchild
