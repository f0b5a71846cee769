//go:build linux

package history

import (
	"fmt"
	"strings"
)

// Events lists every event name, in the order of a child's life.
func Events() []Event {
	return []Event{EventOrphaned, EventStart, EventExit, EventUnhealthy, EventWouldRestart, EventCorrelated,
		EventDeferred, EventOrder, EventVeto, EventStop, EventRestart, EventFatal, EventReload, EventFleet}
}

// Known reports whether e is one of the events resreap writes.
func (e Event) Known() bool {
	for _, k := range Events() {
		if e == k {
			return true
		}
	}
	return false
}

// ParseEvents parses a comma-separated list of event names ("restart,stop").
// An unknown name is an error naming it, so a typo does not silently match
// nothing.
func ParseEvents(s string) ([]Event, error) {
	var out []Event
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		e := Event(strings.ToLower(name))
		if !e.Known() {
			return nil, fmt.Errorf("unknown event %q (known: %s)", name, knownList())
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no event named (known: %s)", knownList())
	}
	return out, nil
}

func knownList() string {
	var names []string
	for _, e := range Events() {
		names = append(names, string(e))
	}
	return strings.Join(names, ", ")
}
