package watch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/resreap/resreap/health"
)

// errVeto is wrapped by runHook when the -c command said no.
var errVeto = errors.New("-c command vetoed the signal")

// hookWaitDelay bounds the wait for the hook's output after it exited: a
// background process it left behind may hold the pipe open forever.
const hookWaitDelay = time.Second

// runHook runs the -c command with /bin/sh before c is signalled. The
// verdict reaches it in the environment only (pid=PID as the old tool set
// it, and health.HookEnv's RESREAP_*), never spliced into the command
// string, so a peer address cannot inject shell syntax. Its output goes to
// the log line by line. A nil error means go ahead; an error wrapping
// errVeto means skip the process this time.
func runHook(ctx context.Context, command string, c candidate, ev *health.Evidence, log zerolog.Logger) error {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", command)
	cmd.Env = append(os.Environ(), "pid="+strconv.Itoa(c.PID))
	cmd.Env = append(cmd.Env, health.HookEnv(c.Comm, c.PID, ev)...)
	out := &lineLog{log: log.With().Str("hook", command).Int("pid", c.PID).Logger()}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = hookWaitDelay
	err := cmd.Run()
	out.flush()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return fmt.Errorf("%w (%s)", errVeto, ee.ProcessState)
	case err != nil:
		return fmt.Errorf("%w: %w", errVeto, err)
	}
	return nil
}

// lineLog writes what it is given to the log, one entry per line.
type lineLog struct {
	mu   sync.Mutex
	log  zerolog.Logger
	part []byte
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.part = append(l.part, p...)
	for {
		i := bytes.IndexByte(l.part, '\n')
		if i < 0 {
			break
		}
		l.log.Info().Str("line", string(l.part[:i])).Msg("hook output")
		l.part = l.part[i+1:]
	}
	return len(p), nil
}

func (l *lineLog) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.part) > 0 {
		l.log.Info().Str("line", string(l.part)).Msg("hook output")
		l.part = nil
	}
}
