//go:build linux

package main

import (
	"fmt"
	"io"
	"strings"
)

// writeBash writes the bash completion script: the first word is a
// command, a demo's second its subcommand; then a value for the flag
// before the cursor, or the command's own flags, or the words its first
// argument may be.
func writeBash(w io.Writer, cmds []compCommand) error {
	var b strings.Builder
	fmt.Fprintf(&b, `# bash completion for resreap; made by "resreap completion bash" from the
# flags that "resreap COMMAND --help" shows.
_resreap_files() {
    local IFS=$'\n' ext=$1
    if [[ -n $ext ]]; then
        COMPREPLY=($(compgen -f -X "!*.$ext" -- "$cur") $(compgen -d -- "$cur"))
    else
        COMPREPLY=($(compgen -f -- "$cur"))
    fi
    compopt -o filenames 2>/dev/null
}

_resreap() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    if [[ $prev == "=" && $COMP_CWORD -gt 1 ]]; then
        prev=${COMP_WORDS[COMP_CWORD-2]}
    fi
    if ((COMP_CWORD == 1)); then
        COMPREPLY=($(compgen -W "%s" -- "$cur"))
        return
    fi
    local cmd=${COMP_WORDS[1]}
    if [[ $cmd == demo ]]; then
        if ((COMP_CWORD == 2)); then
            COMPREPLY=($(compgen -W "backend fe-server" -- "$cur"))
            return
        fi
        cmd="demo ${COMP_WORDS[2]}"
    fi
    case $cmd in
`, strings.Join(commandNames(cmds), " "))
	for _, c := range cmds {
		if len(c.subs) == 0 {
			bashCase(&b, c.name, c)
		}
		for _, s := range c.subs {
			bashCase(&b, c.name+" "+s.name, s)
		}
	}
	b.WriteString(`    esac
}
complete -F _resreap resreap
`)
	_, err := io.WriteString(w, b.String())
	return err
}

// bashCase writes the case of one command (pattern: "run", "demo backend").
func bashCase(b *strings.Builder, pattern string, c compCommand) {
	fmt.Fprintf(b, "    %q)\n        case $prev in\n", pattern)
	for _, f := range c.flags {
		if f.arg == "" {
			continue
		}
		names := "--" + f.long
		if f.short != "" {
			names = "-" + f.short + "|" + names
		}
		switch {
		case len(f.words) > 0:
			fmt.Fprintf(b, "            %s) COMPREPLY=($(compgen -W %q -- \"$cur\")); return ;;\n", names, strings.Join(f.words, " "))
		case f.file:
			fmt.Fprintf(b, "            %s) _resreap_files %q; return ;;\n", names, strings.Join(f.exts, ""))
		default:
			fmt.Fprintf(b, "            %s) return ;;\n", names)
		}
	}
	b.WriteString("        esac\n")
	if len(c.args) > 0 && len(c.subs) == 0 {
		fmt.Fprintf(b, "        if [[ $cur != -* ]]; then COMPREPLY=($(compgen -W %q -- \"$cur\")); return; fi\n", strings.Join(c.args, " "))
	}
	fmt.Fprintf(b, "        COMPREPLY=($(compgen -W %q -- \"$cur\"))\n        ;;\n", strings.Join(c.names(), " "))
}
