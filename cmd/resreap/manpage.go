//go:build linux

package main

import (
	"fmt"
	"io"
	"strings"
)

const manUsage = "resreap man"

const manExamples = `  resreap man > resreap.1 && man ./resreap.1
make install writes it to PREFIX/share/man/man1/resreap.1. It is made
from the same table of commands and flags as --help and the completions.
`

// runMan prints the man page, resreap(1), as roff.
func runMan(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("man")
	if exit, ok := parseArgs(fs, args, manUsage, manExamples, stdout, stderr); !ok {
		return exit
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "usage: %s\n", manUsage)
		return 2
	}
	if err := writeMan(stdout, commands()); err != nil {
		fmt.Fprintf(stderr, "resreap man: %v\n", err)
		return 1
	}
	return 0
}

// manIntro is the man page's text around the commands.
const manIntro = `.SH NAME
resreap \- process supervisor that restarts children leaking CLOSE_WAIT sockets or file descriptors
.SH SYNOPSIS
.B resreap
.I command
.RI [ flags ]
.SH DESCRIPTION
resreap starts the programs listed in a TOML file, each in a cgroup of
its own, restarts them when they die (backoff, start limits), and
restarts them when they go bad: when their sockets stay in CLOSE_WAIT,
when their open files approach RLIMIT_NOFILE, or when their ready probe
stops answering. Stops escalate through the signals each child names and
end with SIGKILL to every process it owns. Every start, exit, verdict and
restart goes to a durable history file, read with
.BR "resreap history" .
.PP
The commands that read a config take
.B \-c
.IR FILE ;
without it they read
.BR $RESREAP_CONFIG ,
else
.IR /etc/resreap/resreap.toml .
Every command takes
.B \-\-help
(its flags and examples) and
.BR \-\-version .
.SH COMMANDS
`

const manOutro = `.SH ENVIRONMENT
.TP
.B RESREAP_CONFIG
the config file of every command that reads one, when
.B \-c
does not name it.
.TP
.B NO_COLOR
when set (to anything), the console log of
.B resreap run \-\-log\-format console
has no colour; nor has it when the log is not a terminal.
.SH FILES
.TP
.I /etc/resreap/resreap.toml
the default config file.
.TP
.I /var/lib/resreap/history.jsonl
the default restart history (history_file), JSON Lines.
.TP
.I /run/resreap/control.sock
the default control socket (control_socket).
.SH EXIT STATUS
0 ok; 1 a runtime failure (resreap not running, a child failed to start
or is not up, another resreap owns the socket); 2 a usage or config
error.
.SH SEE ALSO
.BR systemd.service (5),
.BR cgroups (7),
.BR ss (8)
`

// writeMan writes the man page: every command of cmds with its synopsis,
// summary, flags and examples.
func writeMan(w io.Writer, cmds []command) error {
	var b strings.Builder
	fmt.Fprintf(&b, ".TH RESREAP 1 \"\" %s \"User Commands\"\n", roffQuote("resreap "+version))
	b.WriteString(manIntro)
	for _, c := range cmds {
		manCommand(&b, c.name, c)
		for _, s := range c.subs {
			manCommand(&b, c.name+" "+s.name, s)
		}
	}
	b.WriteString(manOutro)
	_, err := io.WriteString(w, b.String())
	return err
}

// manCommand writes the section of the command name.
func manCommand(b *strings.Builder, name string, c command) {
	fmt.Fprintf(b, ".SS %s\n.nf\n", roffQuote(name))
	for line := range strings.Lines(c.usage) {
		b.WriteString(roffLine(strings.TrimSpace(line)) + "\n")
	}
	fmt.Fprintf(b, ".fi\n.PP\n%s.\n", roffLine(c.summary))
	if c.flags != nil {
		for _, f := range compFlags(c.flags()) {
			b.WriteString(".TP\n")
			names := `\fB\-\-` + roffText(f.long) + `\fR`
			if f.short != "" {
				names = `\fB\-` + roffText(f.short) + `\fR, ` + names
			}
			if f.arg != "" {
				names += ` \fI` + roffText(f.arg) + `\fR`
			}
			b.WriteString(names + "\n" + roffText(f.usage) + "\n")
		}
	}
	if c.examples != "" {
		b.WriteString(".PP\nExamples:\n.nf\n.RS 4\n")
		for line := range strings.Lines(strings.TrimRight(c.examples, "\n")) {
			b.WriteString(roffLine(strings.TrimSuffix(line, "\n")) + "\n")
		}
		b.WriteString(".RE\n.fi\n")
	}
}

// roffText escapes s for running roff text: backslashes and hyphens
// (which roff would print as a hyphen, not the minus of an option).
func roffText(s string) string {
	return strings.NewReplacer(`\`, `\e`, "-", `\-`).Replace(s)
}

// roffLine is roffText for a line of its own: one starting with . or '
// would be a request.
func roffLine(s string) string {
	s = roffText(s)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

// roffQuote is roffText as one argument of a request: in double quotes,
// a quote inside doubled.
func roffQuote(s string) string {
	return `"` + strings.ReplaceAll(roffText(s), `"`, `""`) + `"`
}
