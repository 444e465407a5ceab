"""Split perf report lines (--sort dso,sym -F overhead,dso,sym) of an idgated
worker into where the time goes: the kernel, the userspace TCP/IP stack,
the backend's glue (DPDK and its PMD, or io_uring), TLS and crypto, libc,
and the rest (HTTP, handlers, the connection layer).  Prints one Markdown
row per category with a column per file given."""
import re
import sys

# The stack's functions (dataplane/ustack/*.c): its public us_* calls and
# its static helpers.
USTACK = re.compile(r"^(us_\w+|on_segment|on_ack|on_data|on_syn|on_time_wait|on_cookie_ack|"
                    r"on_timer|output|send_seg|send_synack|send_rst|send_ack|challenge_ack|"
                    r"resend_first|emit|reply|tcp_input|tcp_pseudo|sock_new|sock_free|"
                    r"sock_find|sock_fail|dispatch|run_timers|timer_\w+|establish|take_fin|"
                    r"seq_ok|rcv_nxt|rcv_wnd|isn|tw_\w+|bufs_get|bufs_put|hash2|post|"
                    r"ack_later|enter_time_wait|data_end|arm_rto|clamp_mss|put_eth|put_ipv4|"
                    r"put16|put32|get16|get32|rxq_\w+|build_arp|ms_of)$")
GLUE = re.compile(r"^(rx|rx_input|rx_release_held|tx_\w+|fault_\w+|is_tcp|sock_read|"
                  r"sock_write|defer|deferred_one|run_deferred|dpdk_\w+|on_accept|"
                  r"on_readable|on_writable|on_error|nap|reap|publish|stack_\w+|rte_\w+|"
                  r"pmd_\w+|tap_\w+|eth_\w+|common_ring\w*|bucket\w*|io_uring\w*|"
                  r"__io_uring\w*|uring_\w+|on_recv|on_send|on_hsm|arm_\w+|sqe_get|"
                  r"set_data|recycle|hsm_reap)$")
CRYPTO = re.compile(r"mbedtls|psa_|idgate_accel|ecp|aes|sha|gcm|x25519|crypto|bn_|ec_|"
                    r"ossl|evp|sodium|hmac|hkdf", re.I)

CATS = ["kernel", "userspace TCP/IP stack", "backend glue (DPDK + PMD, or io_uring)",
        "TLS and crypto", "libc and vdso (allocation, copies, clock reads)", "the rest (HTTP, handlers, conn)"]


def split(path):
    cats = dict.fromkeys(CATS, 0.0)
    for line in open(path):
        m = re.match(r"\s*([\d.]+)%\s+(\S+)\s+\[(.)\]\s+(\S+)", line)
        if not m:
            continue
        pct, dso, sym = float(m.group(1)), m.group(2), m.group(4)
        if dso.startswith("[kernel"):
            c = CATS[0]
        elif USTACK.match(sym):
            c = CATS[1]
        elif "librte" in dso or "liburing" in dso or GLUE.match(sym):
            c = CATS[2]
        elif CRYPTO.search(sym) or dso.startswith(("libcrypto", "libsodium")):
            c = CATS[3]
        elif dso.startswith("libc") or dso == "[vdso]":
            c = CATS[4]
        else:
            c = CATS[5]
        cats[c] += pct
    return cats


cols = [split(p) for p in sys.argv[1:]]
for c in CATS:
    print("| %s | %s |" % (c, " | ".join("%.1f%%" % col[c] for col in cols)))
