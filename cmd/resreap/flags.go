//go:build linux

package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/pflag"
)

// Annotations on a flag (pflag.FlagSet.SetAnnotation) that tell the
// completion scripts what its value is: one of fixed words, or a file.
// They sit on the flag itself, so the completions cannot drift from it.
const (
	annotValues = "resreap_values" // the words the value may be
	annotFile   = "resreap_file"   // the value is a file; the words are extensions to prefer ("toml")
)

// newFlagSet returns the flag set of a command, with the flags every
// command has: -h/--help and --version. The errors pflag would print are
// left to parseArgs, which says them in one line.
func newFlagSet(name string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.BoolP("help", "h", false, "show this help: the flags and examples")
	fs.Bool("version", false, "print the version")
	return fs
}

// values annotates the flag name of fs with the words its value may be.
func values(fs *pflag.FlagSet, name string, words ...string) {
	fs.SetAnnotation(name, annotValues, words) //nolint:errcheck // the flag was just defined
}

// fileFlag annotates the flag name of fs as naming a file, of one of the
// extensions exts when there are any.
func fileFlag(fs *pflag.FlagSet, name string, exts ...string) {
	fs.SetAnnotation(name, annotFile, exts) //nolint:errcheck // the flag was just defined
}

// configFlag defines -c/--config, the config file, as every command that
// reads one has it: when not given, $RESREAP_CONFIG, else the default
// path (see pickConfig).
func configFlag(fs *pflag.FlagSet, p *string, what string) {
	fs.StringVarP(p, "config", "c", "", what+" `FILE` (default $"+configEnv+", else "+defaultConfig+")")
	fileFlag(fs, "config", "toml")
}

// parseArgs parses args into fs (made by newFlagSet) for the command
// whose synopsis is usage: -h/--help prints usage, the flags and the
// examples to stdout and returns exit 0, --version prints the version and
// returns exit 0, and a bad flag is named on stderr (pflag's
// ContinueOnError reports nothing itself) with exit 2. ok is true when the
// command should go on.
func parseArgs(fs *pflag.FlagSet, args []string, usage, examples string, stdout, stderr io.Writer) (exit int, ok bool) {
	err := fs.Parse(args)
	switch {
	case err != nil && !errors.Is(err, pflag.ErrHelp):
		fmt.Fprintf(stderr, "resreap %s: %v\nusage: %s (--help for more)\n", fs.Name(), err, usage)
		return 2, false
	case err != nil, flagSet(fs, "help"):
		writeHelp(stdout, fs, usage, examples)
		return 0, false
	case flagSet(fs, "version"):
		fmt.Fprintln(stdout, "resreap", version)
		return 0, false
	}
	return 0, true
}

// writeHelp writes a command's --help: its synopsis, its flags and its
// examples.
func writeHelp(w io.Writer, fs *pflag.FlagSet, usage, examples string) {
	fmt.Fprintf(w, "usage: %s\n\nflags:\n%s", usage, fs.FlagUsages())
	if examples != "" {
		fmt.Fprintf(w, "\nexamples:\n%s", examples)
	}
}

// flagSet reports whether the boolean flag name of fs was given true.
func flagSet(fs *pflag.FlagSet, name string) bool {
	v, err := fs.GetBool(name)
	return err == nil && v
}
