// SPDX-License-Identifier: GPL-2.0
/*
 * MetaFlow's socket tracer: the bytes every process reads and writes on its
 * TCP and UDP sockets (system call tracepoints), the plaintext of TLS
 * connections (uprobes on OpenSSL's SSL_read/SSL_write), and process
 * exec/exit. Events go to user space through one BPF ring buffer.
 *
 * Why tracepoints and uprobes only: the target kernels may lack kprobe
 * events; syscall tracepoints and uprobes are always there with BTF.
 *
 * Cost model: every read/write-like call of every process enters here, so the
 * entry path rejects early and cheaply: the agent itself, filtered processes,
 * then anything that is not an AF_INET/AF_INET6 socket (files, pipes, unix
 * sockets). Only socket calls store their arguments for the exit, where the
 * data is copied (its length is only known then).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "metaflow.h"

char LICENSE[] SEC("license") = "GPL";

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define S_IFMT 00170000
#define S_IFSOCK 0140000
#define EINPROGRESS 115
#define MSG_PEEK 2

/* ------------------------------------------------------------------ maps */

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mf_config);
} mf_config SEC(".maps");

/* Size set by user space before load (ring_buffer_size). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} mf_events SEC(".maps");

/*
 * Where an event is assembled before it is copied to the ring buffer: a
 * variable-length record cannot be reserved in place. One slot per CPU
 * (max_entries set to the number of possible CPUs before load); the data
 * area is twice the largest capture so the verifier can prove every iovec
 * copy (offset < capture, length <= capture) stays inside it.
 */
struct mf_scratch {
	struct mf_event hdr;
	__u8 data[2 * MF_MAX_CAPTURE];
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct mf_scratch);
} mf_scratch SEC(".maps");

/* A socket call's arguments, from entry to exit. */
struct mf_args {
	__u64 buf;  /* buffer, iovec array, msghdr or mmsghdr array */
	__u64 addr; /* peer sockaddr (sendto/recvfrom) */
	__u64 ts;
	__u64 sk;
	__u32 fd;
	__u32 count; /* buffer size, iovec count or message count */
	__u8 sc;
	__u8 dir;
	__u8 iov;    /* buf is an iovec array of `count` entries */
	__u8 pad[5];
};

/* Sockets seen, by (tgid << 32 | fd). */
#define MF_SOCK_SEEN 1 /* an event was sent: send its close */
#define MF_SOCK_TLS 2  /* plaintext comes from the OpenSSL probes: skip the ciphertext */
struct mf_sock {
	__u64 sk;
	__u64 id;
	__u8 role;
	__u8 flags;
	__u8 pad[6];
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct mf_sock);
} mf_socks SEC(".maps");

/*
 * Sockets whose bytes user space does not want (no protocol it parses was
 * recognised), by socket id; bit 1 << source. Their data is not copied.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u8);
} mf_ignore SEC(".maps");

/* The syscall trace id a thread carries and the message that set it. */
struct mf_thread {
	__u64 trace_id;
	__u64 sock_id;
	__u8 dir;
	__u8 pad[7];
};

/* An SSL_read/SSL_write call in progress. */
struct mf_ssl_args {
	__u64 ssl;
	__u64 buf;
	__u64 len_ptr; /* the _ex forms' size_t *readbytes / *written */
	__u64 ts;
	__s32 fd;      /* the socket the call's own I/O used, -1 until seen */
	__u8 dir;
	__u8 ex;
	__u8 pad[2];
};

/*
 * Everything kept per thread, in task-local storage: one pointer lookup
 * from the task instead of a hash lookup per map, and freed with the thread.
 */
struct mf_task {
	struct mf_args args;    /* valid when has_args */
	struct mf_ssl_args ssl; /* valid when in_ssl */
	struct mf_thread thread;
	__u8 has_args;
	__u8 in_ssl;
	__u8 pad[6];
};
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct mf_task);
} mf_tasks SEC(".maps");

/* Which socket an SSL object reads and writes, learnt from its calls' I/O. */
struct mf_ssl_key {
	__u64 ssl;
	__u32 tgid;
	__u32 pad;
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct mf_ssl_key);
	__type(value, __s32);
} mf_ssl_fd SEC(".maps");

/*
 * The agent's own connections: local ports it connected from (so the far
 * end, e.g. a server on this host receiving its exports, is not traced
 * either: that would feed back) and its fd → port for cleanup at close.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u16);
	__type(value, __u8);
} mf_self_ports SEC(".maps");
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u16);
} mf_self_fds SEC(".maps");

/* Filters, written by user space; values are MF_ALLOW / MF_DENY bits. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} mf_filter_pid SEC(".maps");
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, char[16]);
	__type(value, __u8);
} mf_filter_comm SEC(".maps");
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, __u64);
	__type(value, __u8);
} mf_filter_cgroup SEC(".maps");
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u16);
	__type(value, __u8);
} mf_filter_port SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MF_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} mf_counters SEC(".maps");

/* Id generators per CPU: 0 sockets, 1 syscall trace ids. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} mf_ids SEC(".maps");

/* ------------------------------------------------------------ user ABI */

/* User-space layouts (stable ABI), read with bpf_probe_read_user. */
struct mf_iovec {
	__u64 base;
	__u64 len;
};
struct mf_msghdr {
	__u64 name;
	__u32 namelen;
	__u32 pad;
	__u64 iov;
	__u64 iovlen;
	__u64 control;
	__u64 controllen;
	__u32 flags;
	__u32 pad2;
};
struct mf_mmsghdr {
	struct mf_msghdr hdr;
	__u32 len;
	__u32 pad;
};
struct mf_sockaddr {
	__u16 family;
	__u16 port; /* network order */
	__u32 addr4;
	__u8 addr6[16]; /* sockaddr_in6: after flowinfo, at offset 8 */
};

/* ------------------------------------------------------------- helpers */

static __always_inline struct mf_config *mf_cfg(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&mf_config, &zero);
}

static __always_inline void count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&mf_counters, &idx);
	if (c)
		*c += 1;
}

/* Unique per CPU and call: the CPU in the top bits keeps ids distinct, and
 * below 2^53 so user space holds them as exact JavaScript numbers. */
static __always_inline __u64 new_id(__u32 kind)
{
	__u64 *c = bpf_map_lookup_elem(&mf_ids, &kind);
	if (!c)
		return 0;
	*c += 1;
	return ((__u64)(bpf_get_smp_processor_id() + 1) << 40) | (*c & ((1ULL << 40) - 1));
}

/* Turns an address into a pointer the verifier lets us read fields through
 * directly (plain loads, faults caught) instead of one helper call per field. */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;
#define AS(type, p) ((type *)bpf_rdonly_cast((void *)(p), bpf_core_type_id_kernel(type)))

/* The process's name (its main thread's), not the calling thread's: a
 * client doing its I/O on a worker thread (dig's isc-net-0000) is still dig. */
static __always_inline void process_comm(char *dst)
{
	struct task_struct *task = bpf_get_current_task_btf();
	bpf_probe_read_kernel(dst, 16, task->group_leader->comm);
}

/* The current thread's state; created on first use when `create`. */
static __always_inline struct mf_task *task_state(bool create)
{
	return bpf_task_storage_get(&mf_tasks, bpf_get_current_task_btf(), 0, create ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
}

/* The socket behind a file descriptor of the current process, or NULL when
 * the descriptor is anything but a socket. */
static __always_inline struct sock *fd_to_sock(__u32 fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt = task->files->fdt;
	if (!fdt || fd >= fdt->max_fds)
		return NULL;
	struct file *fp = NULL;
	bpf_probe_read_kernel(&fp, sizeof(fp), &fdt->fd[fd]);
	if (!fp)
		return NULL;
	struct file *file = AS(struct file, fp);
	if ((file->f_inode->i_mode & S_IFMT) != S_IFSOCK)
		return NULL;
	struct socket *sock = AS(struct socket, file->private_data);
	return sock->sk;
}

static __always_inline bool inet_family(struct sock *sk)
{
	__u16 family = AS(struct sock, sk)->__sk_common.skc_family;
	return family == AF_INET || family == AF_INET6;
}

/* Whether the current process passes the pid/name/cgroup filters. Allow
 * lists of the three kinds are a union; a deny entry always wins. */
static __always_inline bool proc_allowed(struct mf_config *cfg, __u32 tgid)
{
	__u32 f = cfg->filter_flags;
	if (!(f & MF_FILTER_PROC_ANY))
		return true;
	bool allowed = false;
	__u8 *v;
	if (f & (MF_FILTER_PID_ALLOW | MF_FILTER_PID_DENY)) {
		v = bpf_map_lookup_elem(&mf_filter_pid, &tgid);
		if (v) {
			if (*v & MF_DENY)
				return false;
			if (*v & MF_ALLOW)
				allowed = true;
		}
	}
	if (f & (MF_FILTER_COMM_ALLOW | MF_FILTER_COMM_DENY)) {
		char comm[16] = {};
		process_comm(comm);
		v = bpf_map_lookup_elem(&mf_filter_comm, comm);
		if (v) {
			if (*v & MF_DENY)
				return false;
			if (*v & MF_ALLOW)
				allowed = true;
		}
	}
	if (f & (MF_FILTER_CGROUP_ALLOW | MF_FILTER_CGROUP_DENY)) {
		__u64 cg = bpf_get_current_cgroup_id();
		v = bpf_map_lookup_elem(&mf_filter_cgroup, &cg);
		if (v) {
			if (*v & MF_DENY)
				return false;
			if (*v & MF_ALLOW)
				allowed = true;
		}
	}
	return allowed || !(f & MF_FILTER_PROC_ALLOW);
}

/* Whether a connection passes the port filters and is not the far end of
 * one of the agent's own connections. */
static __always_inline bool ports_allowed(struct mf_config *cfg, __u16 lport, __u16 rport)
{
	if (bpf_map_lookup_elem(&mf_self_ports, &rport))
		return false;
	__u32 f = cfg->filter_flags;
	if (!(f & (MF_FILTER_PORT_ALLOW | MF_FILTER_PORT_DENY)))
		return true;
	__u8 *a = bpf_map_lookup_elem(&mf_filter_port, &lport);
	__u8 *b = bpf_map_lookup_elem(&mf_filter_port, &rport);
	__u8 v = (a ? *a : 0) | (b ? *b : 0);
	if (v & MF_DENY)
		return false;
	if (f & MF_FILTER_PORT_ALLOW)
		return v & MF_ALLOW;
	return true;
}

static __always_inline bool ephemeral(struct mf_config *cfg, __u16 port)
{
	return port >= cfg->eph_low && port <= cfg->eph_high;
}

/* The socket's entry, created on first sight. A socket opened before the
 * tracer started has no connect/accept to tell its role; guess it from the
 * ports (the ephemeral side is the client); user space refines the guess. */
static __always_inline struct mf_sock *sock_entry(struct mf_config *cfg, __u64 key, struct sock *sk, __u8 role)
{
	struct mf_sock *si = bpf_map_lookup_elem(&mf_socks, &key);
	if (si && si->sk == (__u64)sk)
		return si;
	struct mf_sock n = {};
	n.sk = (__u64)sk;
	n.id = new_id(0);
	if (role == MF_ROLE_UNKNOWN) {
		struct sock *k = AS(struct sock, sk);
		__u16 lport = k->__sk_common.skc_num;
		__u16 rport = bpf_ntohs(k->__sk_common.skc_dport);
		bool le = ephemeral(cfg, lport), re = ephemeral(cfg, rport);
		if (rport && le && !re)
			role = MF_ROLE_CLIENT;
		else if (rport && re && !le)
			role = MF_ROLE_SERVER;
	}
	n.role = role;
	bpf_map_update_elem(&mf_socks, &key, &n, BPF_ANY);
	return bpf_map_lookup_elem(&mf_socks, &key);
}

static __always_inline void read_tuple(struct sock *sk, struct mf_event *e)
{
	struct sock *k = AS(struct sock, sk);
	e->family = k->__sk_common.skc_family;
	e->lport = k->__sk_common.skc_num;
	e->rport = bpf_ntohs(k->__sk_common.skc_dport);
	e->l4 = k->sk_protocol;
	if (e->family == AF_INET) {
		__u32 l = k->__sk_common.skc_rcv_saddr;
		__u32 r = k->__sk_common.skc_daddr;
		__builtin_memset(e->laddr, 0, 16);
		__builtin_memset(e->raddr, 0, 16);
		__builtin_memcpy(e->laddr, &l, 4);
		__builtin_memcpy(e->raddr, &r, 4);
	} else {
		__builtin_memcpy(e->laddr, k->__sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8, 16);
		__builtin_memcpy(e->raddr, k->__sk_common.skc_v6_daddr.in6_u.u6_addr8, 16);
	}
}

/* Takes the peer from a message's address (unconnected UDP sockets). */
static __always_inline void read_peer(__u64 addr, struct mf_event *e)
{
	struct mf_sockaddr sa = {};
	if (!addr || bpf_probe_read_user(&sa, sizeof(sa), (void *)addr))
		return;
	if (sa.family == AF_INET) {
		__builtin_memset(e->raddr, 0, 16);
		__builtin_memcpy(e->raddr, &sa.addr4, 4);
	} else if (sa.family == AF_INET6) {
		__builtin_memcpy(e->raddr, sa.addr6, 16);
	} else {
		return;
	}
	e->rport = bpf_ntohs(sa.port);
	e->flags |= MF_F_PEER_FROM_MSG;
}

/*
 * The syscall trace id of a message. A request read on a thread opens a new
 * id (unless it continues the request the thread is already reading);
 * everything the thread then writes, and the responses it reads on the
 * connections it opened as a client, carry that id. So the inbound request,
 * the outbound calls made while handling it and the response share one id.
 */
static __always_inline __u64 trace_id(struct mf_thread *t, __u64 sock_id, __u8 dir, __u8 role)
{
	__u64 id;
	if (dir == MF_INGRESS) {
		if (role == MF_ROLE_CLIENT)
			id = t->trace_id;
		else if (t->trace_id && t->sock_id == sock_id && t->dir == MF_INGRESS)
			id = t->trace_id;
		else
			id = new_id(1);
	} else {
		id = t->trace_id;
	}
	t->trace_id = id;
	t->sock_id = sock_id;
	t->dir = dir;
	return id;
}

static __always_inline __u64 wakeup_flags(struct mf_config *cfg)
{
	/* Waking the consumer per event costs a context switch per event; it
	 * polls on a short timer instead and is woken only when data piles up. */
	return bpf_ringbuf_query(&mf_events, BPF_RB_AVAIL_DATA) >= cfg->wakeup_bytes ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

/*
 * Sends one message. `a` holds the call (socket, buffer or iovec array,
 * peer address pointer); `len` is how many bytes it moved; `source` says
 * whether they came from a system call or an SSL call. A global function:
 * the verifier checks it once, not once per program that calls it, which
 * keeps loading fast (and every exit program shares one copy).
 */
__noinline int mf_emit(struct mf_args *a, __u32 len, __u32 source)
{
	if (!a)
		return 0;
	struct mf_config *cfg = mf_cfg();
	if (!cfg)
		return 0;
	__u32 cpu = bpf_get_smp_processor_id();
	struct mf_scratch *s = bpf_map_lookup_elem(&mf_scratch, &cpu);
	if (!s) {
		count(MF_CNT_LOST_SCRATCH);
		return 0;
	}
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	struct sock *sk = (struct sock *)a->sk;
	__u64 key = ((__u64)tgid << 32) | a->fd;
	struct mf_sock *si = sock_entry(cfg, key, sk, MF_ROLE_UNKNOWN);
	if (!si)
		return 0;
	if (source == MF_SRC_SYSCALL && (si->flags & MF_SOCK_TLS))
		return 0;
	if (source == MF_SRC_OPENSSL)
		si->flags |= MF_SOCK_TLS;
	__u8 *ign = bpf_map_lookup_elem(&mf_ignore, &si->id);
	if (ign && (*ign & (1 << source)))
		return 0;

	struct mf_event *e = &s->hdr;
	e->flags = source == MF_SRC_OPENSSL ? MF_F_TLS : 0;
	read_tuple(sk, e);
	if (e->l4 != IPPROTO_TCP && e->l4 != IPPROTO_UDP)
		return 0;
	if (e->l4 == IPPROTO_UDP && e->rport == 0)
		read_peer(a->addr, e);
	if (!ports_allowed(cfg, e->lport, e->rport))
		return 0;

	e->type = MF_EV_DATA;
	e->dir = a->dir;
	e->source = source;
	e->role = si->role;
	e->syscall = a->sc;
	e->ts_enter = a->ts;
	e->ts_exit = bpf_ktime_get_ns();
	e->sock_id = si->id;
	e->tgid = tgid;
	e->tid = (__u32)pid_tgid;
	e->fd = a->fd;
	e->data_len = len;
	e->cgroup_id = bpf_get_current_cgroup_id();
	process_comm(e->comm);
	struct mf_task *ts = task_state(true);
	e->trace_id = ts ? trace_id(&ts->thread, si->id, a->dir, si->role) : 0;
	e->tcp_seq = 0;
	if (e->l4 == IPPROTO_TCP) {
		struct tcp_sock *tp = AS(struct tcp_sock, sk);
		__u32 seq = a->dir == MF_EGRESS ? tp->write_seq : tp->copied_seq;
		/* At the return the counter is past the message; a system call's
		 * message started `len` bytes earlier. An SSL call's bytes are not
		 * the TCP bytes, so for it the value stays the end of the record. */
		e->tcp_seq = source == MF_SRC_SYSCALL ? seq - len : seq;
	}

	__u32 cap = len;
	if (cap > cfg->capture_bytes)
		cap = cfg->capture_bytes;
	if (cap > MF_MAX_CAPTURE)
		cap = MF_MAX_CAPTURE;
	if (!a->iov) {
		if (a->count && cap > a->count)
			cap = a->count;
		if (!a->buf || !cap) {
			cap = 0;
		} else {
			cap = ((cap - 1) & (MF_MAX_CAPTURE - 1)) + 1;
			if (bpf_probe_read_user(s->data, cap, (void *)a->buf))
				cap = 0;
		}
	} else {
		__u32 off = 0;
		for (int i = 0; i < MF_MAX_IOV; i++) {
			if (i >= a->count || off >= cap)
				break;
			struct mf_iovec iov = {};
			if (bpf_probe_read_user(&iov, sizeof(iov), (void *)(a->buf + i * sizeof(struct mf_iovec))))
				break;
			__u64 n = iov.len;
			if (n > cap - off)
				n = cap - off;
			if (!n)
				continue;
			/* 1..MF_MAX_CAPTURE, in a form the verifier can bound. */
			__u32 n32 = (((__u32)n - 1) & (MF_MAX_CAPTURE - 1)) + 1;
			__u32 o = off & (MF_MAX_CAPTURE - 1);
			if (bpf_probe_read_user(s->data + o, n32, (void *)iov.base))
				break;
			off += n32;
		}
		cap = off;
	}
	/* cap <= MF_MAX_CAPTURE already; the mask states it where the verifier
	 * looks (a compare on a copy of the register would not carry over). */
	__u64 size = MF_EVENT_HEADER + ((__u64)cap & (2 * MF_MAX_CAPTURE - 1));
	e->cap_len = cap;
	if (bpf_ringbuf_output(&mf_events, e, size, wakeup_flags(cfg))) {
		count(MF_CNT_LOST_RINGBUF);
		return 0;
	}
	count(MF_CNT_EVENTS);
	si->flags |= MF_SOCK_SEEN;
	return 0;
}

/* ------------------------------------------------------- syscall entries */

static __always_inline int on_enter(__u64 fd, __u64 buf, __u64 cnt, __u64 addr, __u8 sc, __u8 dir, __u8 iov)
{
	struct mf_config *cfg = mf_cfg();
	if (!cfg || !cfg->enabled)
		return 0;
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	if (tgid == cfg->self_tgid || !proc_allowed(cfg, tgid))
		return 0;
	struct sock *sk = fd_to_sock((__u32)fd);
	if (!sk || !inet_family(sk))
		return 0;
	struct mf_task *t = task_state(true);
	if (!t)
		return 0;
	if (t->in_ssl) {
		/* The ciphertext of an SSL call: only learn which socket the SSL
		 * object uses; its plaintext is sent when the SSL call returns. */
		struct mf_ssl_key k = {};
		k.ssl = t->ssl.ssl;
		k.tgid = tgid;
		__s32 f = (__s32)fd;
		bpf_map_update_elem(&mf_ssl_fd, &k, &f, BPF_ANY);
		t->ssl.fd = f;
		return 0;
	}
	struct mf_args *a = &t->args;
	a->buf = buf;
	a->addr = addr;
	a->ts = bpf_ktime_get_ns();
	a->sk = (__u64)sk;
	a->fd = (__u32)fd;
	a->count = (__u32)cnt;
	a->sc = sc;
	a->dir = dir;
	a->iov = iov;
	t->has_args = 1;
	return 0;
}

/* Takes the arguments the entry stored (false when there are none). */
static __always_inline bool take_args(struct mf_args *out)
{
	struct mf_task *t = task_state(false);
	if (!t || !t->has_args)
		return false;
	t->has_args = 0;
	__builtin_memcpy(out, &t->args, sizeof(*out));
	return true;
}

/* The exit of a call on one buffer or one iovec array. */
static __always_inline int io_exit(long ret)
{
	struct mf_args a;
	if (!take_args(&a) || ret <= 0)
		return 0;
	return mf_emit(&a, (__u32)ret, MF_SRC_SYSCALL);
}

/* The exit of sendmsg/recvmsg: the iovec array and peer are in the msghdr. */
static __always_inline int on_exit_msg(long ret)
{
	struct mf_args a;
	if (!take_args(&a) || ret <= 0)
		return 0;
	struct mf_msghdr m = {};
	if (bpf_probe_read_user(&m, sizeof(m), (void *)a.buf))
		return 0;
	a.buf = m.iov;
	a.count = m.iovlen > MF_MAX_IOV ? MF_MAX_IOV : (__u32)m.iovlen;
	a.addr = m.name;
	a.iov = 1;
	return mf_emit(&a, (__u32)ret, MF_SRC_SYSCALL);
}

/* The exit of sendmmsg/recvmmsg: one event per message (the first few). */
static __always_inline int on_exit_mmsg(long ret)
{
	struct mf_args a;
	if (!take_args(&a) || ret <= 0)
		return 0;
	__u64 vec = a.buf;
	for (int i = 0; i < MF_MAX_MMSG; i++) {
		if (i >= ret)
			break;
		struct mf_mmsghdr m = {};
		if (bpf_probe_read_user(&m, sizeof(m), (void *)(vec + i * sizeof(struct mf_mmsghdr))))
			break;
		if (!m.len)
			continue;
		a.buf = m.hdr.iov;
		a.count = m.hdr.iovlen > MF_MAX_IOV ? MF_MAX_IOV : (__u32)m.hdr.iovlen;
		a.addr = m.hdr.name;
		a.iov = 1;
		mf_emit(&a, m.len, MF_SRC_SYSCALL);
	}
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_read")
int mf_enter_read(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter(ctx->args[0], ctx->args[1], ctx->args[2], 0, MF_SC_READ, MF_INGRESS, 0);
}
SEC("tracepoint/syscalls/sys_exit_read")
int mf_exit_read(struct trace_event_raw_sys_exit *ctx)
{
	return io_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_write")
int mf_enter_write(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter(ctx->args[0], ctx->args[1], ctx->args[2], 0, MF_SC_WRITE, MF_EGRESS, 0);
}
SEC("tracepoint/syscalls/sys_exit_write")
int mf_exit_write(struct trace_event_raw_sys_exit *ctx)
{
	return io_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_readv")
int mf_enter_readv(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter(ctx->args[0], ctx->args[1], ctx->args[2], 0, MF_SC_READV, MF_INGRESS, 1);
}
SEC("tracepoint/syscalls/sys_exit_readv")
int mf_exit_readv(struct trace_event_raw_sys_exit *ctx)
{
	return io_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_writev")
int mf_enter_writev(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter(ctx->args[0], ctx->args[1], ctx->args[2], 0, MF_SC_WRITEV, MF_EGRESS, 1);
}
SEC("tracepoint/syscalls/sys_exit_writev")
int mf_exit_writev(struct trace_event_raw_sys_exit *ctx)
{
	return io_exit(ctx->ret);
}

/* sendto(fd, buf, len, flags, addr, addrlen) */
SEC("tracepoint/syscalls/sys_enter_sendto")
int mf_enter_sendto(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter(ctx->args[0], ctx->args[1], ctx->args[2], ctx->args[4], MF_SC_SENDTO, MF_EGRESS, 0);
}
SEC("tracepoint/syscalls/sys_exit_sendto")
int mf_exit_sendto(struct trace_event_raw_sys_exit *ctx)
{
	return io_exit(ctx->ret);
}

/* recvfrom(fd, buf, size, flags, addr, addrlen); a peek is read again later. */
SEC("tracepoint/syscalls/sys_enter_recvfrom")
int mf_enter_recvfrom(struct trace_event_raw_sys_enter *ctx)
{
	if (ctx->args[3] & MSG_PEEK)
		return 0;
	return on_enter(ctx->args[0], ctx->args[1], ctx->args[2], ctx->args[4], MF_SC_RECVFROM, MF_INGRESS, 0);
}
SEC("tracepoint/syscalls/sys_exit_recvfrom")
int mf_exit_recvfrom(struct trace_event_raw_sys_exit *ctx)
{
	return io_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int mf_enter_sendmsg(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter(ctx->args[0], ctx->args[1], 0, 0, MF_SC_SENDMSG, MF_EGRESS, 0);
}
SEC("tracepoint/syscalls/sys_exit_sendmsg")
int mf_exit_sendmsg(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit_msg(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_recvmsg")
int mf_enter_recvmsg(struct trace_event_raw_sys_enter *ctx)
{
	if (ctx->args[2] & MSG_PEEK)
		return 0;
	return on_enter(ctx->args[0], ctx->args[1], 0, 0, MF_SC_RECVMSG, MF_INGRESS, 0);
}
SEC("tracepoint/syscalls/sys_exit_recvmsg")
int mf_exit_recvmsg(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit_msg(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_sendmmsg")
int mf_enter_sendmmsg(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter(ctx->args[0], ctx->args[1], ctx->args[2], 0, MF_SC_SENDMMSG, MF_EGRESS, 0);
}
SEC("tracepoint/syscalls/sys_exit_sendmmsg")
int mf_exit_sendmmsg(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit_mmsg(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_recvmmsg")
int mf_enter_recvmmsg(struct trace_event_raw_sys_enter *ctx)
{
	if (ctx->args[3] & MSG_PEEK)
		return 0;
	return on_enter(ctx->args[0], ctx->args[1], ctx->args[2], 0, MF_SC_RECVMMSG, MF_INGRESS, 0);
}
SEC("tracepoint/syscalls/sys_exit_recvmmsg")
int mf_exit_recvmmsg(struct trace_event_raw_sys_exit *ctx)
{
	return on_exit_mmsg(ctx->ret);
}

/* sendfile(out_fd, in_fd, offset, count): bytes from a file, none captured;
 * the event keeps the parsers' byte counts right (nginx sends bodies so). */
SEC("tracepoint/syscalls/sys_enter_sendfile64")
int mf_enter_sendfile(struct trace_event_raw_sys_enter *ctx)
{
	return on_enter(ctx->args[0], 0, 0, 0, MF_SC_SENDFILE, MF_EGRESS, 0);
}
SEC("tracepoint/syscalls/sys_exit_sendfile64")
int mf_exit_sendfile(struct trace_event_raw_sys_exit *ctx)
{
	return io_exit(ctx->ret);
}

/* ------------------------------------------------ socket lifecycle */

SEC("tracepoint/syscalls/sys_enter_connect")
int mf_enter_connect(struct trace_event_raw_sys_enter *ctx)
{
	struct mf_config *cfg = mf_cfg();
	if (!cfg || !cfg->enabled)
		return 0;
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	/* The agent's own connects are tracked too: see mf_self_ports. */
	if (tgid != cfg->self_tgid && !proc_allowed(cfg, tgid))
		return 0;
	struct sock *sk = fd_to_sock((__u32)ctx->args[0]);
	if (!sk || !inet_family(sk))
		return 0;
	struct mf_task *t = task_state(true);
	if (!t)
		return 0;
	__builtin_memset(&t->args, 0, sizeof(t->args));
	t->args.sk = (__u64)sk;
	t->args.fd = (__u32)ctx->args[0];
	t->args.sc = MF_SC_CONNECT;
	t->has_args = 1;
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int mf_exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct mf_args a;
	if (!take_args(&a))
		return 0;
	struct mf_config *cfg = mf_cfg();
	if (!cfg || a.sc != MF_SC_CONNECT)
		return 0;
	if (ctx->ret != 0 && ctx->ret != -EINPROGRESS)
		return 0;
	__u32 tgid = id >> 32;
	struct sock *sk = (struct sock *)a.sk;
	if (tgid == cfg->self_tgid) {
		/* The local port is bound by now, before the first SYN leaves. */
		__u16 port = AS(struct sock, sk)->__sk_common.skc_num;
		__u8 one = 1;
		if (port) {
			bpf_map_update_elem(&mf_self_ports, &port, &one, BPF_ANY);
			bpf_map_update_elem(&mf_self_fds, &a.fd, &port, BPF_ANY);
		}
		return 0;
	}
	__u64 key = ((__u64)tgid << 32) | a.fd;
	struct mf_sock n = {};
	n.sk = a.sk;
	n.id = new_id(0);
	n.role = MF_ROLE_CLIENT;
	bpf_map_update_elem(&mf_socks, &key, &n, BPF_ANY);
	return 0;
}

static __always_inline int on_accept_exit(long ret)
{
	struct mf_config *cfg = mf_cfg();
	if (!cfg || !cfg->enabled || ret < 0)
		return 0;
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	if (tgid == cfg->self_tgid || !proc_allowed(cfg, tgid))
		return 0;
	struct sock *sk = fd_to_sock((__u32)ret);
	if (!sk || !inet_family(sk))
		return 0;
	__u64 key = ((__u64)tgid << 32) | (__u32)ret;
	struct mf_sock n = {};
	n.sk = (__u64)sk;
	n.id = new_id(0);
	n.role = MF_ROLE_SERVER;
	bpf_map_update_elem(&mf_socks, &key, &n, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept")
int mf_exit_accept(struct trace_event_raw_sys_exit *ctx)
{
	return on_accept_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int mf_exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	return on_accept_exit(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_close")
int mf_enter_close(struct trace_event_raw_sys_enter *ctx)
{
	struct mf_config *cfg = mf_cfg();
	if (!cfg)
		return 0;
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	__u32 fd = (__u32)ctx->args[0];
	if (tgid == cfg->self_tgid) {
		__u16 *port = bpf_map_lookup_elem(&mf_self_fds, &fd);
		if (port) {
			__u16 p = *port;
			bpf_map_delete_elem(&mf_self_ports, &p);
			bpf_map_delete_elem(&mf_self_fds, &fd);
		}
		return 0;
	}
	__u64 key = ((__u64)tgid << 32) | fd;
	struct mf_sock *si = bpf_map_lookup_elem(&mf_socks, &key);
	if (!si)
		return 0;
	bpf_map_delete_elem(&mf_ignore, &si->id);
	if (si->flags & MF_SOCK_SEEN) {
		struct mf_event *e = bpf_ringbuf_reserve(&mf_events, sizeof(struct mf_event), 0);
		if (e) {
			__builtin_memset(e, 0, sizeof(*e));
			e->type = MF_EV_CLOSE;
			e->ts_enter = e->ts_exit = bpf_ktime_get_ns();
			e->sock_id = si->id;
			e->tgid = tgid;
			e->tid = (__u32)id;
			e->fd = fd;
			e->role = si->role;
			bpf_ringbuf_submit(e, wakeup_flags(cfg));
		} else {
			count(MF_CNT_LOST_RINGBUF);
		}
	}
	bpf_map_delete_elem(&mf_socks, &key);
	return 0;
}

/* ------------------------------------------------------ process table */

SEC("tracepoint/sched/sched_process_exec")
int mf_process_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	struct mf_config *cfg = mf_cfg();
	if (!cfg || !cfg->enabled)
		return 0;
	__u64 id = bpf_get_current_pid_tgid();
	struct mf_event *e = bpf_ringbuf_reserve(&mf_events, sizeof(struct mf_event) + MF_EXEC_PATH, 0);
	if (!e) {
		count(MF_CNT_LOST_RINGBUF);
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->type = MF_EV_EXEC;
	e->ts_enter = e->ts_exit = bpf_ktime_get_ns();
	e->tgid = id >> 32;
	e->tid = (__u32)id;
	e->fd = -1;
	e->cgroup_id = bpf_get_current_cgroup_id();
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	unsigned int loc = ctx->__data_loc_filename & 0xFFFF;
	long n = bpf_probe_read_kernel_str((char *)(e + 1), MF_EXEC_PATH, (char *)ctx + loc);
	e->cap_len = n > 0 ? (__u32)n - 1 : 0;
	e->data_len = e->cap_len;
	bpf_ringbuf_submit(e, wakeup_flags(cfg));
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int mf_process_exit(struct trace_event_raw_sched_process_template *ctx)
{
	struct mf_config *cfg = mf_cfg();
	if (!cfg || !cfg->enabled)
		return 0;
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	__u32 tid = (__u32)id;
	/* Only the end of the whole process matters to the process table. */
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;
	if (tgid == cfg->self_tgid)
		return 0;
	struct mf_event *e = bpf_ringbuf_reserve(&mf_events, sizeof(struct mf_event), 0);
	if (!e) {
		count(MF_CNT_LOST_RINGBUF);
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->type = MF_EV_EXIT;
	e->ts_enter = e->ts_exit = bpf_ktime_get_ns();
	e->tgid = tgid;
	e->tid = tid;
	e->fd = -1;
	process_comm(e->comm);
	bpf_ringbuf_submit(e, wakeup_flags(cfg));
	return 0;
}

/* ------------------------------------------------------------ OpenSSL */

static __always_inline int ssl_enter(void *ssl, void *buf, void *len_ptr, __u8 dir, __u8 ex)
{
	struct mf_config *cfg = mf_cfg();
	if (!cfg || !cfg->enabled)
		return 0;
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	if (tgid == cfg->self_tgid || !proc_allowed(cfg, tgid))
		return 0;
	struct mf_task *t = task_state(true);
	if (!t)
		return 0;
	t->ssl.ssl = (__u64)ssl;
	t->ssl.buf = (__u64)buf;
	t->ssl.len_ptr = (__u64)len_ptr;
	t->ssl.ts = bpf_ktime_get_ns();
	t->ssl.fd = -1;
	t->ssl.dir = dir;
	t->ssl.ex = ex;
	t->in_ssl = 1;
	return 0;
}

static __always_inline int ssl_exit(long ret, __u8 sc)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct mf_task *t = task_state(false);
	if (!t || !t->in_ssl)
		return 0;
	t->in_ssl = 0;
	struct mf_ssl_args a;
	__builtin_memcpy(&a, &t->ssl, sizeof(a));
	__u64 len = 0;
	if (a.ex) {
		if (ret != 1 || !a.len_ptr || bpf_probe_read_user(&len, sizeof(len), (void *)a.len_ptr))
			return 0;
	} else {
		if (ret <= 0)
			return 0;
		len = ret;
	}
	if (!len)
		return 0;
	__u32 tgid = id >> 32;
	__s32 fd = a.fd;
	if (fd < 0) {
		/* No I/O in this call (the bytes were already buffered): use the
		 * socket this SSL object was seen on before. */
		struct mf_ssl_key k = {};
		k.ssl = a.ssl;
		k.tgid = tgid;
		__s32 *f = bpf_map_lookup_elem(&mf_ssl_fd, &k);
		if (!f) {
			count(MF_CNT_SSL_NO_FD);
			return 0;
		}
		fd = *f;
	}
	struct sock *sk = fd_to_sock((__u32)fd);
	if (!sk || !inet_family(sk))
		return 0;
	struct mf_args m = {};
	m.buf = a.buf;
	m.ts = a.ts;
	m.sk = (__u64)sk;
	m.fd = (__u32)fd;
	m.sc = sc;
	m.dir = a.dir;
	return mf_emit(&m, (__u32)len, MF_SRC_OPENSSL);
}

/* int SSL_write(SSL *ssl, const void *buf, int num) */
SEC("uprobe")
int BPF_KPROBE(mf_ssl_write_enter, void *ssl, void *buf, int num)
{
	return ssl_enter(ssl, buf, NULL, MF_EGRESS, 0);
}
SEC("uretprobe")
int BPF_KRETPROBE(mf_ssl_write_exit, int ret)
{
	return ssl_exit(ret, MF_SC_SSL_WRITE);
}

/* int SSL_write_ex(SSL *s, const void *buf, size_t num, size_t *written) */
SEC("uprobe")
int BPF_KPROBE(mf_ssl_write_ex_enter, void *ssl, void *buf, size_t num, size_t *written)
{
	return ssl_enter(ssl, buf, written, MF_EGRESS, 1);
}
SEC("uretprobe")
int BPF_KRETPROBE(mf_ssl_write_ex_exit, int ret)
{
	return ssl_exit(ret, MF_SC_SSL_WRITE);
}

/* int SSL_read(SSL *ssl, void *buf, int num) */
SEC("uprobe")
int BPF_KPROBE(mf_ssl_read_enter, void *ssl, void *buf, int num)
{
	return ssl_enter(ssl, buf, NULL, MF_INGRESS, 0);
}
SEC("uretprobe")
int BPF_KRETPROBE(mf_ssl_read_exit, int ret)
{
	return ssl_exit(ret, MF_SC_SSL_READ);
}

/* int SSL_read_ex(SSL *ssl, void *buf, size_t num, size_t *readbytes) */
SEC("uprobe")
int BPF_KPROBE(mf_ssl_read_ex_enter, void *ssl, void *buf, size_t num, size_t *readbytes)
{
	return ssl_enter(ssl, buf, readbytes, MF_INGRESS, 1);
}
SEC("uretprobe")
int BPF_KRETPROBE(mf_ssl_read_ex_exit, int ret)
{
	return ssl_exit(ret, MF_SC_SSL_READ);
}

/* The layout user space decodes (bpf/index.ts). */
_Static_assert(sizeof(struct mf_event) == MF_EVENT_HEADER, "event header size");
_Static_assert(__builtin_offsetof(struct mf_event, tgid) == 40, "tgid offset");
_Static_assert(__builtin_offsetof(struct mf_event, lport) == 64, "lport offset");
_Static_assert(__builtin_offsetof(struct mf_event, laddr) == 80, "laddr offset");
_Static_assert(__builtin_offsetof(struct mf_event, comm) == 112, "comm offset");
_Static_assert(sizeof(struct mf_config) == 24, "config size");
