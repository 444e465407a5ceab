#!/bin/sh
# Run every test: unit programs, fuzz corpora replayed, integration tests
# against a real idgated.  Usage: tests/run.sh BIN_DIR
# Each program prints "<name>: N passed, N failed"; a program that dies
# without that line counts as one failure, exit 77 as skipped.  The last
# line is the total: "N passed, N failed".
set -u
bin=${1:-bin}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
passed=0 failed=0 skipped=0
log=$(mktemp -d /tmp/idgate-tests.XXXXXX)
export IDGATE_P11FAULT_SO="$top/$bin/libidgate-p11fault.so"
export LSAN_OPTIONS="suppressions=$top/tests/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0"

tally() { # name, exit code, output file
	name=$1 rc=$2 out=$3
	line=$(grep -E '^[A-Za-z0-9_./-]+: [0-9]+ passed, [0-9]+ failed' "$out" | tail -n 1)
	if [ "$rc" -eq 77 ]; then
		skipped=$((skipped + 1))
		echo "SKIP $name"
		return
	fi
	if [ -n "$line" ]; then
		p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
		f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
	else
		p=0 f=0
	fi
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1 # died, or failed without saying so
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	if [ "$f" -eq 0 ]; then
		echo "PASS $name ($p checks)"
	else
		echo "FAIL $name ($p passed, $f failed); output follows"
		tail -n 60 "$out" | sed 's/^/    /'
	fi
}

run() { # name, timeout seconds, command...
	name=$1 t=$2
	shift 2
	out="$log/$(echo "$name" | tr '/ ' '__').out"
	timeout -k 5 "$t" "$@" >"$out" 2>&1
	tally "$name" $? "$out"
}

echo "== unit tests"
for t in "$bin"/tests/*_test; do
	[ -x "$t" ] && run "unit/$(basename "$t")" 300 "$t"
done

echo "== source checks"
run "source/layers" 60 sh tests/layers.sh

echo "== fuzz corpora replayed"
for r in "$bin"/tests/fuzz_*-replay; do
	[ -x "$r" ] || continue
	n=$(basename "$r" -replay)
	n=${n#fuzz_}
	run "fuzz/$n" 300 sh -c "'$r' tests/fuzz/corpus/$n && echo 'fuzz_$n: 1 passed, 0 failed'"
done

echo "== integration tests (real idgated on loopback)"
for t in tests/integration/test_*.py; do
	[ -f "$t" ] && run "integration/$(basename "$t" .py)" 600 \
		/usr/bin/python3 "$t" --bin "$bin/idgated"
done

rm -rf "$log"
echo
[ "$skipped" -gt 0 ] && echo "($skipped test programs skipped)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
