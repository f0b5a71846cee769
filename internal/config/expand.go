//go:build linux

package config

import (
	"fmt"
	"strings"
)

// expand replaces ${VAR} with the value of VAR in env and ${VAR:-default}
// with it, or with default when VAR is unset or empty; $$ is a literal $.
// A $ followed by anything else is left as it is, so $HOME or $1 in a
// shell snippet reach the shell untouched. An unset VAR without a default
// is an error naming it.
func expand(s string, env func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c != '$' || i+1 == len(s):
			b.WriteByte(c)
		case s[i+1] == '$':
			b.WriteByte('$')
			i++
		case s[i+1] == '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", fmt.Errorf("unclosed ${ in %q", s)
			}
			val, err := lookupExpr(s[i+2:i+2+end], env)
			if err != nil {
				return "", err
			}
			b.WriteString(val)
			i += 2 + end
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// lookupExpr evaluates the inside of ${...}: NAME or NAME:-default.
func lookupExpr(expr string, env func(string) (string, bool)) (string, error) {
	name, def, hasDef := strings.Cut(expr, ":-")
	if name == "" || strings.ContainsAny(name, "${}: ") {
		return "", fmt.Errorf("bad variable ${%s}", expr)
	}
	if v, ok := env(name); ok && (v != "" || !hasDef) {
		return v, nil
	}
	if hasDef {
		return def, nil
	}
	return "", fmt.Errorf("${%s} is not set in resreap's environment (give a default: ${%s:-value})", name, name)
}
