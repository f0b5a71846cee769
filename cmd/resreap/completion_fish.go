//go:build linux

package main

import (
	"fmt"
	"io"
	"strings"
)

// writeFish writes the fish completion script: one complete line per
// command, subcommand, flag and argument, each conditioned on the words
// before the cursor (__resreap_is CMD [SUB]).
func writeFish(w io.Writer, cmds []compCommand) error {
	var b strings.Builder
	b.WriteString(`# fish completion for resreap; made by "resreap completion fish" from the
# flags that "resreap COMMAND --help" shows.

# __resreap_is CMD [SUB]: the words after resreap start with CMD [SUB].
function __resreap_is
    set -l t (commandline -opc)
    test (count $t) -gt (count $argv); or return 1
    for i in (seq (count $argv))
        set -l j (math $i + 1)
        test "$t[$j]" = "$argv[$i]"; or return 1
    end
end

# __resreap_at N: N words before the cursor.
function __resreap_at
    test (count (commandline -opc)) -eq $argv[1]
end

complete -c resreap -f
`)
	for _, c := range cmds {
		fmt.Fprintf(&b, "complete -c resreap -n '__resreap_at 1' -a %s -d %s\n", fishQuote(c.name), fishQuote(c.summary))
	}
	for _, c := range cmds {
		cond := "__resreap_is " + c.name
		if len(c.subs) == 0 {
			fishCommand(&b, cond, c)
			continue
		}
		for _, s := range c.subs {
			fmt.Fprintf(&b, "complete -c resreap -n %s -a %s -d %s\n", fishQuote(cond+"; and __resreap_at 2"), fishQuote(s.name), fishQuote(s.summary))
			fishCommand(&b, cond+" "+s.name, s)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// fishCommand writes the flags and arguments of one command.
func fishCommand(b *strings.Builder, cond string, c compCommand) {
	b.WriteString("\n")
	for _, f := range c.flags {
		fmt.Fprintf(b, "complete -c resreap -n %s", fishQuote(cond))
		if f.short != "" {
			fmt.Fprintf(b, " -s %s", f.short)
		}
		fmt.Fprintf(b, " -l %s", f.long)
		switch {
		case f.arg == "":
		case len(f.words) > 0:
			fmt.Fprintf(b, " -x -a %s", fishQuote(strings.Join(f.words, " ")))
		case f.file:
			b.WriteString(" -r -F")
		default:
			b.WriteString(" -x")
		}
		fmt.Fprintf(b, " -d %s\n", fishQuote(firstSentence(f.usage)))
	}
	if len(c.args) > 0 {
		fmt.Fprintf(b, "complete -c resreap -n %s -a %s\n", fishQuote(cond+"; and __resreap_at "+fmt.Sprint(len(strings.Fields(cond)))),
			fishQuote(strings.Join(c.args, " ")))
	}
}

// fishQuote quotes s for fish: single quotes, with \ and ' escaped.
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, "'", `\'`).Replace(s) + "'"
}
