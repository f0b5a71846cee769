//go:build linux

package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/pflag"
)

const completionUsage = "resreap completion bash|zsh|fish"

const completionExamples = `  source <(resreap completion bash)
  resreap completion bash > /usr/share/bash-completion/completions/resreap
  resreap completion zsh  > /usr/share/zsh/site-functions/_resreap
  resreap completion fish > /usr/share/fish/vendor_completions.d/resreap.fish
make install puts all three there (under PREFIX). The scripts complete
the commands, every flag of each (from the flags --help shows), the
values of flags that take one of a few words, and files for -c.
`

// runCompletion prints the completion script of a shell.
func runCompletion(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("completion")
	if exit, ok := parseArgs(fs, args, completionUsage, completionExamples, stdout, stderr); !ok {
		return exit
	}
	if fs.NArg() != 1 {
		fmt.Fprintf(stderr, "usage: %s\n", completionUsage)
		return 2
	}
	cmds := compCommands(commands())
	var err error
	switch fs.Arg(0) {
	case "bash":
		err = writeBash(stdout, cmds)
	case "zsh":
		err = writeZsh(stdout, cmds)
	case "fish":
		err = writeFish(stdout, cmds)
	default:
		fmt.Fprintf(stderr, "resreap completion: no completion for %q: bash, zsh or fish\n", fs.Arg(0))
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "resreap completion: %v\n", err)
		return 1
	}
	return 0
}

// compCommand is a command as the completion scripts and the man page see
// it: its words, its flags as --help lists them, its subcommands.
type compCommand struct {
	name, summary string
	flags         []compFlag
	args          []string
	subs          []compCommand
}

// compFlag is one flag: its names, what it says in --help, and what its
// value may be.
type compFlag struct {
	long, short string
	usage       string   // the --help text, backquotes taken off
	arg         string   // the value's name in --help ("FILE", "duration"); "" for a switch
	words       []string // the words the value may be (annotValues)
	file        bool     // the value is a file (annotFile)
	exts        []string // of these extensions, when a file
}

// compCommands turns the command table into what the generators read.
func compCommands(cmds []command) []compCommand {
	out := make([]compCommand, 0, len(cmds))
	for _, c := range cmds {
		cc := compCommand{name: c.name, summary: c.summary, args: c.args}
		if c.flags != nil {
			cc.flags = compFlags(c.flags())
		}
		cc.subs = compCommands(c.subs)
		for _, s := range cc.subs {
			cc.args = append(cc.args, s.name)
		}
		out = append(out, cc)
	}
	return out
}

// compFlags lists the flags of fs in the order --help shows them.
func compFlags(fs *pflag.FlagSet) []compFlag {
	var out []compFlag
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		arg, usage := pflag.UnquoteUsage(f)
		if f.Value.Type() == "bool" {
			arg = ""
		}
		cf := compFlag{long: f.Name, short: f.Shorthand, usage: usage, arg: arg, words: f.Annotations[annotValues]}
		if exts, ok := f.Annotations[annotFile]; ok {
			cf.file, cf.exts = true, exts
		}
		out = append(out, cf)
	})
	return out
}

// names are the command's flags as typed: "-c --config --dry-run ...".
func (c compCommand) names() []string {
	var out []string
	for _, f := range c.flags {
		if f.short != "" {
			out = append(out, "-"+f.short)
		}
		out = append(out, "--"+f.long)
	}
	return out
}

func commandNames(cmds []compCommand) []string {
	out := make([]string, len(cmds))
	for i, c := range cmds {
		out[i] = c.name
	}
	return out
}

// firstSentence shortens a flag's --help text for a completion menu:
// up to the first ";" or ":" that ends a clause, or the first sentence.
func firstSentence(s string) string {
	for _, sep := range []string{"; ", ": ", ". ", " ("} {
		if i := strings.Index(s, sep); i > 0 {
			s = s[:i]
		}
	}
	return s
}
