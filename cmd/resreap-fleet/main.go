//go:build linux

// Command resreap-fleet talks to the etcd cluster of a [fleet] for
// resreap, so that resreap itself links no etcd client (7.7 MB of RSS in
// every process that links it, fleet or not):
//
//	resreap-fleet agent                      run by resreap: its fleet session (not for people)
//	resreap-fleet status -c FILE GROUP       the fleet group: members, slots, order
//	resreap-fleet restart -c FILE GROUP      a rolling restart order
//	resreap-fleet cancel -c FILE GROUP       cancel the group's order
//
// `resreap fleet ...` runs the last three.
package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/fleet"
	"github.com/resreap/resreap/internal/fleet/link"
)

// socketEnv is supervisor.AgentSocketEnv (the supervisor is not linked
// here).
const socketEnv = "RESREAP_FLEET_SOCKET"

const usage = `usage: resreap-fleet <command> [flags]

commands:
  status  -c FILE GROUP [--json]                               the group fleet-wide: members, slots, order
  restart -c FILE GROUP [--max-unavailable N] [--reason TEXT] [--json]   a rolling restart of every member
  cancel  -c FILE GROUP [--json]                               cancel the group's order
  agent                                                        resreap's fleet session (run by resreap)
`

func main() {
	os.Exit(Main(os.Args[1:], os.Stdout, os.Stderr))
}

// Main runs resreap-fleet with args.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "agent":
		return runAgent(stderr)
	case "status", "restart", "cancel":
		return runCtl(args[0], args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	}
	fmt.Fprintf(stderr, "resreap-fleet: unknown command %q\n\n%s", args[0], usage)
	return 2
}

// runAgent dials resreap at $RESREAP_FLEET_SOCKET and serves it until it
// closes the link (then the lease is revoked) or resreap dies (then the
// kernel kills the agent too, and the lease expires).
func runAgent(stderr io.Writer) int {
	log := zerolog.New(stderr).With().Timestamp().Str("component", "fleet-agent").Logger()
	addr := os.Getenv(socketEnv)
	if addr == "" {
		fmt.Fprintf(stderr, "resreap-fleet agent: $%s is not set: resreap runs the agent itself\n", socketEnv)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), unix.SIGTERM, unix.SIGINT)
	defer stop()
	c, err := net.Dial("unix", addr)
	if err != nil {
		log.Error().Err(err).Msg("cannot reach resreap")
		return 1
	}
	if err := fleet.Serve(ctx, link.NewConn(c), log); err != nil {
		log.Error().Err(err).Msg("fleet agent")
		return 1
	}
	return 0
}
