//go:build linux

package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/resreap/resreap/supervisor/control"
	"github.com/resreap/resreap/supervisor/watch"
)

// command is one command of resreap. The table of them (commands) is the
// one place a command and its flags are declared: dispatch runs them,
// and --help, `resreap help CMD`, the completion scripts and the man page
// are made from the same entries and the same flag sets, so none of them
// can name a flag the command does not have, or miss one.
type command struct {
	name    string
	summary string // one line, for the list of commands
	usage   string // the synopsis: "resreap logs [-c CONFIG] [-f] NAME"
	// examples follow the flags in --help and the man page.
	examples string
	// flags returns a fresh flag set of the command, as it parses its
	// arguments (nil: it takes none of its own).
	flags func() *pflag.FlagSet
	// args are the words its first argument may be, for completion.
	args []string
	// subs are its subcommands (demo backend, demo fe-server).
	subs []command
	run  func(args []string, stdout, stderr io.Writer) int
}

// commands returns the table of resreap's commands, in the order of the
// usage. (A function, not a variable: the runs of help, completion and
// man read the table, and a variable could not refer to them.)
func commands() []command {
	cmds := []command{
		{name: "run", summary: "supervise the children of a config file",
			usage: runUsage, examples: runExamples, flags: fsOf(runFlags), run: runRun},
		{name: "check", summary: "validate a config file, and this host for it",
			usage: checkUsage, examples: checkExamples, flags: fsOf(checkFlags), run: runCheck},
	}
	for _, name := range []string{control.CmdStatus, control.CmdStart, control.CmdStop, control.CmdRestart, control.CmdReload, control.CmdSignal} {
		c := ctlCommands[name]
		cmds = append(cmds, command{name: name, summary: c.summary, usage: ctlUsage(name),
			examples: c.examples, flags: func() *pflag.FlagSet { fs, _ := ctlFlags(name); return fs },
			run: func(args []string, stdout, stderr io.Writer) int { return runCtl(name, args, stdout, stderr) }})
	}
	cmds = append(cmds,
		command{name: "history", summary: "show the restart history",
			usage: historyUsage, examples: historyExamples, flags: fsOf(historyFlags), run: runHistory},
		command{name: "logs", summary: "show a child's output file",
			usage: logsUsage, examples: logsExamples, flags: fsOf(logsFlags), run: runLogs},
		command{name: "probe", summary: "GET resreap's /healthz or /readyz (or a URL); exit 0 on 2xx",
			usage: probeUsage, examples: probeExamples, flags: fsOf(probeFlags), args: []string{"/healthz", "/readyz"}, run: runProbe},
		command{name: "watch", summary: "watch processes resreap does not own (the old watchdog's flags)",
			usage: "resreap watch [flags]", flags: watch.Flags, run: runWatch},
		command{name: "fleet", summary: "the fleet of a [[group]] with fleet = true, over etcd (runs resreap-fleet)",
			usage: "resreap fleet status|restart|cancel GROUP [-c CONFIG] [flags]", args: []string{"status", "restart", "cancel"}, run: runFleet},
		command{name: "demo", summary: "the children of the bundled demo config",
			usage: demoUsage, examples: demoExamples, run: runDemo, subs: []command{
				{name: "backend", usage: demoBackendUsage, summary: "a backend slow to listen that closes every connection",
					flags: fsOf(demoBackendFlags)},
				{name: "fe-server", usage: demoFEUsage, summary: "a front end that leaks CLOSE_WAIT connections to the backend",
					flags: fsOf(demoFEFlags)},
			}},
		command{name: "completion", summary: "print the completion script of a shell",
			usage: completionUsage, examples: completionExamples, flags: bareFlags("completion"),
			args: []string{"bash", "zsh", "fish"}, run: runCompletion},
		command{name: "man", summary: "print the man page, resreap(1), as roff",
			usage: manUsage, examples: manExamples, flags: bareFlags("man"), run: runMan},
		command{name: "help", summary: "show the usage of resreap, or of a command",
			usage: "resreap help [COMMAND [SUBCOMMAND]]", flags: bareFlags("help"), run: runHelp},
		command{name: "version", summary: "print the version",
			usage: "resreap version", flags: bareFlags("version"), run: runVersion},
	)
	for i := range cmds {
		if cmds[i].name == "help" {
			for _, c := range cmds {
				cmds[i].args = append(cmds[i].args, c.name)
			}
		}
	}
	return cmds
}

// fsOf adapts a command's flag constructor to command.flags.
func fsOf[T any](f func() (*pflag.FlagSet, T)) func() *pflag.FlagSet {
	return func() *pflag.FlagSet { fs, _ := f(); return fs }
}

// bareFlags is command.flags for a command with only --help and --version.
func bareFlags(name string) func() *pflag.FlagSet {
	return func() *pflag.FlagSet { return newFlagSet(name) }
}

// find returns the command name of cmds, or nil.
func find(cmds []command, name string) *command {
	i := slices.IndexFunc(cmds, func(c command) bool { return c.name == name })
	if i < 0 {
		return nil
	}
	return &cmds[i]
}

// runCommand runs the command args names.
func runCommand(cmds []command, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage(cmds))
		return 2
	}
	switch args[0] {
	case "-v", "--version":
		return runVersion(nil, stdout, stderr)
	case "-h", "--help":
		fmt.Fprint(stdout, usage(cmds))
		return 0
	}
	c := find(cmds, args[0])
	if c == nil {
		fmt.Fprintf(stderr, "resreap: unknown command %q\n\n%s", args[0], usage(cmds))
		return 2
	}
	return c.run(args[1:], stdout, stderr)
}

// usage is resreap's own usage: every command with its summary.
func usage(cmds []command) string {
	var b strings.Builder
	b.WriteString("usage: resreap <command> [flags]\n\ncommands:\n")
	for _, c := range cmds {
		fmt.Fprintf(&b, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(&b, `
"resreap help COMMAND" or "resreap COMMAND --help" shows the flags and
examples of a command; every command takes --version. The commands that
read a config take -c FILE, else $%s, else
%s. Control commands find the running resreap by its
control_socket, or -s/--socket PATH; in watch, -c, -s and -f are the old
watchdog's command, signal and pattern.
`, configEnv, defaultConfig)
	return b.String()
}

// runHelp: "resreap help" is resreap's usage, "resreap help CMD [SUB]"
// the --help of that command.
func runHelp(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && strings.HasPrefix(args[0], "-") {
		fs := newFlagSet("help")
		if exit, ok := parseArgs(fs, args, "resreap help [COMMAND [SUBCOMMAND]]", "", stdout, stderr); !ok {
			return exit
		}
		args = fs.Args()
	}
	cmds := commands()
	if len(args) == 0 {
		fmt.Fprint(stdout, usage(cmds))
		return 0
	}
	c := find(cmds, args[0])
	if c == nil || len(args) > 2 || len(args) == 2 && find(c.subs, args[1]) == nil {
		fmt.Fprintf(stderr, "resreap help: no command %q\n\n%s", strings.Join(args, " "), usage(cmds))
		return 2
	}
	if c.name == "watch" {
		fmt.Fprint(stdout, watch.Usage)
		return 0
	}
	return c.run(append(args[1:], "--help"), stdout, stderr)
}

// runVersion prints the version.
func runVersion(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("version")
	if exit, ok := parseArgs(fs, args, "resreap version", "", stdout, stderr); !ok {
		return exit
	}
	fmt.Fprintln(stdout, "resreap", version)
	return 0
}
