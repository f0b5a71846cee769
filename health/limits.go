//go:build linux

package health

import (
	"bytes"
	"errors"
	"strconv"
)

// errNoNofile is returned for a limits file without a "Max open files"
// line.
var errNoNofile = errors.New(`no "Max open files" line`)

// parseNofileLimit returns the soft limit of the "Max open files" line of a
// /proc/<pid>/limits file; 0 means unlimited.
//
//	Limit                     Soft Limit           Hard Limit           Units
//	Max open files            1024                 524288               files
//
// The scan needs this one number per process per tick. procfs's
// Proc.Limits parses all 16 lines with a regular expression into a struct,
// about 7.5 kB of garbage per call: with 50 children, 80% of what a tick
// of the health loop allocated.
func parseNofileLimit(data []byte) (uint64, error) {
	const name = "Max open files"
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		rest, ok := bytes.CutPrefix(line, []byte(name))
		if !ok {
			continue
		}
		soft := bytes.TrimLeft(rest, " \t")
		if i := bytes.IndexAny(soft, " \t"); i >= 0 {
			soft = soft[:i]
		}
		if string(soft) == "unlimited" {
			return 0, nil
		}
		return strconv.ParseUint(string(soft), 10, 64)
	}
	return 0, errNoNofile
}
