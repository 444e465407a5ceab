#!/bin/sh
# Signing benchmark: signatures per second through the CSC API's signHash
# on keep-alive connections (one hash per call, then 16 per call), with the
# citizens' unwrapped keys in the HSM threads' caches (32 signers) and not
# (256 signers, more than a cache holds, so every call unwraps), next to
# the raw HSM rate measured in the same run on the same core: p11sign,
# C_Sign straight through PKCS#11 with the same number of sessions.
# idgated (one worker, two HSM threads) runs on core 0 with SoftHSM inside
# it, wrk on core 1; server CPU per signature from /proc.  Signatures are
# counted from idgated's own metrics (signHash answered 200).
#
# usage: perf/csc.sh [SECONDS] [CONNECTIONS]     results: perf/out-csc/results.md
set -eu
cd "$(dirname "$0")/.."
. perf/lib.sh
D=${1:-5}
C=${2:-16}
out=perf/out-csc
state=$out/state
port=18453 admin=19095
rm -rf "$out"
mkdir -p "$out"
HZ=$(getconf CLK_TCK)

signed() { # signHash calls answered 200 so far
	curl -s -H "Authorization: Bearer $(cat $state/admin.token)" \
		"http://127.0.0.1:$admin/metrics" |
		awk '$1 == "idgate_requests_total{endpoint=\"csc_sign_hash\",status=\"200\"}" {print $2}' |
		grep . || echo 0
}

{
	echo "machine: $(nproc) cores, $(awk '/model name/ {$1=$2=$3=""; print; exit}' /proc/cpuinfo), kernel $(uname -r)"
	echo "idgated --workers 1, hsm.threads=2, on core 0; wrk -t1 -c$C -d${D}s on core 1"
	echo
	echo "| run | signatures/s | calls/s | server CPU µs/signature | p50 | p99 |"
	echo "|---|---|---|---|---|---|"
} > "$out/results.md"

taskset -c 0 bin/idgated --state "$state" --workers 1 --poll adaptive --set login.credential_burst=255 --set login.credential_interval_ms=1 \
	--set server.listen=127.0.0.1:$port --set server.admin_listen=127.0.0.1:$admin \
	--set hsm.threads=2 --set csc.sad_lifetime_s=900 --set login.replay_slots=4194304 \
	> "$out/idgated.log" 2>&1 &
ipid=$!
trap stop_servers EXIT
wait_healthy $admin

for run in "32 1 14000" "32 16 1500" "256 1 3000"; do
	set -- $run
	signers=$1 h=$2 n=$(($3 * D))
	label="signHash, $h hash(es) per call, $signers signers"
	/usr/bin/python3 perf/make_sads.py "http://127.0.0.1:$admin" "$state/admin.token" \
		"https://127.0.0.1:$port" "$signers" "$n" "$h" "$out/calls.txt"
	s0=$(signed)
	t0=$(cpu_ticks $ipid)
	CALLS="$out/calls.txt" taskset -c 1 wrk -t1 -c"$C" -d"${D}s" --latency \
		-s perf/signhash.lua "https://127.0.0.1:$port" > "$out/wrk-$signers-$h.txt" 2>&1
	s1=$(signed)
	t1=$(cpu_ticks $ipid)
	calls=$((s1 - s0))
	# All prepared calls sent before the end: the rate is a lower bound.
	[ "$((calls * 100))" -lt "$((n * 99))" ] ||
		label="$label (ran out of prepared calls: a lower bound)"
	p50=$(awk '$1 == "50%" {print $2}' "$out/wrk-$signers-$h.txt")
	p99=$(awk '$1 == "99%" {print $2}' "$out/wrk-$signers-$h.txt")
	awk -v l="$label" -v c="$calls" -v h="$h" -v d="$D" -v a="$t0" -v b="$t1" -v hz="$HZ" \
		-v p50="$p50" -v p99="$p99" 'BEGIN {
		printf "| %s | %.0f | %.0f | %.0f | %s | %s |\n", l, c * h / d, c / d,
			c ? (b - a) * 1e6 / hz / (c * h) : 0, p50, p99 }' | tee -a "$out/results.md"
done
kill $ipid
wait $ipid 2>/dev/null || true

# The raw HSM reference: the same token, core and number of sessions.
echo >> "$out/results.md"
for mode in "" --unwrap; do
	SOFTHSM2_CONF=$state/softhsm2.conf taskset -c 0 bin/p11sign \
		/usr/lib/softhsm/libsofthsm2.so idgate "$state/hsm.pin" 2 "$D" $mode |
		sed 's/^/raw SoftHSM (p11sign): /' | tee -a "$out/results.md"
done
