#!/bin/sh
# Token issuance per second against one emulated network HSM (2 ms per
# signature, through libidgate-p11fault.so in front of SoftHSM) as the
# operations kept in flight on it (hsm.threads) go 1, 2, 4, ..., 32.
# idgated (one worker) runs on core 0, wrk (64 keep-alive connections, a
# fresh assertion per login) on core 1.
#
# usage: perf/hsm_inflight.sh [SECONDS] [DELAY_MS]   results: perf/out/inflight.md
set -eu
cd "$(dirname "$0")/.."
. perf/lib.sh
D=${1:-8}
DELAY=${2:-2}
out=perf/out
mkdir -p "$out"
port=18453 admin=19093
ctl=$PWD/$out/p11fault.ctl
HZ=$(getconf CLK_TCK)
echo "sign_delay_ms=0" > "$ctl"
{
	echo "One HSM emulating ${DELAY} ms per signature; wrk -t1 -c64 -d${D}s keep-alive logins."
	echo
	echo "| operations in flight (hsm.threads) | logins/s | ideal (threads x 1/(delay + sign)) | server CPU µs/login | p99 |"
	echo "|---|---|---|---|---|"
} > "$out/inflight.md"
for n in 1 2 4 8 16 32; do
	state=$out/inflight-state
	rm -rf "$state"
	echo "sign_delay_ms=0" > "$ctl"
	IDGATE_P11FAULT_MODULE=/usr/lib/softhsm/libsofthsm2.so IDGATE_P11FAULT_CONTROL=$ctl \
	taskset -c 0 bin/idgated --state "$state" --workers 1 --poll adaptive --set login.credential_burst=255 --set login.credential_interval_ms=1 \
		--set server.listen=127.0.0.1:$port --set server.admin_listen=127.0.0.1:$admin \
		--set hsm.module="$PWD/bin/libidgate-p11fault.so" --set hsm.threads=$n \
		--set hsm.deadline_ms=10000 > "$out/inflight-idgated.log" 2>&1 &
	pid=$!
	wait_healthy $admin
	/usr/bin/python3 perf/make_assertions.py "http://127.0.0.1:$admin" "$state/admin.token" \
		"https://127.0.0.1:$port/oauth2/token" 500 $((D * 4000 + 1000)) "$out/inflight-assertions.txt"
	echo "sign_delay_ms=$DELAY" > "$ctl.new" && mv "$ctl.new" "$ctl"
	sleep 0.2
	t0=$(cpu_ticks $pid)
	ASSERTIONS=$out/inflight-assertions.txt taskset -c 1 wrk -t1 -c64 -d"${D}s" --latency \
		-s perf/login.lua "https://127.0.0.1:$port" > "$out/inflight-wrk-$n.txt" 2>&1
	t1=$(cpu_ticks $pid)
	reqs=$(awk '/requests in/ {print $1}' "$out/inflight-wrk-$n.txt")
	non2xx=$(awk '/Non-2xx/ {print $5}' "$out/inflight-wrk-$n.txt")
	ok=$((reqs - ${non2xx:-0}))
	p99=$(awk '$1 == "99%" {print $2}' "$out/inflight-wrk-$n.txt")
	awk -v n="$n" -v ok="$ok" -v d="$D" -v a="$t0" -v b="$t1" -v hz="$HZ" -v dl="$DELAY" -v p99="$p99" \
		-v bad="${non2xx:-0}" 'BEGIN {
		printf "| %d | %.0f | %.0f | %.0f | %s |%s\n", n, ok / d, n * 1000 / (dl + 0.09),
			(ok ? (b - a) * 1e6 / hz / ok : 0), p99, (bad > 0 ? " (" bad " non-2xx)" : "") }' \
		| tee -a "$out/inflight.md"
	kill $pid
	wait $pid 2>/dev/null || true
done
rm -f "$ctl"
cat "$out/inflight.md"
