#!/bin/sh
# Capacity under a latency objective, found by idgate-load's open-loop
# search: idgated logins (keep-alive, and a new TLS connection each),
# signatures (authorize + signHash, one hash, 256 signers) and,
# for reference in the same run, nginx serving a static 200 over TLS.  The
# server runs on core 0, idgate-load on core 1.  Each search prints its
# trials; JSON and SVG plots go to perf/results/.
#
# usage: perf/capacity.sh [SLO]      (default 'p99<50ms,errors<0.1%')
set -eu
cd "$(dirname "$0")/.."
. perf/lib.sh
SLO=${1:-p99<50ms,errors<0.1%}
out=perf/out/capacity
res=perf/results
day=$(date -u +%Y-%m-%d)
port=18463 admin=19096 nport=18464
rm -rf "$out"
mkdir -p "$out" "$res"
LOAD="taskset -c 1 bin/idgate-load"

taskset -c 0 bin/idgated --state "$out/state" --workers 1 --poll adaptive --set login.credential_burst=255 --set login.credential_interval_ms=1 \
	--set server.listen=127.0.0.1:$port --set server.admin_listen=127.0.0.1:$admin \
	--set hsm.threads=2 --set login.replay_slots=4194304 > "$out/idgated.log" 2>&1 &
ipid=$!
trap stop_servers EXIT
wait_healthy $admin
bin/idgate-load populate --admin "http://127.0.0.1:$admin" \
	--admin-token-file "$out/state/admin.token" --citizens 20000 --seed bench \
	--signing 256 --population "$out/pop"

search() { # name, options...
	name=$1
	shift
	echo "== $name"
	$LOAD find-capacity --slo "$SLO" --trial-duration 3 --confirm-duration 10 \
		--json "$res/$day-$name.json" --svg "$res/$day-$name.svg" "$@" \
		| tee "$out/$name.txt" || true
}
search login-keepalive --url "https://127.0.0.1:$port" --mix login --population "$out/pop" \
	--tls keepalive --warm-up --connections 128 --start-rate 500
search login-newconn --url "https://127.0.0.1:$port" --mix login --population "$out/pop" \
	--tls new --connections 128 --start-rate 200
search sign-keepalive --url "https://127.0.0.1:$port" --mix sign --population "$out/pop" \
	--tls keepalive --warm-up --connections 128 --start-rate 200
kill $ipid
wait $ipid 2>/dev/null || true

start_nginx "$out" $nport "$out/state/tls.crt" "$out/state/tls.key" on
search nginx-static-newconn --url "https://127.0.0.1:$nport/" --mix http --tls new \
	--connections 128 --start-rate 200
search nginx-static-keepalive --url "https://127.0.0.1:$nport/" --mix http --tls keepalive --warm-up \
	--connections 128 --start-rate 2000
kill $npid
wait $npid 2>/dev/null || true
echo
grep -H -E '^capacity|generator-limited|no rate' "$out"/*.txt || true
