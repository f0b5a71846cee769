//go:build linux

package config

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// parseSeeds are the seeds of FuzzParse besides the bundled configs.
var parseSeeds = []string{
	"[[child]]\nname = \"a\"\ncommand = [\"x\"]\n",
	"[supervisor]\nhistory_max_size = \"8589934592GB\"\nhistory_keep = 10000000\n[[child]]\nname = \"a\"\ncommand = [\"x\"]\n",
	"[defaults]\nbackoff = { initial = \"0s\", max = \"0s\", multiplier = nan, jitter = inf }\nstart_limit = { burst = 0, interval = \"1ns\" }\n[[child]]\nname = \"a\"\ncommand = [\"x\"]\nhealth.interval = \"1ns\"\n",
	"[[child]]\nname = \"a\"\ncommand = [\"x\"]\nstop = { signals = [\"QUIT\", \"TERM\"], wait = [\"1s\", 2] }\nmemory_max = -1\n",
	"[[child]]\nname = \"a\"\ncommand = [\"x\"]\ndepends_on = [\"b\"]\n[[child]]\nname = \"b\"\ncommand = [\"y\"]\ndepends_on = [\"a\"]\n[child.health]\nclose_wait = { ignore_foreign = [\"[::1]:9000\", \"10.0.0.0/8\"] }\n",
	"[[child]]\n[[child]]\nname = \"\"\n[child.health.fds]\nmax_ratio = 1e400\n",
	"a = [\n[[child]]\n",
	"[[child]]\nname = \"a\"\ncommand = [\"x\"]\nenv = { \"A=B\" = \"\\u0000\" }\n",
	"[[child]]\nname = \"..\"\ncommand = [\"x\"]\n[[child]]\nname = \".\"\ncommand = [\"x\"]\n",
	"[[child]]\nname = \"a\\u001b[2J\"\ncommand = [\"x\"]\ninstances = 2\n[[group]]\nname = \"g/\\u009b\"\nmembers = [\"a\"]\n",
	"[[child]]\nname = \"" + strings.Repeat("n", 300) + "\"\ncommand = [\"x\"]\nstdout = { file = \"/l/{name}/o\" }\n",
}

// FuzzParse feeds the parser arbitrary files. Whatever it gets, it must
// not panic, and a file it accepts must hold only values inside the
// documented ranges, which the supervisor relies on: a config that `resreap
// check` accepts never brings resreap down. Its seeds, the bundled configs
// and the files below, run with every `go test`; `go test -fuzz=FuzzParse`
// explores from them.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("../../configs/*.toml")
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range parseSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse("/etc/resreap/fuzz.toml", data)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || len(e.Problems) == 0 || e.Error() == "" {
				t.Fatalf("error without problems: %#v", err)
			}
			for _, p := range e.Problems {
				if p.Key == "" || p.Msg == "" || p.Line < 0 {
					t.Fatalf("problem %+v", p)
				}
			}
			return
		}
		checkAccepted(t, cfg)
		_ = Host{}.Check(cfg) // the host checks of run and check: no panic either
	})
}

// checkAccepted checks what the supervisor assumes of a parsed Config:
// every value in its range, levels without a cycle, a delay that is never
// negative nor beyond max plus its jitter.
func checkAccepted(t *testing.T, cfg *Config) {
	t.Helper()
	sc := cfg.Supervisor
	if !rangeHistoryMaxSize.ok(sc.HistoryMaxSize) || !rangeHistoryKeep.ok(int64(sc.HistoryKeep)) {
		t.Fatalf("accepted supervisor %+v", sc)
	}
	if len(cfg.Children) == 0 {
		t.Fatal("accepted a config without children")
	}
	for _, c := range cfg.Children {
		b, h := c.Backoff, c.Health
		cw, fd := h.Policy.CloseWait, h.Policy.FDs
		for what, ok := range map[string]bool{
			"name":            nameProblem(c.Base) == "" && (c.Name == c.Base || c.Name == c.Base+"."+strconv.Itoa(c.Instance)),
			"command":         len(c.Command) > 0 && c.Command[0] != "",
			"rlimit_nofile":   c.RlimitNofile == 0 || rangeRlimitNofile.ok(int64(c.RlimitNofile)),
			"memory_max":      rangeMemoryMax.ok(c.MemoryMax),
			"pids_max":        c.PidsMax == 0 || rangePidsMax.ok(c.PidsMax),
			"start_seconds":   rangeStartSeconds.ok(c.StartGrace),
			"backoff":         rangeBackoffInitial.ok(b.Initial) && rangeBackoffMax.ok(b.Max) && b.Max >= b.Initial && rangeResetAfter.ok(b.ResetAfter),
			"multiplier":      rangeBackoffMultiplier.ok(b.Multiplier) && rangeBackoffJitter.ok(b.Jitter),
			"start_limit":     rangeStartLimitBurst.ok(int64(c.StartLimit.Burst)) && rangeStartLimitInterval.ok(c.StartLimit.Interval),
			"stop.kill_wait":  rangeKillWait.ok(c.Stop.KillWait),
			"health.interval": rangeHealthInterval.ok(h.Interval),
			"close_wait":      rangeThreshold.ok(int64(cw.Threshold)) && rangePersist.ok(int64(cw.Persist)),
			"fds":             rangeMaxRatio.ok(fd.MaxRatio) && rangeMaxOpen.ok(int64(fd.MaxOpen)) && rangePersist.ok(int64(fd.Persist)),
			"hook timeout":    rangeHookTimeout.ok(h.BeforeRestart.Timeout),
		} {
			if !ok {
				t.Fatalf("child %q: accepted %s out of range: %+v", c.Name, what, c)
			}
		}
		for _, st := range c.Stop.Steps {
			if !rangeStopWait.ok(st.Wait) || st.Signal <= 0 {
				t.Fatalf("child %q: accepted stop step %+v", c.Name, st)
			}
		}
		for k := range 100 {
			for _, u := range []float64{-1, 0, 0.999} {
				d := b.Delay(k, u)
				if d < 0 || float64(d) > float64(b.Max)*(1+b.Jitter)+1 {
					t.Fatalf("child %q: Delay(%d, %v) = %v with %+v", c.Name, k, u, d, b)
				}
			}
		}
		if math.IsNaN(b.Multiplier) || b.Max > 24*time.Hour {
			t.Fatalf("child %q: backoff %+v", c.Name, b)
		}
	}
	for _, g := range cfg.Groups {
		if nameProblem(g.Name) != "" {
			t.Fatalf("accepted group name %q", g.Name)
		}
	}
	if _, cycle := StartLevels(cfg.Children); cycle != nil {
		t.Fatalf("accepted a dependency cycle %v", cycle)
	}
}
