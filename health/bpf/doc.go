//go:build linux

// Package bpf loads closewait.c: a BPF program on the kernel's
// inet_sock_set_state tracepoint that keeps the TCP sockets in CLOSE_WAIT,
// of every network namespace, in a fixed-size map keyed by socket cookie.
// Reading that map costs what the CLOSE_WAIT sockets cost, however many
// other sockets the host has; a sock_diag dump walks all of them.
//
// The program is loaded and attached by Load and gone at Close: no pinning,
// so nothing of it outlives the process (the kernel also drops it when the
// process dies, with its file descriptors). Load needs BTF
// (/sys/kernel/btf/vmlinux), the tp_btf attach type and
// bpf_get_socket_cookie in tracing programs (Linux 5.12), and CAP_BPF with
// CAP_PERFMON, or CAP_SYS_ADMIN.
//
//	p, err := bpf.Load(bpf.Options{})
//	if err != nil {
//		// say why (Why(err)) and use the dump
//	}
//	defer p.Close()
//	entries, err := p.Entries(nil)
package bpf
