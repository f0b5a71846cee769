//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/resreap/resreap/internal/config"
)

const logsExamples = `  resreap logs fe-server                 its last 100 lines of stdout
  resreap logs fe-server --stderr -n 20
  resreap logs fe-server -f              follow, across rotations, until ^C
only output that goes to a file (stdout = { file = "..." }) can be shown;
for the others the command says where it goes. Paths come from the config
file, with ${VAR} expanded in this shell's environment.
`

// runLogs implements "resreap logs": 0 shown, 1 nothing to show (the
// output does not go to a file, or the file cannot be read), 2 usage or
// config error.
func runLogs(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return logs(ctx, args, stdout, stderr)
}

const logsUsage = "resreap logs [-c CONFIG] [-f] [-n N] [--stderr] [--json] NAME"

// logsFlagValues are the flags of "resreap logs".
type logsFlagValues struct {
	config    string
	follow    bool
	lines     int
	errStream bool
	json      bool
}

// logsFlags returns the flags of "resreap logs" and where they are stored.
func logsFlags() (*pflag.FlagSet, *logsFlagValues) {
	var v logsFlagValues
	fs := newFlagSet("logs")
	configFlag(fs, &v.config, "the config that declares the child")
	fs.BoolVarP(&v.follow, "follow", "f", false, "keep printing lines as they are written, across rotations")
	fs.IntVarP(&v.lines, "lines", "n", 100, "print the last `N` lines first (0: none)")
	fs.BoolVar(&v.errStream, "stderr", false, "show the child's stderr (default: stdout)")
	fs.BoolVar(&v.json, "json", false, `print each line as a JSON object: {"child", "stream", "line"}`)
	return fs, &v
}

func logs(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, v := logsFlags()
	if exit, ok := parseArgs(fs, args, logsUsage, logsExamples, stdout, stderr); !ok {
		return exit
	}
	if fs.NArg() != 1 || v.lines < 0 {
		fmt.Fprintf(stderr, "usage: %s\n", logsUsage)
		return 2
	}
	name := fs.Arg(0)
	file := pickConfig(v.config)
	cfg, err := config.Load(file.path)
	if err != nil {
		fmt.Fprintf(stderr, "resreap logs: %s\n", file.describe(err))
		return 2
	}
	spec := cfg.Child(name)
	if spec == nil {
		var copies []string
		for _, c := range cfg.Children {
			if c.Base == name && c.Instances > 0 {
				copies = append(copies, c.Name)
			}
		}
		if len(copies) > 0 {
			fmt.Fprintf(stderr, "resreap logs: %s has %s: name one of %s\n", name, count(len(copies), "instance", "instances"), strings.Join(copies, ", "))
		} else {
			fmt.Fprintf(stderr, "resreap logs: %s declares no child %q\n", file, name)
		}
		return 2
	}
	stream, out := "stdout", spec.Stdout
	if v.errStream {
		stream, out = "stderr", spec.Stderr
	}
	switch out.Mode {
	case config.OutputNull:
		fmt.Fprintf(stderr, "resreap logs: %s's %s is discarded (%s = \"null\")\n", name, stream, stream)
		return 1
	case config.OutputInherit:
		fmt.Fprintf(stderr, "resreap logs: %s's %s goes to resreap's own %s, each line prefixed with %q\n"+
			"(under systemd: journalctl -u resreap | grep -F %q); set %s = { file = \"...\" } to keep it in a file\n",
			name, stream, stream, name+" | ", name+" | ", stream)
		return 1
	}
	if v.json {
		jl := &jsonLines{w: stdout, child: name, stream: stream}
		defer jl.flush()
		stdout = jl
	}
	f, err := openLog(out.File)
	if err != nil && !(v.follow && errors.Is(err, os.ErrNotExist)) {
		fmt.Fprintf(stderr, "resreap logs: %v\n", err)
		return 1
	}
	var off int64
	if f != nil {
		if off, err = printLastLines(stdout, f, v.lines); err != nil {
			f.Close()
			fmt.Fprintf(stderr, "resreap logs: %v\n", err)
			return 1
		}
	}
	if !v.follow {
		f.Close()
		return 0
	}
	return followFile(ctx, stdout, stderr, out.File, f, off)
}

// printLastLines writes the last n lines of f to w and returns the offset
// after them, where following goes on in the same open file: the path may
// name another file by then.
func printLastLines(w io.Writer, f *os.File, n int) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	end := st.Size()
	start, err := lastLinesStart(f, end, n)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", f.Name(), err)
	}
	if _, err := io.Copy(w, io.NewSectionReader(f, start, end-start)); err != nil {
		return 0, fmt.Errorf("read %s: %w", f.Name(), err)
	}
	return end, nil
}

// lastLinesStart returns the offset of the first of the last n lines of
// the first end bytes of f, reading backwards in blocks. A last line
// without its newline counts as a line.
func lastLinesStart(f io.ReaderAt, end int64, n int) (int64, error) {
	if n == 0 {
		return end, nil
	}
	const block = 64 << 10
	buf := make([]byte, block)
	pos, seen := end, 0
	for pos > 0 {
		size := min(int64(block), pos)
		pos -= size
		b := buf[:size]
		if _, err := f.ReadAt(b, pos); err != nil && err != io.EOF {
			return 0, err
		}
		for i := len(b) - 1; i >= 0; i-- {
			if b[i] != '\n' || pos+int64(i) == end-1 {
				continue // the final newline ends the last line, it starts none
			}
			if seen++; seen == n {
				return pos + int64(i) + 1, nil
			}
		}
	}
	return 0, nil
}

// followFile prints what is appended to path from offset off of f on
// (f nil: path does not exist yet), across rotations, until ctx is done.
func followFile(ctx context.Context, stdout, stderr io.Writer, path string, f *os.File, off int64) int {
	w, err := newWaker(path)
	if err != nil {
		fmt.Fprintf(stderr, "resreap logs: %v; looking at %s every %s instead\n", err, path, followPoll)
	}
	defer w.close()
	if err := newFollower(path, f, off, stdout, stderr).run(ctx, w); err != nil {
		fmt.Fprintf(stderr, "resreap logs: follow %s: %v\n", path, err)
		return 1
	}
	return 0
}
