//go:build linux

package bpf

// The object and its Go binding (closewait_bpfel.go, closewait_bpfeb.go and
// their .o files) are generated from closewait.c and committed, so that a
// build needs no clang: `make generate` installs clang and libbpf's headers
// when missing and runs this.
//go:generate go tool bpf2go -tags linux -type cw_value closewait closewait.c -- -O2 -g -Wall -Werror
