//go:build linux

package supervisor

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/resreap/resreap/internal/config"
	"github.com/resreap/resreap/internal/fleet/link"
	"github.com/resreap/resreap/internal/proc"
)

// AgentSocketEnv names the variable that tells the fleet agent where to
// dial resreap: an abstract Unix socket ("@resreap-fleet-...").
const AgentSocketEnv = "RESREAP_FLEET_SOCKET"

// agentName is the fleet agent's program, looked for beside resreap's
// own binary, then in PATH.
const agentName = "resreap-fleet"

// Bounds of the agent's life: how long it has to dial back, how long it
// has to revoke its lease and exit when resreap stops, and the delays
// before it is started again after it died.
const (
	agentDialWait  = 10 * time.Second
	agentStopWait  = 5 * time.Second
	agentRetryMin  = time.Second
	agentRetryMax  = 30 * time.Second
	agentHealthyAt = time.Minute // an agent up this long resets the delay
)

// agentCommand is the fleet agent's argv: Options.FleetAgent, [fleet]
// agent, resreap-fleet beside the running resreap, or in PATH.
func agentCommand(opts Options, spec *config.FleetSpec) ([]string, error) {
	if len(opts.FleetAgent) > 0 {
		return opts.FleetAgent, nil
	}
	if spec.Agent != "" {
		return []string{spec.Agent, "agent"}, nil
	}
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), agentName)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return []string{p, "agent"}, nil
		}
	}
	p, err := exec.LookPath(agentName)
	if err != nil {
		return nil, fmt.Errorf("fleet agent: %s is neither beside resreap nor in PATH (set [fleet] agent): %w", agentName, err)
	}
	return []string{p, "agent"}, nil
}

// runAgents keeps a fleet agent running until ctx ends: start it, let it
// dial back, serve the link, and after it died start another after a
// delay. Meanwhile the fleet is unreachable for the budget.
func (l *fleetLink) runAgents(ctx context.Context) {
	delay := agentRetryMin
	for ctx.Err() == nil {
		began := time.Now()
		err := l.runAgent(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(began) > agentHealthyAt {
			delay = agentRetryMin
		}
		l.log.Error().Err(err).Str("retry_in", delay.String()).Msg("fleet agent ended; fleet groups go by [fleet] unreachable meanwhile")
		l.setConn(nil)
		if !sleepFor(ctx, delay) {
			return
		}
		delay = min(2*delay, agentRetryMax)
	}
}

// runAgent runs one agent until it exits or ctx ends.
func (l *fleetLink) runAgent(ctx context.Context) error {
	argv, err := agentCommand(l.s.opts, l.spec)
	if err != nil {
		return err
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	addr := "@resreap-fleet-" + hex.EncodeToString(b[:])
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: addr, Net: "unix"})
	if err != nil {
		return fmt.Errorf("fleet agent socket: %w", err)
	}
	defer ln.Close()
	p, err := l.s.reaper.Spawn(proc.Command{Path: argv[0], Args: argv, ExtraEnv: []string{AgentSocketEnv + "=" + addr}})
	if err != nil {
		return err
	}
	t := p.Target(nil)
	gone := false // its exit was received below
	outDone := l.copyAgentOutput(p.Outputs())
	defer func() {
		if !gone && !t.Wait(context.Background(), agentStopWait) {
			l.log.Warn().Int("pid", p.PID()).Msg("fleet agent still running; killed")
			proc.Escalate(context.Background(), t, proc.Plan{})
		}
		<-outDone
		for _, f := range p.Outputs() {
			if f != nil {
				f.Close()
			}
		}
	}()
	conn, err := acceptAgent(ln, p.PID())
	if err != nil {
		return err
	}
	lc := link.NewConn(conn)
	defer lc.Close()
	l.log.Info().Int("pid", p.PID()).Str("agent", argv[0]).Msg("fleet agent connected")
	if err := lc.Send(l.hello()); err != nil {
		return err
	}
	l.setConn(lc)
	stop := context.AfterFunc(ctx, func() { lc.Close() })
	defer stop()
	readDone := make(chan error, 1)
	go func() { readDone <- l.read(lc) }()
	select {
	case err = <-readDone:
	case ex := <-p.Exit():
		gone = true
		lc.Close()
		<-readDone
		err = fmt.Errorf("fleet agent exited: %s", ex)
	}
	return err
}

// acceptAgent takes the agent's connection: from pid only (SO_PEERCRED),
// within agentDialWait.
func acceptAgent(ln *net.UnixListener, pid int) (*net.UnixConn, error) {
	deadline := time.Now().Add(agentDialWait)
	for {
		if err := ln.SetDeadline(deadline); err != nil {
			return nil, err
		}
		c, err := ln.AcceptUnix()
		if err != nil {
			return nil, fmt.Errorf("fleet agent did not connect: %w", err)
		}
		var cred *unix.Ucred
		var cerr error
		if raw, err := c.SyscallConn(); err == nil {
			_ = raw.Control(func(fd uintptr) { cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED) })
		}
		if cerr == nil && cred != nil && int(cred.Pid) == pid {
			return c, nil
		}
		c.Close() // another process found the abstract name: not ours
	}
}

// copyAgentOutput logs the agent's output lines.
func (l *fleetLink) copyAgentOutput(files []*os.File) <-chan struct{} {
	done := make(chan struct{})
	count := 0
	for _, f := range files {
		if f != nil {
			count++
		}
	}
	finished := make(chan struct{}, len(files))
	for _, f := range files {
		if f == nil {
			continue
		}
		go func() {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				l.log.Info().Str("line", sc.Text()).Msg("fleet agent")
			}
			finished <- struct{}{}
		}()
	}
	go func() {
		for range count {
			<-finished
		}
		close(done)
	}()
	return done
}

// sleepFor sleeps d, or less when ctx ends; it reports whether ctx is
// still live.
func sleepFor(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
