//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// script returns resreap's completion script for shell.
func script(t *testing.T, shell string) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if code := dispatch([]string{"completion", shell}, &out, &errOut); code != 0 {
		t.Fatalf("completion %s: exit %d: %s", shell, code, errOut.String())
	}
	return out.String()
}

// leaves are the commands as typed ("run", "demo backend") with their
// flags: what every script must complete.
func leaves() map[string]compCommand {
	out := map[string]compCommand{}
	for _, c := range compCommands(commands()) {
		if len(c.subs) == 0 {
			out[c.name] = c
		}
		for _, s := range c.subs {
			out[c.name+" "+s.name] = s
		}
	}
	return out
}

// Bash, run for real: after each command, "--" completes to every long
// flag the command has, and nothing else; a flag with fixed values
// completes to them.
func TestCompletionBashEveryFlag(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "resreap.bash")
	if err := os.WriteFile(path, []byte(script(t, "bash")), 0o600); err != nil {
		t.Fatal(err)
	}
	var driver strings.Builder
	fmt.Fprintf(&driver, "source %q\n", path)
	driver.WriteString(`t() { COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]}-1)); COMPREPLY=(); _resreap; echo "$*|${COMPREPLY[*]}"; }` + "\n")
	want := map[string]string{}
	for name, c := range leaves() {
		words := "resreap " + name + " --"
		fmt.Fprintf(&driver, "t %s\n", words)
		var longs []string
		for _, f := range c.flags {
			longs = append(longs, "--"+f.long)
			if len(f.words) > 0 {
				v := "resreap " + name + " --" + f.long + " ''"
				fmt.Fprintf(&driver, "t %s\n", v)
				want[strings.TrimSuffix(v, "''")] = strings.Join(f.words, " ")
			}
		}
		want[words] = strings.Join(longs, " ")
	}
	driver.WriteString("t resreap ''\nt resreap completion ''\n")
	want["resreap "] = strings.Join(commandNames(compCommands(commands())), " ")
	want["resreap completion "] = "bash zsh fish"
	out, err := exec.Command("bash", "-c", driver.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("bash: %v\n%s", err, out)
	}
	have := map[string]string{}
	for line := range strings.Lines(string(out)) {
		words, reply, ok := strings.Cut(strings.TrimSuffix(line, "\n"), "|")
		if !ok {
			t.Fatalf("bash said %q", line)
		}
		have[words] = reply
	}
	for words, w := range want {
		if have[words] != w {
			t.Errorf("%q completes to\n  %q\nwant\n  %q", words, have[words], w)
		}
	}
	if len(want) < 20 {
		t.Errorf("only %d cases: the table of commands is not being read", len(want))
	}
}

// zsh and fish: each command's section names every flag of the command,
// with its short form; the scripts parse, where the shell is installed.
func TestCompletionZshFishEveryFlag(t *testing.T) {
	zsh, fish := script(t, "zsh"), script(t, "fish")
	for name, c := range leaves() {
		last := name[strings.LastIndex(name, " ")+1:]
		// zsh: the case "    run)" (a subcommand's is deeper) up to its ";;".
		m := regexp.MustCompile(`(?s)\n +` + regexp.QuoteMeta(last) + `\)\n(.*?);;`).FindStringSubmatch(zsh)
		if m == nil {
			t.Errorf("zsh: no case for %s", name)
			continue
		}
		cond := "'__resreap_is " + name + "'"
		for _, f := range c.flags {
			if f.short != "" && !strings.Contains(m[1], "{-"+f.short+",--"+f.long+"}") ||
				f.short == "" && !strings.Contains(m[1], "'--"+f.long+"[") {
				t.Errorf("zsh: %s lacks --%s:\n%s", name, f.long, m[1])
			}
			line := "complete -c resreap -n " + cond
			if f.short != "" {
				line += " -s " + f.short
			}
			if !strings.Contains(fish, line+" -l "+f.long+" ") {
				t.Errorf("fish: %s lacks %q", name, line+" -l "+f.long)
			}
		}
	}
	for shell, text := range map[string]string{"zsh": zsh, "fish": fish} {
		if _, err := exec.LookPath(shell); err != nil {
			t.Logf("%s not installed: its syntax is not checked", shell)
			continue
		}
		path := filepath.Join(t.TempDir(), "resreap."+shell)
		os.WriteFile(path, []byte(text), 0o600)
		if out, err := exec.Command(shell, "-n", path).CombinedOutput(); err != nil {
			t.Errorf("%s -n: %v\n%s", shell, err, out)
		}
	}
}

func TestCompletionUnknownShell(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := dispatch([]string{"completion", "tcsh"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "bash, zsh or fish") {
		t.Errorf("exit %d, stderr %q", code, errOut.String())
	}
}

// The man page has a section for every command and names every flag of
// each; groff reads it without a warning.
func TestManPage(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := dispatch([]string{"man"}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	page := out.String()
	for name, c := range leaves() {
		if !strings.Contains(page, ".SS "+roffQuote(name)+"\n") {
			t.Errorf("no section for %s", name)
		}
		for _, f := range c.flags {
			if !strings.Contains(page, `\fB\-\-`+roffText(f.long)+`\fR`) {
				t.Errorf("%s: --%s missing", name, f.long)
			}
		}
	}
	if _, err := exec.LookPath("groff"); err == nil {
		cmd := exec.Command("groff", "-man", "-ww", "-z")
		cmd.Stdin = strings.NewReader(page)
		if msg, err := cmd.CombinedOutput(); err != nil || len(msg) > 0 {
			t.Errorf("groff: %v\n%s", err, msg)
		}
	}
}
