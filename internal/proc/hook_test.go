//go:build linux

package proc

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/resreap/resreap/internal/testchild"
)

// A hook's exit is its answer: 0 goes ahead, anything else (or its
// timeout) is a veto, and a hook that cannot be run is neither. Its
// output is logged line by line.
func TestRunHook(t *testing.T) {
	for _, tc := range []struct {
		name string
		h    Hook
		veto string // VetoError.Why; "" for nil, "spawn" for a SpawnError
		logs string
	}{
		{name: "agrees", h: Hook{Command: helper(t, "exit", testchild.CodeEnv+"=0"), Timeout: testchild.Timeout},
			logs: `"line":"ready `},
		{name: "vetoes", h: Hook{Command: helper(t, "exit", testchild.CodeEnv+"=3"), Timeout: testchild.Timeout},
			veto: "exit 3"},
		{name: "times out", h: Hook{Command: helper(t, "idle"), Timeout: 300 * time.Millisecond},
			veto: "timed out after 300ms"},
		{name: "cannot run", h: Hook{Command: Command{Path: "/nonexistent/hook", Args: []string{"hook"}}, Timeout: time.Second},
			veto: "spawn"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The hook's output is logged from a goroutine per pipe, all
			// ended when RunHook returns.
			var log bytes.Buffer
			err := RunHook(context.Background(), testReaper, tc.h, zerolog.New(zerolog.SyncWriter(&log)))
			var veto *VetoError
			var se *SpawnError
			switch {
			case tc.veto == "" && err != nil:
				t.Errorf("RunHook: %v, want nil", err)
			case tc.veto == "spawn" && !errors.As(err, &se):
				t.Errorf("RunHook: %v (%T), want a *SpawnError", err, err)
			case tc.veto != "" && tc.veto != "spawn" && (!errors.As(err, &veto) || veto.Why != tc.veto):
				t.Errorf("RunHook: %v, want a veto: %s", err, tc.veto)
			}
			if !strings.Contains(log.String(), tc.logs) {
				t.Errorf("log %q, want %q in it", log.String(), tc.logs)
			}
		})
	}
}
