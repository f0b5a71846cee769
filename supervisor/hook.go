package supervisor

import (
	"bufio"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/resreap/resreap/health"
	"github.com/resreap/resreap/internal/config"
)

// hookVeto is a before-restart hook that said no: a non-zero exit or a
// timeout.
type hookVeto struct {
	why string
}

func (v *hookVeto) Error() string { return "before_restart hook vetoed the restart: " + v.why }

// runHook runs the child's before_restart command, if any, and waits for
// it up to its timeout. The child's name, PID, the reason and the evidence
// (JSON) reach it in RESREAP_* environment variables, never through a
// shell string. Its output goes to the log, line by line. A nil error means
// go ahead; a *hookVeto means do not restart this time.
func (s *Supervisor) runHook(c *child, ev *health.Evidence) error {
	hook := c.spec.Health.BeforeRestart
	if len(hook.Command) == 0 {
		return nil
	}
	spec := config.ChildSpec{Name: c.spec.Name, Command: hook.Command, Dir: c.spec.Dir, Env: c.spec.Env, ClearEnv: c.spec.ClearEnv}
	log := c.log.With().Str("hook", "before_restart").Logger()
	p, err := s.reaper.spawn(&spec, health.HookEnv(c.spec.Name, c.proc.pid, ev)...)
	if err != nil {
		return fmt.Errorf("before_restart: %w", err)
	}
	var wg sync.WaitGroup
	for _, f := range p.outputs {
		wg.Add(1)
		go func(f *os.File) {
			defer wg.Done()
			defer f.Close()
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				log.Info().Str("line", sc.Text()).Msg("hook output")
			}
		}(f)
	}
	timer := time.NewTimer(hook.Timeout)
	defer timer.Stop()
	var ex ExitStatus
	select {
	case ex = <-p.exit:
		killGroupRemains(p.pid, log)
	case <-timer.C:
		rep := stopProcess(p, nil, false, log) // straight to SIGKILL
		wg.Wait()
		return &hookVeto{why: fmt.Sprintf("timed out after %s (%s)", hook.Timeout, rep.Exit)}
	}
	wg.Wait()
	if ex.Failed() {
		return &hookVeto{why: ex.String()}
	}
	log.Info().Msg("before_restart hook agreed")
	return nil
}
