//go:build linux

package supervisor

import (
	"bufio"
	"io"
	"os"
	"sync"
)

// lineWriter writes whole lines to w under a lock, so that the output of
// many children never interleaves within a line.
type lineWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (lw *lineWriter) writeLine(prefix string, line []byte) {
	lw.mu.Lock()
	defer lw.mu.Unlock()
	buf := make([]byte, 0, len(prefix)+len(line)+1)
	buf = append(append(append(buf, prefix...), line...), '\n')
	lw.w.Write(buf) //nolint:errcheck // nowhere better to report a failing stdout
}

// copyLines copies r to lw line by line with prefix until EOF or until r
// is closed. Lines longer than the buffer are split, not dropped.
func copyLines(r *os.File, prefix string, lw *lineWriter) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			if line[len(line)-1] == '\n' {
				line = line[:len(line)-1]
			}
			lw.writeLine(prefix, line)
		}
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
	}
}
