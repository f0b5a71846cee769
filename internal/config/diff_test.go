//go:build linux

package config

import (
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestDiff(t *testing.T) {
	base := DefaultChild()
	base.Name, base.Command, base.Env = "fe", []string{"/opt/fe"}, map[string]string{"A": "1"}
	for _, tc := range []struct {
		name    string
		change  func(*ChildSpec)
		keys    []string
		restart bool
	}{
		{"nothing", func(*ChildSpec) {}, nil, false},
		{"command", func(c *ChildSpec) { c.Command = []string{"/opt/fe", "-v"} }, []string{"command"}, true},
		{"env", func(c *ChildSpec) { c.Env = map[string]string{"A": "2"} }, []string{"env"}, true},
		{"threshold only", func(c *ChildSpec) { c.Health.Policy.CloseWait.Threshold = 9 }, []string{"health.close_wait"}, false},
		{"backoff and interval", func(c *ChildSpec) {
			c.Backoff.Max = time.Hour
			c.Health.Interval = time.Second
		}, []string{"backoff", "health.interval"}, false},
		{"output file owner", func(c *ChildSpec) { c.Stdout.Owner = "www" }, []string{"stdout"}, true},
		{"output file group and mode", func(c *ChildSpec) { c.Stderr.Group, c.Stderr.FileMode = "adm", 0o600 }, []string{"stderr"}, true},
		{"listen", func(c *ChildSpec) { c.Listen = []ListenSpec{{Name: "http", Address: "127.0.0.1:8080", Backlog: 10}} }, []string{"listen"}, true},
		{"restart mode", func(c *ChildSpec) { c.RestartMode = RestartSurge }, []string{"restart_mode"}, false},
		{"stop and user", func(c *ChildSpec) {
			c.Stop.Steps = []StopStep{{Signal: 3, Wait: time.Second}}
			c.User = "fe"
		}, []string{"user", "stop"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := base
			b.Env = map[string]string{"A": "1"}
			b.Stop.Steps = slices.Clone(base.Stop.Steps)
			tc.change(&b)
			keys, restart := base.Diff(b)
			if !slices.Equal(keys, tc.keys) || restart != tc.restart {
				t.Errorf("Diff = %v, %v; want %v, %v", keys, restart, tc.keys, tc.restart)
			}
		})
	}
	// Every field of ChildSpec but Name, Base and Instance (the name's
	// parts) is compared: a new field must be added to Diff (and to this
	// count).
	if n := reflect.TypeFor[ChildSpec]().NumField(); n != 31 {
		t.Errorf("ChildSpec has %d fields: add the new ones to Diff", n)
	}
	// stdout and stderr are compared whole with ==: a field of
	// OutputSpec that is not a value (a slice, a pointer) would not be.
	if n := reflect.TypeFor[OutputSpec]().NumField(); n != 8 {
		t.Errorf("OutputSpec has %d fields: check that Diff's == still compares them all", n)
	}
}
