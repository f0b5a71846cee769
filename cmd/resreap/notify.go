//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	sdnotify "github.com/coreos/go-systemd/v22/daemon"
	"github.com/rs/zerolog"

	"github.com/resreap/resreap/supervisor"
)

// notifyEvery is how often the status line is refreshed and readiness
// looked at.
const notifyEvery = time.Second

// notifySystemd speaks the sd_notify protocol when resreap runs under
// systemd with Type=notify (NOTIFY_SOCKET set), until ctx is done:
//
//	READY=1      once every child marked required is running and ready
//	STATUS=...   a one-line summary of the children, when it changes
//	WATCHDOG=1   at half of WatchdogSec, while the health loop runs
//	STOPPING=1   when ctx is done (shutdown begins)
//
// Without NOTIFY_SOCKET it returns a closed channel at once. The returned
// channel closes when it has stopped.
func notifySystemd(ctx context.Context, sup *supervisor.Supervisor, log zerolog.Logger) <-chan struct{} {
	done := make(chan struct{})
	if os.Getenv("NOTIFY_SOCKET") == "" {
		close(done)
		return done
	}
	watchdog, err := sdnotify.SdWatchdogEnabled(false)
	if err != nil {
		log.Warn().Err(err).Msg("systemd watchdog settings ignored")
	}
	log.Info().Dur("watchdog", watchdog).Msg("systemd notify socket")
	go func() {
		defer close(done)
		n := notifier{sup: sup, log: log}
		tick := time.NewTicker(notifyEvery)
		defer tick.Stop()
		var pings <-chan time.Time
		if watchdog > 0 {
			t := time.NewTicker(watchdog / 2)
			defer t.Stop()
			pings = t.C
		}
		n.update()
		for {
			select {
			case <-ctx.Done():
				n.send("STOPPING=1\nSTATUS=stopping children")
				return
			case <-tick.C:
				n.update()
			case <-pings:
				// A stuck health loop stops the pings, and systemd
				// restarts resreap: that is what the watchdog is for.
				if err := sup.Alive(); err != nil {
					log.Error().Err(err).Msg("not pinging the systemd watchdog")
					continue
				}
				n.send("WATCHDOG=1")
			}
		}
	}()
	return done
}

// notifier remembers what systemd was told.
type notifier struct {
	sup    *supervisor.Supervisor
	log    zerolog.Logger
	ready  bool
	status string
}

// update sends READY=1 the first time every required child is ready,
// and STATUS= when the summary changed.
func (n *notifier) update() {
	var msgs []string
	if !n.ready && n.sup.Alive() == nil && len(n.sup.NotReady()) == 0 {
		n.ready = true
		msgs = append(msgs, "READY=1")
	}
	if s := statusLine(n.sup.Status(), n.sup.NotReady()); s != n.status {
		n.status = s
		msgs = append(msgs, "STATUS="+s)
	}
	if len(msgs) > 0 {
		n.send(strings.Join(msgs, "\n"))
	}
}

func (n *notifier) send(state string) {
	if _, err := sdnotify.SdNotify(false, state); err != nil {
		n.log.Warn().Err(err).Msg("sd_notify")
	}
}

// statusLine is the one-line summary systemctl status shows:
// "3/4 children up; not up: worker (backoff); waiting for: fe-server".
func statusLine(sts []supervisor.ChildStatus, notReady []string) string {
	if len(sts) == 0 {
		return "starting"
	}
	up := 0
	var down []string
	for _, st := range sts {
		if st.Up() {
			up++
			continue
		}
		what := strings.ToLower(st.State.String())
		if st.WaitingFor != "" {
			what = "waiting for " + st.WaitingFor
		}
		down = append(down, fmt.Sprintf("%s (%s)", st.Name, what))
	}
	s := fmt.Sprintf("%d/%s up", up, count(len(sts), "child", "children"))
	if len(down) > 0 {
		slices.Sort(down)
		s += "; not up: " + strings.Join(down, ", ")
	}
	if len(notReady) > 0 {
		s += "; required not ready: " + strings.Join(notReady, ", ")
	}
	return s
}
