#!/bin/sh
# Two idgated binaries side by side on the login path: server CPU per
# login and latency at a fixed offered rate, keep-alive and new TLS
# connections, A B A B in one run (so drift on a shared machine shows).
# One worker on core 0, idgate-load on core 1, the same population and
# settings for both; each binary gets its own fresh state dir.
#
# usage: perf/ab.sh BIN_A BIN_B [SECONDS] [RATE] [NEWCONN_RATE]
#        results: perf/out-ab/results.md
set -eu
cd "$(dirname "$0")/.."
. perf/lib.sh
A=$1 B=$2
D=${3:-10}
R=${4:-2000}
N=${5:-300}
out=perf/out-ab
port=18543 admin=19190
HZ=$(getconf CLK_TCK)
LOAD="taskset -c 1 bin/idgate-load"
rm -rf "$out"
mkdir -p "$out"
ipid=
trap '[ -n "$ipid" ] && kill $ipid 2>/dev/null; true' EXIT INT TERM

rows() { # LABEL BINARY: start it, measure, stop it
	st=$out/state-$1
	taskset -c 0 "$2" --state "$st" --workers 1 --poll adaptive \
		--set server.listen=127.0.0.1:$port --set server.admin_listen=127.0.0.1:$admin \
		> "$out/idgated-$1.log" 2>&1 &
	ipid=$!
	wait_healthy $admin
	# 20,000 citizens: at these rates each logs in well within a phone's
	# rate (the default per-credential limit stays on).
	bin/idgate-load populate --admin "http://127.0.0.1:$admin" \
		--admin-token-file "$st/admin.token" --citizens 20000 --seed ab \
		--population "$out/pop-$1" > /dev/null
	measure "$1, login, keep-alive, $R/s" --url "https://127.0.0.1:$port" --mix login \
		--rate "$R" --tls keepalive --warm-up --connections 32 --population "$out/pop-$1"
	measure "$1, login, new connection, $N/s" --url "https://127.0.0.1:$port" --mix login \
		--rate "$N" --tls new --connections 64 --population "$out/pop-$1"
	kill $ipid
	wait $ipid 2>/dev/null || true
	ipid=
	rm -rf "$st"
}

{
	echo "perf/ab.sh $*: A = $A, B = $B; $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r)"
	echo
	echo "| run | 2xx | server µs/req | client µs/req | total µs/req | p50 | p99 | note |"
	echo "|---|---|---|---|---|---|---|---|"
} | tee "$out/results.md"
for round in 1 2; do
	rows "A$round" "$A"
	rows "B$round" "$B"
done
