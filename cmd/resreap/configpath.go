//go:build linux

package main

import (
	"errors"
	"io/fs"
	"os"

	"github.com/resreap/resreap/internal/config"
)

// defaultConfig is the config file of every command that reads one when
// neither -c nor $RESREAP_CONFIG names one.
const defaultConfig = "/etc/resreap/resreap.toml"

// configEnv names the config file when -c does not: set once in a shell
// or a unit, it spares -c on every command.
const configEnv = "RESREAP_CONFIG"

// configFile is the config file a command reads, and where that choice
// came from, for the messages that name it.
type configFile struct {
	path string
	from configFrom
}

// configFrom says what chose a config file.
type configFrom int

const (
	fromFlag    configFrom = iota // -c
	fromEnv                       // $RESREAP_CONFIG
	fromDefault                   // defaultConfig
)

// pickConfig returns the config file of a command: flag (-c) when given,
// else $RESREAP_CONFIG when set, else defaultConfig. An empty value is
// not given.
func pickConfig(flag string) configFile {
	switch {
	case flag != "":
		return configFile{flag, fromFlag}
	case os.Getenv(configEnv) != "":
		return configFile{os.Getenv(configEnv), fromEnv}
	}
	return configFile{defaultConfig, fromDefault}
}

// String names the file and, unless -c named it, what chose it:
// "/etc/resreap/resreap.toml (the default)".
func (c configFile) String() string {
	switch c.from {
	case fromEnv:
		return c.path + " (from $" + configEnv + ")"
	case fromDefault:
		return c.path + " (the default)"
	}
	return c.path
}

// missingDefault reports whether c is the default file and it does not
// exist. Commands that can do without a config (the control commands,
// history) then use what a config would default to; a file that -c or
// $RESREAP_CONFIG names must exist.
func (c configFile) missingDefault() bool {
	if c.from != fromDefault {
		return false
	}
	_, err := os.Stat(c.path)
	return errors.Is(err, fs.ErrNotExist)
}

// describe is the text of err, an error of loading c: a *config.Error
// names the file on each problem already; any other (the file cannot be
// read) is prefixed with the file and what chose it, since the error may
// name only a directory on the way ("open /etc/resreap: no such file").
func (c configFile) describe(err error) string {
	var ce *config.Error
	if errors.As(err, &ce) {
		return err.Error()
	}
	return c.String() + ": " + err.Error()
}
