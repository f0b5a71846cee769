//go:build linux

package supervisor

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/resreap/resreap/internal/config"
)

// The tail keeps the newest lines, oldest first, within its bounds: ten
// lines, 2 KiB, a long line cut and marked.
func TestOutputTail(t *testing.T) {
	spec := config.DefaultChild()
	tests := []struct {
		name  string
		lines []string
		want  []string
	}{
		{"none", nil, nil},
		{"a few", []string{"a", "b"}, []string{"a", "b"}},
		{"the last ten", numbered(25, 3), numbered(25, 3)[15:]},
		{"2 KiB", numbered(10, 400), numbered(10, 400)[5:]},
		{"a long line cut", []string{"x", strings.Repeat("y", 5000)}, []string{"x", strings.Repeat("y", tailLine) + "…"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tail := newOutputTail(1)
			for _, l := range tt.lines {
				tail.add([]byte(l), true)
			}
			tail.copied()
			got := tail.read(&spec)
			if tt.want == nil {
				if got != nil {
					t.Fatalf("tail %+v of no output", got)
				}
				return
			}
			if got == nil || !slices.Equal(got.Lines, tt.want) {
				t.Errorf("lines %q, want %q", got, tt.want)
			}
		})
	}
}

// numbered returns n lines of about size bytes, told apart by number.
func numbered(n, size int) []string {
	var out []string
	for i := range n {
		l := fmt.Sprintf("%d:", i)
		out = append(out, l+strings.Repeat("z", max(0, size-len(l))))
	}
	return out
}

// The tail says where all of the output is: the file of the stream that
// wrote, resreap's own output for inherit, both when they differ.
func TestFullOutput(t *testing.T) {
	file := func(p string) config.OutputSpec { return config.OutputSpec{Mode: config.OutputFile, File: p} }
	inherit := config.OutputSpec{Mode: config.OutputInherit}
	tests := []struct {
		stdout, stderr config.OutputSpec
		out, err       bool
		want           string
	}{
		{inherit, inherit, true, true, "resreap's own output"},
		{inherit, file("/l/e.log"), false, true, "/l/e.log"},
		{inherit, file("/l/e.log"), true, false, "resreap's own output"},
		{file("/l/a.log"), file("/l/a.log"), true, true, "/l/a.log"},
		{file("/l/o.log"), inherit, true, true, "stdout: /l/o.log; stderr: resreap's own output"},
	}
	for _, tt := range tests {
		spec := config.ChildSpec{Stdout: tt.stdout, Stderr: tt.stderr}
		if got := fullOutput(&spec, tt.out, tt.err); got != tt.want {
			t.Errorf("stdout %s stderr %s (wrote %v %v): %q, want %q", tt.stdout.Mode, tt.stderr.Mode, tt.out, tt.err, got, tt.want)
		}
	}
}
