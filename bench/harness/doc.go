//go:build linux

// Package harness measures what resreap costs, side by side with the tools an
// operator would otherwise use, and writes the report that `make bench`
// commits as bench/results.md and bench/scan-cost.svg.
//
// Four kinds of measurement:
//
//   - Scan cost: the CPU time (user + system, from the kernel's accounting of
//     the whole process as returned by wait4) of one run of each Tool, with a
//     socket table of a given size held by bench/cmd/sockload. Runs are interleaved
//     round by round (A B C, B C A, C A B, …) after a warm-up round, and the
//     ratio of each tool to the floor (the Tool marked Floor) is taken within
//     each round before the median is computed, so that drift of the machine
//     hits every tool alike.
//   - The owner walk: the same comparison on a load whose CLOSE_WAIT sockets
//     are held by a small process of their own, then by the process with the
//     most fds, for `resreap watch --once` with and without -f, with the
//     readlinks of each walk as resreap counts them (WalkTools, CountWalk).
//   - The supervisor at rest: RSS and CPU share of `resreap run` supervising
//     idle children, from /proc/PID/status and /proc/PID/stat, with health
//     checks on and off (and an earlier binary, Config.Baseline), and its Go
//     heap from GODEBUG=gctrace=1.
//   - Latencies of the supervisor: restart (child exit → next child running)
//     and detection (CLOSE_WAIT leak → stop → restart), timed by the child
//     itself (bench/cmd/benchchild) and cross-checked with the history file.
//
// Adding a tool to the scan comparison is one entry in DefaultTools.
package harness
