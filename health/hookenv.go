//go:build linux

package health

import (
	"encoding/json"
	"strconv"
)

// HookEnv returns the environment entries that describe a verdict to a
// before-restart hook: RESREAP_CHILD, RESREAP_PID, RESREAP_REASON and
// RESREAP_EVIDENCE (the Evidence as JSON). The values go to the hook as
// environment, never through a shell command line, so a hostile peer
// address cannot inject anything. The caller appends them to os.Environ().
// A nil ev yields an empty reason and "{}".
func HookEnv(child string, pid int, ev *Evidence) []string {
	var reason Reason
	js := []byte("{}")
	if ev != nil {
		reason = ev.Reason
		if b, err := json.Marshal(ev); err == nil {
			js = b
		}
	}
	return []string{
		"RESREAP_CHILD=" + child,
		"RESREAP_PID=" + strconv.Itoa(pid),
		"RESREAP_REASON=" + string(reason),
		"RESREAP_EVIDENCE=" + string(js),
	}
}
