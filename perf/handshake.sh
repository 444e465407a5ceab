#!/bin/sh
# Server CPU per full TLS 1.3 handshake (X25519, ECDSA P-256 certificate,
# no tickets) and per full-handshake login: idgated with the accelerator
# (common/accel: P-256 on libcrypto, X25519 on libsodium beneath mbedTLS),
# idgated built with ACCEL=0 (mbedTLS's own code), and nginx + OpenSSL 3.0
# as the reference, in the same run.  Each server runs on core 0;
# idgate-load offers RATE requests per second for SECONDS on core 1, on new
# connections and then on keep-alive ones.  One client core opens about
# 1,500 connections/s, fewer than an accelerated server can take, so the
# servers are not saturated: a request's CPU then includes wake-ups that
# batching would share at saturation.  The handshake's own cost is
# therefore the difference between the two rows of the same request at the
# same rate (new connection minus keep-alive), for every server alike.
# RATE is low enough that mbedTLS's own code is not saturated either.
#
# usage: perf/handshake.sh [SECONDS] [RATE]    (needs bin/noaccel/idgated:
#        make ACCEL=0 bin/noaccel/idgated)      results: perf/out/handshake/
set -eu
cd "$(dirname "$0")/.."
. perf/lib.sh
D=${1:-10}
R=${2:-300}
out=perf/out/handshake
port=18483 admin=19098 nport=18484
HZ=$(getconf CLK_TCK)
rm -rf "$out"
mkdir -p "$out"
trap stop_servers EXIT
LOAD="taskset -c 1 bin/idgate-load"

measure() { # LABEL PID RUN-OPTIONS...: one row
	label=$1 pid=$2
	shift 2
	t0=$(cpu_ticks "$pid")
	$LOAD run "$@" --rate "$R" --duration "$D" --quiet --json "$out/run.json" \
		> "$out/run.txt" 2>&1 || true
	t1=$(cpu_ticks "$pid")
	/usr/bin/python3 - "$out/run.json" "$label" "$t0" "$t1" "$HZ" <<'PY' | tee -a "$out/results.md"
import json, sys
d = json.load(open(sys.argv[1]))
ok = sum(v for s in d["scenarios"] for k, v in s["status"].items() if k.startswith("2"))
cpu = (int(sys.argv[4]) - int(sys.argv[3])) / int(sys.argv[5]) * 1e6
lat = d["scenarios"][0]["latency"][0]["uncorrected_us"] if d["scenarios"][0]["latency"] else {}
print("| %s | %d | %.0f | %.2f ms | %.2f ms | %s |" % (
    sys.argv[2], ok, cpu / ok if ok else 0, lat.get("p50", 0) / 1e3, lat.get("p99", 0) / 1e3,
    "GENERATOR LAGGED" if d["generator"].get("fell_behind") else ""))
PY
}

# The last two rows' difference: the handshake's own CPU.
handshake_row() { # LABEL
	tail -n 2 "$out/results.md" | awk -F'|' -v l="$1" '
		NR == 1 { n = $4 } NR == 2 { k = $4 }
		END { printf "| **%s: the handshake (new minus keep-alive)** | | **%d** | | | |\n", l, n - k }' \
		| tee -a "$out/results.md"
}

idgated_rows() { # LABEL BINARY [STATE [idgated options...]]
	label=$1 binary=$2 st=${3:-$out/state-$1}
	shift 2
	[ $# -gt 0 ] && shift
	taskset -c 0 "$binary" --state "$st" --workers 1 --poll adaptive --set login.credential_burst=255 --set login.credential_interval_ms=1 \
		--set server.listen=127.0.0.1:$port --set server.admin_listen=127.0.0.1:$admin \
		--set hsm.threads=1 --set login.replay_slots=4194304 "$@" \
		> "$out/idgated-$label.log" 2>&1 &
	ipid=$!
	wait_healthy $admin
	set -- "$label"
	[ -f "$out/pop-$1" ] || bin/idgate-load populate --admin "http://127.0.0.1:$admin" \
		--admin-token-file "$st/admin.token" --citizens 1000 --seed hs \
		--population "$out/pop-$1" > /dev/null
	measure "idgated ($1), GET /.well-known/jwks.json, new connection" $ipid \
		--url "https://127.0.0.1:$port" --mix jwks --tls new --connections 64
	measure "idgated ($1), GET /.well-known/jwks.json, keep-alive" $ipid \
		--url "https://127.0.0.1:$port" --mix jwks --tls keepalive --warm-up --connections 16
	handshake_row "idgated ($1)"
	measure "idgated ($1), login, new connection" $ipid \
		--url "https://127.0.0.1:$port" --mix login --population "$out/pop-$1" \
		--tls new --connections 64
	measure "idgated ($1), login, keep-alive" $ipid \
		--url "https://127.0.0.1:$port" --mix login --population "$out/pop-$1" \
		--tls keepalive --warm-up --connections 16
	kill $ipid
	wait $ipid 2>/dev/null || true
	ipid=
}

{
	echo "machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), kernel $(uname -r)"
	echo "idgate-load --tls new at $R/s for $D s on core 1; each server on core 0"
	echo
	echo "| run | 2xx answers | server CPU µs/answer | p50 | p99 | |"
	echo "|---|---|---|---|---|---|"
} > "$out/results.md"
idgated_rows accelerated bin/idgated
# The same server with the certificate's key in the HSM (SoftHSM, in
# idgated's HSM thread on the same core): handshakes signed asynchronously.
make_tls_hsm_key "$out/state-accelerated" "$out"
cp "$out/pop-accelerated" "$out/pop-accelerated, key in the HSM"
idgated_rows "accelerated, key in the HSM" bin/idgated "$out/state-accelerated" \
	--set tls.key_file=hsm --set tls.cert_file=tls-hsm.crt
[ -x bin/noaccel/idgated ] && idgated_rows "mbedTLS's own code" bin/noaccel/idgated
start_nginx "$out" $nport "$out/state-accelerated/tls.crt" "$out/state-accelerated/tls.key" off
nw=$(pgrep -P $npid | head -n 1)
measure "nginx + OpenSSL 3.0, GET /, new connection" $nw \
	--url "https://127.0.0.1:$nport/" --mix http --tls new --connections 64
measure "nginx + OpenSSL 3.0, GET /, keep-alive" $nw \
	--url "https://127.0.0.1:$nport/" --mix http --tls keepalive --warm-up --connections 16
handshake_row "nginx"
kill $npid
wait $npid 2>/dev/null || true
npid=
echo
cat "$out/results.md"
