//go:build linux

package config

import "reflect"

// The file* types mirror the TOML file. Every field is optional (a nil
// pointer means "not set"), so [defaults] and a [[child]] can be merged key
// by key before the result is validated and converted into a ChildSpec.
type fileConfig struct {
	Supervisor fileSupervisor `toml:"supervisor"`
	Defaults   fileChild      `toml:"defaults"`
	Child      []fileChild    `toml:"child"`
	Group      []fileGroup    `toml:"group"`
	Fleet      *fileFleet     `toml:"fleet"` // nil: no [fleet] table
}

type fileGroup struct {
	Name           *string  `toml:"name"`
	Members        []string `toml:"members"`
	MaxUnavailable any      `toml:"max_unavailable"` // a count, or "25%"
	// Fleet makes the group's budget fleet-wide (see fleet.go).
	Fleet               *bool  `toml:"fleet"`
	FleetMaxUnavailable any    `toml:"fleet_max_unavailable"` // a count, or "25%"
	MaxSurge            *int64 `toml:"max_surge"`
}

type fileSupervisor struct {
	StateDir       *string `toml:"state_dir"`
	HistoryFile    *string `toml:"history_file"`
	HistoryMaxSize any     `toml:"history_max_size"` // bytes, or "100MB"
	HistoryKeep    *int    `toml:"history_keep"`
	ControlSocket  *string `toml:"control_socket"`
	ControlGroup   *string `toml:"control_group"`
	Cgroup         *string `toml:"cgroup"`
	MetricsListen  *string `toml:"metrics_listen"`
	Health         struct {
		Reader *string `toml:"reader"`
		Source *string `toml:"source"`
	} `toml:"health"`
}

type fileChild struct {
	Name          *string           `toml:"name"`
	Command       []string          `toml:"command"`
	Dir           *string           `toml:"dir"`
	Env           map[string]string `toml:"env"`
	ClearEnv      *bool             `toml:"clear_env"`
	User          *string           `toml:"user"`
	Group         *string           `toml:"group"`
	RlimitNofile  *int64            `toml:"rlimit_nofile"`
	MemoryMax     any               `toml:"memory_max"` // bytes, or "512MB"
	PidsMax       *int64            `toml:"pids_max"`
	Restart       *string           `toml:"restart"`
	StartGrace    *string           `toml:"start_seconds"`
	Backoff       *fileBackoff      `toml:"backoff"`
	StartLimit    *fileStartLimit   `toml:"start_limit"`
	Stop          *fileStop         `toml:"stop"`
	DependsOn     []string          `toml:"depends_on"`
	Health        *fileHealth       `toml:"health"`
	EnvFile       *string           `toml:"env_file"`
	Ready         *fileReady        `toml:"ready"`
	StartTimeout  *string           `toml:"start_timeout"`
	Liveness      *fileLiveness     `toml:"liveness"`
	Required      *bool             `toml:"required"`
	Stdout        any               `toml:"stdout"` // "inherit", "null" or { file = ... }
	Stderr        any               `toml:"stderr"`
	Instances     *int64            `toml:"instances"`
	Capture       *bool             `toml:"capture"`
	CaptureDir    *string           `toml:"capture_dir"`
	CaptureOutput *string           `toml:"capture_output"`
	CaptureKeep   *int              `toml:"capture_keep"`
	Listen        []fileListen      `toml:"listen"`
	Pass          *string           `toml:"pass"`
	RestartMode   *string           `toml:"restart_mode"`
	PidFile       *string           `toml:"pid_file"`
}

type fileBackoff struct {
	Initial    *string  `toml:"initial"`
	Max        *string  `toml:"max"`
	Multiplier *float64 `toml:"multiplier"`
	Jitter     *float64 `toml:"jitter"`
	ResetAfter *string  `toml:"reset_after"`
}

type fileStartLimit struct {
	Burst    *int    `toml:"burst"`
	Interval *string `toml:"interval"`
}

type fileStop struct {
	Signals  []string `toml:"signals"`
	Wait     any      `toml:"wait"` // "2s", or one duration per signal
	KillWait *string  `toml:"kill_wait"`
}

type fileHealth struct {
	Interval      *string        `toml:"interval"`
	CloseWait     *fileCloseWait `toml:"close_wait"`
	FDs           *fileFDs       `toml:"fds"`
	BeforeRestart *fileHook      `toml:"before_restart"`
	VetoCooldown  *string        `toml:"veto_cooldown"`
}

type fileCloseWait struct {
	Enabled       *bool    `toml:"enabled"`
	Mode          *string  `toml:"mode"`
	Threshold     *int     `toml:"threshold"`
	Persist       *int     `toml:"persist"`
	IgnoreForeign []string `toml:"ignore_foreign"`
}

type fileFDs struct {
	Enabled  *bool    `toml:"enabled"`
	Mode     *string  `toml:"mode"`
	MaxRatio *float64 `toml:"max_ratio"`
	MaxOpen  *int     `toml:"max_open"`
	Persist  *int     `toml:"persist"`
	Predict  *string  `toml:"predict"`
}

type fileHook struct {
	Command []string `toml:"command"`
	Timeout *string  `toml:"timeout"`
}

// mergeInto fills every field of dst that is unset with the value from src,
// descending into nested tables and merging maps key by key (dst wins).
// Both must be pointers to the same struct type.
func mergeInto(dst, src any) {
	mergeValue(reflect.ValueOf(dst).Elem(), reflect.ValueOf(src).Elem())
}

func mergeValue(dst, src reflect.Value) {
	for i := 0; i < dst.NumField(); i++ {
		d, s := dst.Field(i), src.Field(i)
		switch d.Kind() {
		case reflect.Pointer:
			switch {
			case s.IsNil():
			case d.IsNil():
				d.Set(s)
			case d.Elem().Kind() == reflect.Struct:
				merged := reflect.New(d.Elem().Type())
				merged.Elem().Set(d.Elem())
				mergeValue(merged.Elem(), s.Elem())
				d.Set(merged)
			}
		case reflect.Map:
			if s.Len() == 0 {
				continue
			}
			merged := reflect.MakeMap(d.Type())
			for _, k := range s.MapKeys() {
				merged.SetMapIndex(k, s.MapIndex(k))
			}
			for _, k := range d.MapKeys() {
				merged.SetMapIndex(k, d.MapIndex(k))
			}
			d.Set(merged)
		case reflect.Slice, reflect.Interface:
			if d.IsNil() && !s.IsNil() {
				d.Set(s)
			}
		case reflect.Struct:
			mergeValue(d, s)
		}
	}
}
