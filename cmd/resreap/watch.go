package main

import (
	"fmt"
	"io"
)

// runWatch is the standalone watchdog; see the watch issue.
func runWatch(args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "resreap watch: not available in this build")
	return 1
}
