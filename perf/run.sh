#!/bin/sh
# Login benchmark: logins/s and server CPU per login for idgated on one
# core, (a) on keep-alive connections and (b) with a new connection and
# full TLS handshake per login, next to nginx (Debian's, OpenSSL 3.0)
# answering a static 200 over TLS in the same run.  The server under test
# runs on core 0 (taskset), wrk on core 1.  Server CPU is read from
# /proc/PID/stat (utime + stime of all its threads, the HSM threads and
# SoftHSM included).
#
# usage: perf/run.sh [SECONDS] [CONNECTIONS]      results: perf/out/results.md
set -eu
cd "$(dirname "$0")/.."
. perf/lib.sh
D=${1:-15}
C=${2:-32}
out=perf/out
state=$out/state
port=18443 admin=19090 nport=18444
rm -rf "$out"
mkdir -p "$out"
HZ=$(getconf CLK_TCK)

metric() { # value of metric line $1 from idgated
	curl -s -H "Authorization: Bearer $(cat $state/admin.token)" \
		"http://127.0.0.1:$admin/metrics" | awk -v m="$1" '$1 == m {print $2}'
}

run_wrk() { # label, url, pid, extra env...; appends a row to results.md
	label=$1 url=$2 pid=$3
	shift 3
	prof=$out/perf-$(echo "$label" | tr -c 'A-Za-z0-9\n' '_').data
	# A sampling profile of the server alongside (software clock: this
	# machine kind has no hardware counters).
	perf record -q -e cpu-clock -F 999 -p "$pid" -o "$prof" >/dev/null 2>&1 &
	perfpid=$!
	t0=$(cpu_ticks "$pid")
	env "$@" taskset -c 1 wrk -t1 -c"$C" -d"${D}s" --latency -s "$script" "$url" \
		> "$out/wrk-$label.txt" 2>&1
	t1=$(cpu_ticks "$pid")
	kill -INT $perfpid 2>/dev/null; wait $perfpid 2>/dev/null || true
	perf report -i "$prof" --sort comm,dso --stdio -q 2>/dev/null | awk 'NF >= 3' \
		> "$prof.txt" || true
	reqs=$(awk '/requests in/ {print $1}' "$out/wrk-$label.txt")
	non2xx=$(awk '/Non-2xx/ {print $5}' "$out/wrk-$label.txt")
	ok=$((reqs - ${non2xx:-0}))
	p50=$(awk '$1 == "50%" {print $2}' "$out/wrk-$label.txt")
	p99=$(awk '$1 == "99%" {print $2}' "$out/wrk-$label.txt")
	cpu_us=$(awk -v a="$t0" -v b="$t1" -v hz="$HZ" -v n="$ok" \
		'BEGIN { printf "%.0f", n ? (b - a) * 1e6 / hz / n : 0 }')
	rps=$(awk -v n="$ok" -v d="$D" 'BEGIN { printf "%.0f", n / d }')
	echo "| $label | $rps | $cpu_us | $p50 | $p99 | $ok ok, ${non2xx:-0} non-2xx |" | tee -a "$out/results.md"
	echo "$label: $cpu_us" >> "$out/cpu.txt"
	{
		echo "### $label: server CPU by thread and library (perf, % of samples; $cpu_us µs/req)"
		echo '```'
		head -n 12 "$prof.txt"
		echo '```'
	} >> "$out/profiles.md"
}

echo "machine: $(nproc) cores, $(awk '/model name/ {$1=$2=$3=""; print; exit}' /proc/cpuinfo), kernel $(uname -r)" > "$out/results.md"
echo "wrk -t1 -c$C -d${D}s on core 1; server on core 0" >> "$out/results.md"
echo >> "$out/results.md"
echo "| run | req/s | server CPU µs/req | p50 | p99 | answers |" >> "$out/results.md"
echo "|---|---|---|---|---|---|" >> "$out/results.md"

# --- idgated -----------------------------------------------------------
taskset -c 0 bin/idgated --state "$state" --workers 1 --poll adaptive --set login.credential_burst=255 --set login.credential_interval_ms=1 \
	--set server.listen=127.0.0.1:$port --set server.admin_listen=127.0.0.1:$admin \
	--set hsm.threads=1 --set login.replay_slots=4194304 \
	> "$out/idgated.log" 2>&1 &
ipid=$!
trap stop_servers EXIT
wait_healthy $admin
n=$((D * 6000 + 2000))
script=perf/login.lua
for mode in keepalive newconn; do
	/usr/bin/python3 perf/make_assertions.py "http://127.0.0.1:$admin" "$state/admin.token" \
		"https://127.0.0.1:$port/oauth2/token" 1000 "$n" "$out/assertions-$mode.txt"
	if [ "$mode" = keepalive ]; then
		run_wrk "idgated login, keep-alive" "https://127.0.0.1:$port" "$ipid" \
			ASSERTIONS="$out/assertions-$mode.txt"
	else
		run_wrk "idgated login, new TLS 1.3 connection each" "https://127.0.0.1:$port" "$ipid" \
			ASSERTIONS="$out/assertions-$mode.txt" CLOSE=1
	fi
done
# Bulk enrolment through the admin API (JSON lines, 50,000 per request).
/usr/bin/python3 perf/bulk_enrol.py "http://127.0.0.1:$admin" "$state/admin.token" 50000 4 \
	| tee "$out/enrol.txt"
echo "idgated handshakes full/resumed: $(metric 'idgate_tls_handshakes_total{kind="full"}')/$(metric 'idgate_tls_handshakes_total{kind="resumed"}')" >> "$out/metrics.txt"
kill $ipid
wait $ipid 2>/dev/null || true

# --- nginx reference, same certificate, same core, same client ------------
start_nginx "$out" $nport "$state/tls.crt" "$state/tls.key" off
# the nginx worker is the child of the master
nw=$(pgrep -P $npid | head -n 1)
cat > "$out/static.lua" <<'LUA'
local headers = {}
if os.getenv("CLOSE") == "1" then headers["Connection"] = "close" end
request = function() return wrk.format("GET", "/", headers) end
LUA
script=$out/static.lua
run_wrk "nginx static 200, keep-alive" "https://127.0.0.1:$nport" "$nw"
run_wrk "nginx static 200, new TLS 1.3 connection each" "https://127.0.0.1:$nport" "$nw" CLOSE=1
kill $npid
wait $npid 2>/dev/null || true

# Breakdown of a login (keep-alive) and of the handshake: the HSM thread's
# share is the signature, the worker's share in libcrypto the assertion
# verification, and a new connection's extra CPU the TLS handshake.
ka=$(awk -F': ' '/idgated login, keep-alive/ {print $2}' "$out/cpu.txt")
nc=$(awk -F': ' '/idgated login, new TLS/ {print $2}' "$out/cpu.txt")
kp=$out/perf-idgated_login__keep_alive.data.txt
sig=$(awk '$2 ~ /idgate-hsm/ {s += $1} END {print s + 0}' "$kp")
ver=$(awk '$2 ~ /idgate-w/ && $3 ~ /libcrypto/ {s += $1} END {print s + 0}' "$kp")
{
	echo
	echo "Breakdown per login (µs of server CPU): keep-alive login $ka, of which"
	echo "HSM signature (SoftHSM thread) $(awk -v a="$ka" -v p="$sig" 'BEGIN {printf "%.0f", a * p / 100}'),"
	echo "assertion verification (libcrypto in the worker) $(awk -v a="$ka" -v p="$ver" 'BEGIN {printf "%.0f", a * p / 100}'),"
	echo "the rest $(awk -v a="$ka" -v p="$sig" -v q="$ver" 'BEGIN {printf "%.0f", a * (100 - p - q) / 100}');"
	echo "a new TLS 1.3 connection with a full handshake adds $((nc - ka))."
} | tee -a "$out/results.md"
{
	echo "### idgated worker, new connection per login: top functions (perf, % of samples)"
	echo '```'
	perf report -i "$out/perf-idgated_login__new_TLS_1_3_connection_each.data" --comm idgate-w0 \
		--sort dso,sym --stdio -q 2>/dev/null | head -n 20
	echo '```'
} >> "$out/profiles.md"
echo >> "$out/results.md"
echo "Bulk enrolment: $(cat "$out/enrol.txt")" >> "$out/results.md"
echo
cat "$out/results.md"
