//go:build linux

package main

import (
	"fmt"
	"io"
	"strings"
)

// writeZsh writes the zsh completion script (_resreap, for a directory of
// $fpath): _describe for the commands, _arguments for the flags of each.
func writeZsh(w io.Writer, cmds []compCommand) error {
	var b strings.Builder
	b.WriteString(`#compdef resreap
# zsh completion for resreap; made by "resreap completion zsh" from the
# flags that "resreap COMMAND --help" shows.

_resreap() {
  local -a cmds
  cmds=(
`)
	for _, c := range cmds {
		fmt.Fprintf(&b, "    %s\n", zshQuote(c.name+":"+c.summary))
	}
	b.WriteString(`  )
  if (( CURRENT == 2 )); then
    _describe -t commands 'resreap command' cmds
    return
  fi
  shift words
  (( CURRENT-- ))
  case $words[1] in
`)
	for _, c := range cmds {
		fmt.Fprintf(&b, "    %s)\n", c.name)
		if len(c.subs) == 0 {
			zshArguments(&b, c, "      ")
			b.WriteString("      ;;\n")
			continue
		}
		b.WriteString("      if (( CURRENT == 2 )); then\n        local -a subs\n        subs=(")
		for _, s := range c.subs {
			b.WriteString(" " + zshQuote(s.name+":"+s.summary))
		}
		b.WriteString(" )\n        _describe -t commands 'resreap " + c.name + " command' subs\n        return\n      fi\n")
		b.WriteString("      shift words\n      (( CURRENT-- ))\n      case $words[1] in\n")
		for _, s := range c.subs {
			fmt.Fprintf(&b, "        %s)\n", s.name)
			zshArguments(&b, s, "          ")
			b.WriteString("          ;;\n")
		}
		b.WriteString("      esac\n      ;;\n")
	}
	b.WriteString(`  esac
}

_resreap "$@"
`)
	_, err := io.WriteString(w, b.String())
	return err
}

// zshArguments writes the _arguments call of one command.
func zshArguments(b *strings.Builder, c compCommand, indent string) {
	b.WriteString(indent + "_arguments -s")
	for _, f := range c.flags {
		desc := "[" + zshBracket(firstSentence(f.usage)) + "]"
		action := ""
		if f.arg != "" {
			action = ":" + zshBracket(strings.ToLower(f.arg)) + ":"
			switch {
			case len(f.words) > 0:
				action += "(" + strings.Join(f.words, " ") + ")"
			case f.file && len(f.exts) > 0:
				action += "_files -g '*." + f.exts[0] + "'"
			case f.file:
				action += "_files"
			default:
				action += " "
			}
		}
		if f.short == "" {
			fmt.Fprintf(b, " \\\n%s  %s", indent, zshQuote("--"+f.long+desc+action))
			continue
		}
		excl := "(-" + f.short + " --" + f.long + ")"
		fmt.Fprintf(b, " \\\n%s  %s{-%s,--%s}%s", indent, zshQuote(excl), f.short, f.long, zshQuote(desc+action))
	}
	if len(c.args) > 0 {
		fmt.Fprintf(b, " \\\n%s  %s", indent, zshQuote("1:argument:("+strings.Join(c.args, " ")+")"))
	}
	b.WriteString("\n")
}

// zshQuote quotes s for zsh in single quotes; a quote inside ends the
// quoting, is escaped with a backslash, and starts it again.
func zshQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// zshBracket escapes what _arguments reads in a description or a
// message: brackets and colons.
func zshBracket(s string) string {
	return strings.NewReplacer(`\`, `\\`, "[", `\[`, "]", `\]`, ":", `\:`).Replace(s)
}
