#!/bin/sh
# Full TLS 1.3 handshakes whose CertificateVerify the HSM signs (tls.key_file
# = hsm), through the fault module emulating a network HSM that takes 2 ms
# per signature: the handshakes/s with 1, 4 and 16 operations in flight
# (hsm.threads), next to the same server with the key in a file.  One
# blocking signature at a time would cap the rate at 1 / 2 ms = 500/s.
# idgated on core 0 (one worker), idgate-load on core 1 offering RATE new
# connections/s for SECONDS (GET /.well-known/jwks.json on each).
#
# usage: perf/tls_hsm.sh [SECONDS] [RATE]          results: perf/out/tls_hsm/
set -eu
cd "$(dirname "$0")/.."
. perf/lib.sh
D=${1:-5}
R=${2:-1200}
out=perf/out/tls_hsm
state=$out/state
port=18493 admin=19099
HZ=$(getconf CLK_TCK)
rm -rf "$out"
mkdir -p "$out"
trap stop_servers EXIT

# The key in the HSM, its certificate from a CA made here.
bin/idgated --state "$state" --workers 1 --set server.listen=127.0.0.1:$port \
	--set server.admin_listen=127.0.0.1:$admin > "$out/first.log" 2>&1 &
ipid=$!
wait_healthy $admin
kill $ipid
wait $ipid 2>/dev/null || true
ipid=
make_tls_hsm_key "$state" "$out"
echo "sign_delay_ms=2" > "$out/fault.ctl"

row() { # LABEL, idgated options...
	label=$1
	shift
	IDGATE_P11FAULT_MODULE=/usr/lib/softhsm/libsofthsm2.so IDGATE_P11FAULT_CONTROL="$out/fault.ctl" \
	taskset -c 0 bin/idgated --state "$state" --workers 1 --poll adaptive --set login.credential_burst=255 --set login.credential_interval_ms=1 \
		--set server.listen=127.0.0.1:$port --set server.admin_listen=127.0.0.1:$admin \
		--set hsm.module="$PWD/bin/libidgate-p11fault.so" "$@" > "$out/idgated.log" 2>&1 &
	ipid=$!
	wait_healthy $admin
	t0=$(cpu_ticks $ipid)
	taskset -c 1 bin/idgate-load run --url "https://127.0.0.1:$port" --mix jwks --tls new \
		--rate "$R" --duration "$D" --connections 128 --quiet --json "$out/run.json" \
		> "$out/run.txt" 2>&1 || true
	t1=$(cpu_ticks $ipid)
	kill $ipid
	wait $ipid 2>/dev/null || true
	ipid=
	/usr/bin/python3 - "$out/run.json" "$label" "$t0" "$t1" "$HZ" <<'PY' | tee -a "$out/results.md"
import json, sys
d = json.load(open(sys.argv[1]))
s = d["scenarios"][0]
ok = s["status"].get("200", 0)
cpu = (int(sys.argv[4]) - int(sys.argv[3])) / int(sys.argv[5]) * 1e6
lat = s["latency"][0]["uncorrected_us"] if s["latency"] else {}
print("| %s | %.0f | %.0f | %d | %.2f ms | %.2f ms | %s |" % (
    sys.argv[2], s["offered_rate"], s["achieved_rate"], cpu / ok if ok else 0,
    lat.get("p50", 0) / 1e3, lat.get("p99", 0) / 1e3,
    "generator fell behind" if d["generator"].get("fell_behind") else ""))
PY
}

{
	echo "machine: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), kernel $(uname -r)"
	echo "idgate-load --tls new --rate $R --duration $D on core 1; idgated (1 worker) on core 0; the HSM takes 2 ms per signature (fault module)"
	echo
	echo "| key, operations in flight | offered/s | handshakes/s | server CPU µs/handshake | p50 | p99 | |"
	echo "|---|---|---|---|---|---|---|"
} > "$out/results.md"
for n in 1 4 16; do
	row "TLS key in the HSM, $n in flight" --set tls.key_file=hsm --set tls.cert_file=tls-hsm.crt \
		--set hsm.threads=$n
done
row "TLS key in a file (reference)" --set hsm.threads=2
echo
cat "$out/results.md"
