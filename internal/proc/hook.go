//go:build linux

package proc

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Hook is a short command whose exit status is an answer: a child's
// before_restart hook and exec probe, the watchdog's -c. A verdict it is
// asked about reaches it in its environment (ExtraEnv), never through a
// shell string (Args runs a shell only if it names one). Its Cgroup, when
// set, is the child's, so that what the hook leaves behind (a setsid
// process holding its output) goes with the child's stop.
type Hook struct {
	Command
	Timeout time.Duration // then the hook is killed, and that is a veto
}

// VetoError is a hook that said no: it exited non-zero or timed out.
type VetoError struct{ Why string }

func (v *VetoError) Error() string { return "hook vetoed: " + v.Why }

// hookOutputGrace bounds the wait for a hook's output once the hook has
// ended: a process it left behind (a setsid daemon) may hold the pipe open
// for ever, and must not hold up the restart.
const hookOutputGrace = time.Second

// RunHook runs h through r and waits for it, up to its timeout. Its output
// goes to log, line by line. It returns nil to go ahead, a *VetoError to
// leave the process alone this time, or another error when the hook could
// not be run at all (the caller decides what that means). A hook that
// outlives its timeout is killed with its process group; whatever it left
// behind cannot delay RunHook by more than hookOutputGrace.
func RunHook(ctx context.Context, r *Reaper, h Hook, log zerolog.Logger) error {
	p, err := r.Spawn(h.Command)
	if err != nil {
		return err
	}
	outDone := logOutputs(p.outputs, log)
	t := &groupTarget{p: p}
	var veto error
	if !t.Wait(ctx, h.Timeout) {
		e := Escalate(context.Background(), t, Plan{}) // straight to KILL
		veto = &VetoError{Why: fmt.Sprintf("timed out after %s", h.Timeout)}
		if e.Err != nil {
			log.Error().Err(e.Err).Int("pid", p.pid).Msg("hook survived SIGKILL")
		}
	} else if t.exit.Failed() {
		veto = &VetoError{Why: t.exit.String()}
	}
	timer := time.NewTimer(hookOutputGrace)
	select {
	case <-outDone:
	case <-timer.C:
		log.Warn().Msg("hook left a process holding its output; no longer reading it")
	}
	timer.Stop()
	closeAll(p.outputs) // ends the readers if they still run
	<-outDone
	return veto
}

// logOutputs logs every line read from files until they end or are
// closed; the returned channel closes when all readers have returned.
func logOutputs(files []*os.File, log zerolog.Logger) <-chan struct{} {
	var wg sync.WaitGroup
	for _, f := range files {
		if f == nil {
			continue
		}
		wg.Go(func() {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				log.Info().Str("line", sc.Text()).Msg("hook output")
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	return done
}
