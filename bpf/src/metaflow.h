/*
 * Layouts shared by the BPF programs (metaflow.bpf.c) and user space.
 *
 * The TypeScript side (bpf/index.ts) decodes events and encodes the config
 * with the offsets written next to each field; change both together. The
 * static asserts at the end of metaflow.bpf.c pin the offsets.
 */
#ifndef METAFLOW_BPF_H
#define METAFLOW_BPF_H

/* Largest capture per message; `capture_bytes` in the config is at most this. */
#define MF_MAX_CAPTURE 16384
/* Bytes of struct mf_event; the captured data follows it. */
#define MF_EVENT_HEADER 128
/* Bytes of an exec event's file name kept. */
#define MF_EXEC_PATH 256
/* iovec entries and mmsghdr messages looked at per system call (bounded loops). */
#define MF_MAX_IOV 8
#define MF_MAX_MMSG 4

/* Event types. */
#define MF_EV_DATA 1  /* bytes read or written on a socket (or through SSL_read/SSL_write) */
#define MF_EV_CLOSE 2 /* a traced socket was closed */
#define MF_EV_EXEC 3  /* a process called exec; data is the file name */
#define MF_EV_EXIT 4  /* a process (its last thread) exited */

/* Directions, from the process's point of view. */
#define MF_EGRESS 0
#define MF_INGRESS 1

/* Where the bytes were seen. */
#define MF_SRC_SYSCALL 0
#define MF_SRC_OPENSSL 1

/* Role of the process on the socket. */
#define MF_ROLE_UNKNOWN 0
#define MF_ROLE_CLIENT 1 /* it connected */
#define MF_ROLE_SERVER 2 /* it accepted */

/* System calls (and library calls) an event came from. */
#define MF_SC_READ 1
#define MF_SC_WRITE 2
#define MF_SC_READV 3
#define MF_SC_WRITEV 4
#define MF_SC_SENDTO 5
#define MF_SC_RECVFROM 6
#define MF_SC_SENDMSG 7
#define MF_SC_RECVMSG 8
#define MF_SC_SENDMMSG 9
#define MF_SC_RECVMMSG 10
#define MF_SC_SENDFILE 11
#define MF_SC_SSL_WRITE 12
#define MF_SC_SSL_READ 13
#define MF_SC_CONNECT 14

/* Event flags. */
#define MF_F_PEER_FROM_MSG 1 /* unconnected datagram socket: the peer came from the message's address */
#define MF_F_TLS 2           /* the socket carries TLS whose plaintext the OpenSSL probes see */

/* One event in the ring buffer; MF_EVENT_HEADER bytes, data after it. */
struct mf_event {
	__u64 ts_enter;  /*   0: CLOCK_MONOTONIC ns at the call's entry */
	__u64 ts_exit;   /*   8: CLOCK_MONOTONIC ns at its return */
	__u64 sock_id;   /*  16: unique id of the socket (per open socket, not per fd number) */
	__u64 trace_id;  /*  24: syscall trace id, 0 when none */
	__u64 cgroup_id; /*  32: cgroup v2 id of the thread */
	__u32 tgid;      /*  40 */
	__u32 tid;       /*  44 */
	__s32 fd;        /*  48 */
	__u32 tcp_seq;   /*  52: syscall: sequence of the first byte; openssl: of the byte after the record */
	__u32 data_len;  /*  56: bytes the call moved */
	__u32 cap_len;   /*  60: bytes captured after the header */
	__u16 lport;     /*  64: local port */
	__u16 rport;     /*  66: remote port */
	__u8 type;       /*  68: MF_EV_* */
	__u8 dir;        /*  69: MF_EGRESS / MF_INGRESS */
	__u8 source;     /*  70: MF_SRC_* */
	__u8 role;       /*  71: MF_ROLE_* */
	__u8 family;     /*  72: 2 (AF_INET) or 10 (AF_INET6) */
	__u8 l4;         /*  73: 6 (TCP) or 17 (UDP) */
	__u8 syscall;    /*  74: MF_SC_* */
	__u8 flags;      /*  75: MF_F_* */
	__u32 pad;       /*  76 */
	__u8 laddr[16];  /*  80: IPv4 in the first 4 bytes */
	__u8 raddr[16];  /*  96 */
	char comm[16];   /* 112 */
};

/* Filter flag bits in mf_config.filter_flags: which filter maps hold entries. */
#define MF_FILTER_PID_ALLOW 0x01
#define MF_FILTER_PID_DENY 0x02
#define MF_FILTER_COMM_ALLOW 0x04
#define MF_FILTER_COMM_DENY 0x08
#define MF_FILTER_CGROUP_ALLOW 0x10
#define MF_FILTER_CGROUP_DENY 0x20
#define MF_FILTER_PORT_ALLOW 0x40
#define MF_FILTER_PORT_DENY 0x80
#define MF_FILTER_PROC_ANY 0x3f
#define MF_FILTER_PROC_ALLOW (MF_FILTER_PID_ALLOW | MF_FILTER_COMM_ALLOW | MF_FILTER_CGROUP_ALLOW)

/* Values in the filter maps (bits: an entry may be both). */
#define MF_ALLOW 1
#define MF_DENY 2

/* The one entry of the mf_config array map. */
struct mf_config {
	__u32 enabled;       /*  0: 0 stops all tracing */
	__u32 self_tgid;     /*  4: the agent: never traced */
	__u32 capture_bytes; /*  8: bytes captured per message, <= MF_MAX_CAPTURE */
	__u32 wakeup_bytes;  /* 12: wake the consumer once this much is waiting (else it polls) */
	__u32 filter_flags;  /* 16: MF_FILTER_* */
	__u16 eph_low;       /* 20: ephemeral port range, to guess roles of sockets opened before tracing */
	__u16 eph_high;      /* 22 */
};

/* Indices of the mf_counters per-CPU array. */
#define MF_CNT_LOST_RINGBUF 0 /* ring buffer full: event dropped */
#define MF_CNT_LOST_SCRATCH 1 /* no scratch buffer (cannot happen unless the map is too small) */
#define MF_CNT_SSL_NO_FD 2    /* SSL call on an SSL object whose socket was never seen */
#define MF_CNT_EVENTS 3       /* events written */
#define MF_CNT_MAX 4

#endif
