# perf/lib.sh - shell functions the benchmark scripts share (sourced).

# Total utime + stime, in clock ticks, of process $1 and all its threads.
cpu_ticks() {
	awk '{print $14 + $15}' "/proc/$1/stat"
}

# Wait (at most 10 s) until idgated's admin listener on port $1 answers.
wait_healthy() {
	for i in $(seq 100); do
		curl -sf "http://127.0.0.1:$1/healthz" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "idgated on admin port $1 did not start" >&2
	return 1
}

# Start the nginx reference on core 0: one worker, TLS 1.3 with X25519,
# `return 200`, the same certificate as idgated, keep-alive connections
# never closed by the server.  Usage:
#   start_nginx DIR PORT CERT KEY TICKETS(on|off)   sets $npid
start_nginx() {
	cat > "$1/nginx.conf" <<NGX
worker_processes 1;
daemon off;
pid $PWD/$1/nginx.pid;
error_log $PWD/$1/nginx-error.log;
events { worker_connections 4096; }
http {
	access_log off;
	# keep-alive connections stay open, as idgated's do (nginx closes
	# one after 1,000 requests by default: a full handshake each time)
	keepalive_requests 100000000;
	keepalive_timeout 300s;
	server {
		listen 127.0.0.1:$2 ssl;
		ssl_certificate $PWD/$3;
		ssl_certificate_key $PWD/$4;
		ssl_protocols TLSv1.3;
		ssl_ecdh_curve X25519;
		ssl_session_tickets $5;
		location / { return 200 "ok\n"; }
	}
}
NGX
	taskset -c 0 nginx -c "$PWD/$1/nginx.conf" -e "$PWD/$1/nginx-error.log" &
	npid=$!
	sleep 1
}

# EXIT trap: stop what is still running ($ipid: idgated, $npid: nginx).
# Under set -e a failing kill (already stopped) must not turn a finished
# run's exit status into a failure.
stop_servers() {
	set +e
	[ -n "${ipid:-}" ] && kill "$ipid" 2>/dev/null
	[ -n "${npid:-}" ] && kill "$npid" 2>/dev/null
	return 0
}

# The TLS key in the HSM of idgated state dir $1 (made by a first start):
# generated there by idgate-keys (purpose tls), its CSR signed by a CA made
# in $2, the certificate installed as $1/tls-hsm.crt (the CA: $2/ca.crt).
make_tls_hsm_key() {
	bin/idgate-keys --state "$1" --officer bench generate --purpose tls \
		--label tls-bench >/dev/null
	bin/idgate-keys --state "$1" csr tls-bench --subject CN=localhost > "$2/tls.csr"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$2/ca.key" -out "$2/ca.crt" -days 2 -subj /CN=bench-ca 2>/dev/null
	openssl x509 -req -in "$2/tls.csr" -CA "$2/ca.crt" -CAkey "$2/ca.key" \
		-CAcreateserial -days 2 -out "$1/tls-hsm.crt" 2>/dev/null
}

# One row of results: run idgate-load ($LOAD run RUN-OPTIONS --duration $D)
# and print "| LABEL | 2xx | server µs/req | client µs/req | total | p50 |
# p99 | note |", appended to $out/results.md too.  The server is $ipid;
# $HZ its clock ticks per second.  Usage: measure LABEL RUN-OPTIONS...
measure() { # LABEL RUN-OPTIONS...: one row
	label=$1
	shift
	/usr/bin/python3 - "$out" "$label" "$ipid" "$HZ" $LOAD run "$@" --duration "$D" --quiet \
		--json "$out/run.json" <<'PY' | tee -a "$out/results.md"
import json, resource, subprocess, sys
out, label, pid, hz, cmd = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5:]

def ticks():
    f = open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])

t0, r0 = ticks(), resource.getrusage(resource.RUSAGE_CHILDREN)
with open(out + "/run.txt", "w") as log:
    subprocess.run(cmd, stdout=log, stderr=log)
t1, r1 = ticks(), resource.getrusage(resource.RUSAGE_CHILDREN)
d = json.load(open(out + "/run.json"))
ok = sum(v for s in d["scenarios"] for k, v in s["status"].items() if k.startswith("2"))
srv = (t1 - t0) / hz * 1e6
cli = (r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) * 1e6
lat = d["scenarios"][0]["latency"][0]["uncorrected_us"] if d["scenarios"][0]["latency"] else {}
per = lambda x: x / ok if ok else 0
print("| %s | %d | %.0f | %.0f | %.0f | %.2f ms | %.2f ms | %s |" % (
    label, ok, per(srv), per(cli), per(srv + cli), lat.get("p50", 0) / 1e3,
    lat.get("p99", 0) / 1e3, "GENERATOR LAGGED" if d["generator"].get("fell_behind") else ""))
PY
}
