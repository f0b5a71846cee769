//go:build ignore

// SPDX-License-Identifier: GPL-2.0 OR MIT
//
// closewait.c keeps the TCP sockets that are in CLOSE_WAIT, host-wide and
// in every network namespace, in a fixed-size hash map keyed by socket
// cookie. It runs on the inet_sock_set_state tracepoint (every TCP state
// change) and does a bounded amount of work: two compares for any change
// that neither enters nor leaves CLOSE_WAIT, one map update or delete for
// one that does. resreap reads the map at each health tick instead of
// dumping every socket of the host.
//
// Regenerate the object and its Go binding with `make generate` (clang,
// libbpf's headers); the build itself needs neither.

// The kernel structures read here, reduced to the fields used. With
// preserve_access_index clang records each access by name, and the loader
// relocates it against the running kernel's BTF (CO-RE): the offsets below
// are never used as such, so no vmlinux.h of one kernel is needed.

typedef signed char __s8;
typedef unsigned char __u8;
typedef short __s16;
typedef unsigned short __u16;
typedef int __s32;
typedef unsigned int __u32;
typedef long long __s64;
typedef unsigned long long __u64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;

// The few constants of linux/bpf.h used here (its header would need the
// host's asm/types.h, which a BPF target has not).
enum bpf_map_type {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
};
#define BPF_ANY 0

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define TCP_CLOSE_WAIT 8

struct in6_addr {
	__u8 s6_addr[16];
} __attribute__((preserve_access_index));

struct ns_common {
	unsigned int inum;
} __attribute__((preserve_access_index));

struct net {
	struct ns_common ns;
} __attribute__((preserve_access_index));

typedef struct {
	struct net *net;
} possible_net_t;

struct sock_common {
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	__u16 skc_num;
	unsigned short skc_family;
	possible_net_t skc_net;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
} __attribute__((preserve_access_index));

struct kernfs_node {
	__u64 id;
} __attribute__((preserve_access_index));

struct cgroup {
	struct kernfs_node *kn;
} __attribute__((preserve_access_index));

struct sock_cgroup_data {
	struct cgroup *cgroup;
} __attribute__((preserve_access_index));

typedef struct {
	unsigned int val;
} kuid_t;

struct inode {
	unsigned long i_ino;
} __attribute__((preserve_access_index));

struct socket {
	short type;
} __attribute__((preserve_access_index));

struct socket_alloc {
	struct socket socket;
	struct inode vfs_inode;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
	struct socket *sk_socket;
	kuid_t sk_uid;
	__u16 sk_protocol;
	struct sock_cgroup_data sk_cgrp_data;
} __attribute__((preserve_access_index));

// cw_value is what resreap needs of one CLOSE_WAIT socket: what a
// sock_diag dump reports of it, and when it entered the state.
struct cw_value {
	__u8 local[16];  // IPv4 in the first 4 bytes; IPv6 possibly v4-mapped
	__u8 remote[16];
	__u64 entered;   // bpf_ktime_get_boot_ns (CLOCK_BOOTTIME) at the change
	__u64 cgroup;    // the socket's cgroup v2 id, as INET_DIAG_CGROUP_ID
	__u64 inode;     // sock_i_ino: 0 while no file holds the socket
	__u32 netns;     // inode of the socket's network namespace
	__u32 uid;       // sk_uid, in the initial user namespace
	__u16 lport;     // host order
	__u16 rport;     // host order
	__u16 family;    // AF_INET or AF_INET6
	__u16 pad;
};

// The size is fixed at load: the loader may set another max_entries
// (tests shrink it to make it overflow). A full map loses entries, counted.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct cw_value);
} closewait SEC(".maps");

// Counters, per CPU so that a busy host never contends on them.
enum {
	CNT_ENTERED = 0,  // transitions into CLOSE_WAIT seen
	CNT_LEFT = 1,     // transitions out of CLOSE_WAIT seen
	CNT_OVERFLOW = 2, // entries lost: the map was full
	CNT_MAX = 3,
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

static __always_inline void count(__u32 i)
{
	__u64 *n = bpf_map_lookup_elem(&counters, &i);
	if (n)
		*n += 1;
}

// cgroup_id reads the cgroup the kernel keeps with the socket: the one
// the socket was created in (for an accepted connection, its listener's).
// The task that runs the state change is often another (softirq), so
// bpf_get_current_cgroup_id would be wrong. Kernels before 5.15 keep that
// field in another shape: the id is then 0, unknown, as sock_diag's would
// be without the attribute.
static __always_inline __u64 cgroup_id(struct sock *sk)
{
	if (!bpf_core_field_exists(sk->sk_cgrp_data.cgroup))
		return 0;
	return BPF_CORE_READ(sk, sk_cgrp_data.cgroup, kn, id);
}

// sock_ino is the kernel's sock_i_ino: the inode of the socket's file,
// kept beside the struct socket in a struct socket_alloc. A connection
// still in its listener's accept queue has no struct socket yet: 0.
static __always_inline __u64 sock_ino(struct sock *sk)
{
	struct socket *so = BPF_CORE_READ(sk, sk_socket);
	if (!so)
		return 0;
	return BPF_CORE_READ((struct socket_alloc *)so, vfs_inode.i_ino);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(inet_sock_set_state, struct sock *sk, int oldstate, int newstate)
{
	if (newstate != TCP_CLOSE_WAIT && oldstate != TCP_CLOSE_WAIT)
		return 0;
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	__u64 key = bpf_get_socket_cookie(sk);
	if (oldstate == TCP_CLOSE_WAIT) {
		// To LAST_ACK (closed by its owner) or CLOSE (reset, aborted).
		bpf_map_delete_elem(&closewait, &key);
		count(CNT_LEFT);
		return 0;
	}
	struct cw_value v = {};
	v.family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (v.family == AF_INET) {
		*(__u32 *)v.local = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		*(__u32 *)v.remote = BPF_CORE_READ(sk, __sk_common.skc_daddr);
	} else if (v.family == AF_INET6) {
		bpf_core_read(&v.local, sizeof(v.local), &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(&v.remote, sizeof(v.remote), &sk->__sk_common.skc_v6_daddr);
	} else {
		return 0;
	}
	v.lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	v.rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	v.entered = bpf_ktime_get_boot_ns();
	v.cgroup = cgroup_id(sk);
	v.inode = sock_ino(sk);
	v.netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	v.uid = BPF_CORE_READ(sk, sk_uid.val);
	count(CNT_ENTERED);
	if (bpf_map_update_elem(&closewait, &key, &v, BPF_ANY))
		count(CNT_OVERFLOW);
	return 0;
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
