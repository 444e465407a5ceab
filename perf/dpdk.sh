#!/bin/sh
# The two dataplane backends side by side: the same idgated, the same
# idgate-load client in the same network namespace, the same requests at
# the same rates, with server.backend = io_uring (the kernel's TCP over
# loopback) and server.backend = dpdk (the userspace stack on a TAP
# device, 198.18.0.2).  Each server runs alone on core 0 with one worker,
# the client on core 1.
#
# Figures per row:
#   - server CPU per answer: idgated's utime + stime (all its threads);
#   - client CPU per answer: idgate-load's, from the same run;
#   - both: their sum.  Over loopback the kernel does much of one side's
#     TCP work in the other side's system calls (a send runs the peer's
#     receive path), so only the sum compares fairly with the TAP path.
# Over a TAP device every frame still crosses the kernel (the PMD's
# read(2) and write(2) on the tap file descriptor, in the worker's own
# time), so this machine shows the userspace stack's cost plus a kernel
# path a real NIC does not have; see perf/RESULTS.md for what that means.
#
# With PROFILE=1 the worker thread is also sampled (perf record) during
# the JWKS new-connection row, and its time is split into the kernel, the
# userspace stack, the DPDK glue and PMD, TLS and crypto, libc and the rest.
#
# usage: [PROFILE=1] perf/dpdk.sh [SECONDS] [RATE] [KEEPALIVE-RATE]   (as root)
#        results: perf/out/dpdk/results.md
set -eu
cd "$(dirname "$0")/.."
. perf/lib.sh
D=${1:-10}
R=${2:-300}
K=${3:-2000}
out=perf/out/dpdk
ns=igbench-$$
port=8443 admin=19099
HZ=$(getconf CLK_TCK)
rm -rf "$out"
mkdir -p "$out"
ipid=
cleanup() {
	[ -n "$ipid" ] && kill "$ipid" 2>/dev/null && wait "$ipid" 2>/dev/null
	ip netns del "$ns" 2>/dev/null || true
}
trap cleanup EXIT INT TERM
ip netns add "$ns"
ip netns exec "$ns" ip link set lo up
NS="ip netns exec $ns"
LOAD="ip netns exec $ns taskset -c 1 bin/idgate-load"


rows() { # BACKEND HOST: start idgated, measure every scenario, stop it
	backend=$1 host=$2
	shift 2
	st=$out/state
	$NS taskset -c 0 bin/idgated --state "$st" --workers 1 --poll adaptive --set login.credential_burst=255 --set login.credential_interval_ms=1 \
		--backend "$backend" --set server.listen=$host:$port \
		--set server.admin_listen=127.0.0.1:$admin --set hsm.threads=1 \
		--set login.replay_slots=4194304 \
		--set "dpdk.eal_args=--no-huge --no-pci -m 512 --no-shconf --no-telemetry -l 0 --vdev=net_tap0,iface=igbtap0" \
		> "$out/idgated-$backend.log" 2>&1 &
	ipid=$!
	if [ "$backend" = dpdk ]; then
		for i in $(seq 100); do
			$NS ip link show igbtap0 >/dev/null 2>&1 && break
			sleep 0.1
		done
		$NS ip addr add 198.18.0.1/24 dev igbtap0
		$NS ip link set igbtap0 up
	fi
	for i in $(seq 100); do
		$NS curl -sf "http://127.0.0.1:$admin/healthz" >/dev/null 2>&1 && break
		sleep 0.1
	done
	[ -f "$out/pop" ] || $NS bin/idgate-load populate --admin "http://127.0.0.1:$admin" \
		--admin-token-file "$st/admin.token" --citizens 1000 --seed dp \
		--population "$out/pop" > /dev/null
	u=https://$host:$port
	measure "$backend, JWKS, keep-alive, $K/s" --url "$u" --mix jwks --rate "$K" \
		--tls keepalive --warm-up --connections 16
	measure "$backend, login, keep-alive, $R/s" --url "$u" --mix login --rate "$R" \
		--population "$out/pop" --tls keepalive --warm-up --connections 16
	measure "$backend, login, keep-alive, $K/s" --url "$u" --mix login --rate "$K" \
		--population "$out/pop" --tls keepalive --warm-up --connections 16
	measure "$backend, login, new connection, $R/s" --url "$u" --mix login --rate "$R" \
		--population "$out/pop" --tls new --connections 64
	if [ -n "${PROFILE:-}" ]; then
		tid=$(grep -l idgate-w0 /proc/$ipid/task/*/comm | head -n 1 | cut -d/ -f5)
		perf record -F 4999 -t "$tid" -o "$out/perf-$backend.data" sleep "$D" \
			> /dev/null 2>&1 &
		ppid=$!
	fi
	measure "$backend, JWKS, new connection, $R/s" --url "$u" --mix jwks --rate "$R" \
		--tls new --connections 64
	if [ -n "${PROFILE:-}" ]; then
		wait "$ppid" || true
		perf report -i "$out/perf-$backend.data" --no-children --sort dso,sym \
			-F overhead,dso,sym 2>/dev/null | grep % > "$out/profile-$backend.txt" || true
	fi
	$NS curl -s -H "Authorization: Bearer $(cat "$st/admin.token")" \
		"http://127.0.0.1:$admin/metrics" > "$out/metrics-$backend.txt" || true
	kill "$ipid"
	wait "$ipid" 2>/dev/null || true
	ipid=
}

{
	echo "machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), kernel $(uname -r)"
	echo "idgate-load for $D s per row on core 1, in network namespace $ns; idgated (1 worker, poll = adaptive) on core 0"
	echo
	echo "| backend, request, connections, rate | 2xx answers | server CPU µs/answer | client CPU µs/answer | both | p50 | p99 | |"
	echo "|---|---|---|---|---|---|---|---|"
} > "$out/results.md"
rows io_uring 127.0.0.1
rows dpdk 198.18.0.2
if [ -n "${PROFILE:-}" ]; then
	{
		echo
		echo "Worker thread, JWKS on new connections at $R/s (perf record, share of samples):"
		echo
		echo "| | io_uring | dpdk |"
		echo "|---|---|---|"
		/usr/bin/python3 perf/profile_split.py "$out/profile-io_uring.txt" "$out/profile-dpdk.txt"
	} >> "$out/results.md"
fi
echo
cat "$out/results.md"
grep -E 'ustack_tcp_total\{event="(retransmits|timeouts|syn_cookies_sent|rst_sent)"\}|dpdk_tx_dropped' \
	"$out/metrics-dpdk.txt" || true
