#!/bin/sh
# What `make bench` runs: the standard scenarios of one run, their results
# combined in one file, perf/results/<UTC date>.json, and the table between
# the bench markers of perf/RESULTS.md regenerated from it (perf/summarize.py).
#
# Scenarios (server on core 0, load on core 1, $C connections, $D s each):
#   idgate-load: idgated login on keep-alive connections and with a new TLS
#     connection per login; idgated signing (credentials/authorize then
#     signatures/signHash per request); nginx's static 200 over TLS,
#     keep-alive and new connection each (the reference);
#   wrk: the same nginx, keep-alive and `Connection: close`, as an
#     independent check of idgate-load's own figures.
# Around them, as before: perf/run.sh (wrk logins, profiles, bulk
# enrolment), perf/hsm_inflight.sh, perf/csc.sh, perf/handshake.sh (the
# accelerator against mbedTLS's own code and nginx), perf/tls_hsm.sh (the
# TLS key in a 2 ms HSM), perf/dpdk.sh (the two backends, as root) and
# perf/capacity.sh; their
# tables and find-capacity results are folded into the day's JSON.
#
# How an idgate-load scenario finds the throughput: a short probe ($PROBE s)
# at an offered rate well above what the server can do, then the measured
# run of $D s offering $OVER times what the probe achieved, so the server
# is saturated and the generator's queue grows only slowly.  The
# throughput is idgate-load's achieved rate: the answers that came within
# the schedule (the backlog answered after it is counted apart);
# --timeout 2 bounds that drain.  Server CPU per request: utime + stime of the server's
# threads (/proc/PID/stat) from the start to the end of the measured run,
# over every 2xx answer of it.  wrk runs closed loop for $D s.
#
# usage: perf/bench.sh [SECONDS] [CONNECTIONS]
# environment: BENCH_PROBE (probe seconds, default 3), BENCH_OVER (offered
#   rate over the probe's throughput, default 1.3), BENCH_EXISTING=0 (skip
#   run.sh, hsm_inflight.sh, csc.sh, capacity.sh), BENCH_RESULTS (directory
#   of the day's JSON, default perf/results), BENCH_MD (default
#   perf/RESULTS.md)
# Outputs of the scenarios: perf/out/bench/ (ID.json, ID.txt, ID.meta, ...).
set -eu
cd "$(dirname "$0")/.."
# shellcheck source=perf/lib.sh
. perf/lib.sh
D=${1:-10}
C=${2:-32}
PROBE=${BENCH_PROBE:-3}
OVER=${BENCH_OVER:-1.3}
EXISTING=${BENCH_EXISTING:-1}
res=${BENCH_RESULTS:-perf/results}
md=${BENCH_MD:-perf/RESULTS.md}
out=perf/out/bench
state=$out/state
port=18473 admin=19097 nport=18474
HZ=$(getconf CLK_TCK)
day=$(date -u +%Y-%m-%d)
started=$(date +%s)
started_utc=$(date -u +%Y-%m-%dT%H:%M:%SZ)
failed=0
command="sh perf/bench.sh${*:+ $*}"
[ -z "${MAKELEVEL:-}" ] || command="make bench ($command)"

trap stop_servers EXIT
trap 'exit 130' INT TERM

# Server CPU ticks of process $1, empty if it is gone.
ticks() {
	cpu_ticks "$1" 2>/dev/null || true
}
# CPU ticks of this shell's waited-for children (the load generator).
child_ticks() {
	awk '{print $16 + $17}' "/proc/$$/stat"
}
now() {
	date +%s.%N
}
# meta FILE KEY VALUE: one line KEY=VALUE of a scenario's record.
meta() {
	printf '%s=%s\n' "$2" "$3" >> "$1"
}

# The earlier benchmarks' statuses, KEY=VALUE lines for existing.meta.
exmeta=
existing() { # SCRIPT: run one of the earlier benchmarks, note its status
	echo "== perf/$1"
	src=0
	sh "perf/$1" || src=$?
	[ "$src" -eq 0 ] || { echo "perf/$1 failed (exit $src)" >&2; failed=1; }
	exmeta="${exmeta}script.$1=$src
"
}

# perf/run.sh first: it starts from an empty perf/out.
if [ "$EXISTING" = 1 ]; then
	existing run.sh
fi
rm -rf "$out"
mkdir -p "$out" "$res"

m=$out/run.meta
: > "$m"
meta "$m" date "$day"
meta "$m" started "$started"
meta "$m" started_utc "$started_utc"
meta "$m" command "$command"
meta "$m" commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
meta "$m" worktree_modified "$(git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo yes || echo no)"
meta "$m" cores "$(nproc)"
meta "$m" model "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
meta "$m" kernel "$(uname -r)"
meta "$m" duration_s "$D"
meta "$m" connections "$C"
meta "$m" probe_s "$PROBE"
meta "$m" over "$OVER"
meta "$m" hz "$HZ"
meta "$m" server_core 0
meta "$m" generator_core 1
meta "$m" wrk "$(wrk -v 2>&1 | awk 'NR == 1 {print $1, $2}')"
meta "$m" nginx "$(nginx -v 2>&1 | sed 's/^nginx version: //')"
meta "$m" idgated "bin/idgated --workers 1 --poll adaptive --set login.credential_burst=255 --set login.credential_interval_ms=1 --set hsm.threads=2 --set login.replay_slots=4194304"

LOAD="taskset -c 1 bin/idgate-load"

# load_scenario ID SERVER_PID PROBE_RATE RUN_OPTIONS...: the probe, then
# the measured run at $OVER times the probe's throughput.
load_scenario() {
	id=$1 spid=$2 prate=$3
	shift 3
	sm=$out/$id.meta
	: > "$sm"
	meta "$sm" tool idgate-load
	echo "== $id: probe, ${PROBE}s at $prate/s"
	prc=0
	$LOAD run "$@" --rate "$prate" --duration "$PROBE" --timeout 2 --quiet \
		--json "$out/$id.probe.json" > "$out/$id.probe.txt" 2>&1 || prc=$?
	x=$(/usr/bin/python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["achieved_rate"])' \
		"$out/$id.probe.json" 2>/dev/null || true)
	meta "$sm" probe_command "$LOAD run $* --rate $prate --duration $PROBE --timeout 2 --quiet --json $out/$id.probe.json"
	meta "$sm" probe_exit "$prc"
	meta "$sm" probe_offered_rate "$prate"
	meta "$sm" probe_throughput "$x"
	if [ -n "$x" ]; then
		rate=$(awk -v x="$x" -v f="$OVER" 'BEGIN { r = int(x * f + 0.5); print r < 10 ? 10 : r }')
	else
		rate=$prate
		meta "$sm" note "the probe gave no throughput: measured at the probe's rate"
	fi
	cmd="$LOAD run $* --rate $rate --duration $D --timeout 2 --quiet --json $out/$id.json"
	echo "== $id: ${D}s at $rate/s"
	meta "$sm" command "$cmd"
	meta "$sm" offered_rate "$rate"
	rc=0
	t0=$(ticks "$spid") g0=$(child_ticks) w0=$(now)
	$LOAD run "$@" --rate "$rate" --duration "$D" --timeout 2 --quiet \
		--json "$out/$id.json" > "$out/$id.txt" 2>&1 || rc=$?
	t1=$(ticks "$spid") g1=$(child_ticks) w1=$(now)
	meta "$sm" exit "$rc"
	meta "$sm" server_ticks "$t0 $t1"
	meta "$sm" generator_ticks "$g0 $g1"
	meta "$sm" wall "$w0 $w1"
	[ "$rc" -eq 0 ] || { echo "$id: idgate-load exit $rc" >&2; failed=1; }
	tail -n 4 "$out/$id.txt"
}

# wrk_scenario ID SERVER_PID URL [LUA]: closed loop, $C connections.
wrk_scenario() {
	id=$1 spid=$2 url=$3
	sm=$out/$id.meta
	: > "$sm"
	meta "$sm" tool wrk
	set -- taskset -c 1 wrk -t1 -c"$C" -d"${D}s" --latency ${4:+-s "$4"} "$url"
	echo "== $id: $*"
	meta "$sm" command "$*"
	rc=0
	t0=$(ticks "$spid") g0=$(child_ticks) w0=$(now)
	"$@" > "$out/$id.txt" 2>&1 || rc=$?
	t1=$(ticks "$spid") g1=$(child_ticks) w1=$(now)
	meta "$sm" exit "$rc"
	meta "$sm" server_ticks "$t0 $t1"
	meta "$sm" generator_ticks "$g0 $g1"
	meta "$sm" wall "$w0 $w1"
	[ "$rc" -eq 0 ] || { echo "$id: wrk exit $rc" >&2; failed=1; }
	grep -E 'Requests/sec|requests in' "$out/$id.txt" || true
}

skip() { # REASON ID...: scenarios that could not run
	why=$1
	shift
	for id in "$@"; do
		printf 'status=skipped\nnote=%s\n' "$why" > "$out/$id.meta"
		echo "== $id: skipped: $why"
	done
	failed=1
}

# --- idgated: logins and signing ------------------------------------------------
taskset -c 0 bin/idgated --state "$state" --workers 1 --poll adaptive --set login.credential_burst=255 --set login.credential_interval_ms=1 \
	--set server.listen=127.0.0.1:$port --set server.admin_listen=127.0.0.1:$admin \
	--set hsm.threads=2 --set login.replay_slots=4194304 > "$out/idgated.log" 2>&1 &
ipid=$!
pop=no
if wait_healthy $admin; then
	set -- populate --admin "http://127.0.0.1:$admin" \
		--admin-token-file "$state/admin.token" --citizens 20000 --seed bench \
		--population "$out/pop" --signing 256
	meta "$m" populate "bin/idgate-load $*"
	echo "== populate: $*"
	if taskset -c 1 bin/idgate-load "$@" > "$out/populate.txt" 2>&1; then
		pop=yes
	else
		cat "$out/populate.txt" >&2
		failed=1
	fi
fi
if [ "$pop" = yes ]; then
	load_scenario login-keepalive "$ipid" 10000 --url "https://127.0.0.1:$port" \
		--mix login --population "$out/pop" --tls keepalive --warm-up --connections "$C"
	load_scenario login-newconn "$ipid" 3000 --url "https://127.0.0.1:$port" \
		--mix login --population "$out/pop" --tls new --connections "$C"
	load_scenario sign-keepalive "$ipid" 10000 --url "https://127.0.0.1:$port" \
		--mix sign --population "$out/pop" --sign-hashes 1 --tls keepalive \
		--warm-up --connections "$C"
	meta "$out/sign-keepalive.meta" note "256 signers (all with a credential), one hash per call"
else
	skip "idgated did not start or the population was refused (see perf/out/bench/idgated.log, populate.txt)" \
		login-keepalive login-newconn sign-keepalive
fi
kill "$ipid" 2>/dev/null || true
wait "$ipid" 2>/dev/null || true
ipid=

# --- nginx: the reference, and the wrk cross-check ---------------------------------
if [ -s "$state/tls.crt" ]; then
	start_nginx "$out" $nport "$state/tls.crt" "$state/tls.key" off
	nw=$(pgrep -P "$npid" | head -n 1 || true)
	if [ -n "$nw" ]; then
		printf '%s\n' 'request = function() return wrk.format("GET", "/", {["Connection"] = "close"}) end' \
			> "$out/close.lua"
		load_scenario nginx-keepalive "$nw" 150000 --url "https://127.0.0.1:$nport/" \
			--mix http --tls keepalive --warm-up --connections "$C"
		wrk_scenario wrk-nginx-keepalive "$nw" "https://127.0.0.1:$nport/"
		load_scenario nginx-newconn "$nw" 5000 --url "https://127.0.0.1:$nport/" \
			--mix http --tls new --connections "$C"
		wrk_scenario wrk-nginx-newconn "$nw" "https://127.0.0.1:$nport/" "$out/close.lua"
	else
		skip "nginx did not start (see perf/out/bench/nginx-error.log)" \
			nginx-keepalive wrk-nginx-keepalive nginx-newconn wrk-nginx-newconn
	fi
	kill "$npid" 2>/dev/null || true
	wait "$npid" 2>/dev/null || true
	npid=
else
	skip "no certificate: idgated did not make its state" \
		nginx-keepalive wrk-nginx-keepalive nginx-newconn wrk-nginx-newconn
fi

# --- the earlier benchmarks ------------------------------------------------------------
if [ "$EXISTING" = 1 ]; then
	existing hsm_inflight.sh
	existing csc.sh
	existing handshake.sh
	existing tls_hsm.sh
	if [ "$(id -u)" = 0 ]; then
		export PROFILE=1
		existing dpdk.sh
		unset PROFILE
	else
		echo "== perf/dpdk.sh skipped: it needs root (a network namespace, a TAP device)"
	fi
	exmeta="${exmeta}capacity_day=$(date -u +%Y-%m-%d)
"
	existing capacity.sh
fi
printf '%s' "$exmeta" > "$out/existing.meta"

meta "$m" finished_utc "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo
/usr/bin/python3 perf/summarize.py --json "$res/$day.json" --md "$md" "$out" || failed=1
exit "$failed"
