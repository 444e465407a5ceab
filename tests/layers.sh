#!/bin/sh
# The layers of the tree and the directions they may include in:
#   common/    includes common/ only
#   hsm/       (with keytool/, p11fault/) common/, hsm/
#   dataplane/ common/, hsm/, dataplane/ -- but not hsm/p11.h (PKCS#11's
#              header and its lower-case macros stay inside hsm/)
#   loadgen/   common/, loadgen/
# Every "#include "..."" of every source file is resolved against its
# directory and checked; each file is one check.  Prints each violation
# and "layers: N passed, N failed".
cd "$(dirname "$0")/.." || exit 1
passed=0 failed=0
for f in $(find common hsm dataplane loadgen -name '*.[ch]' | sort); do
	top=${f%%/*}
	case $top in
	common) allowed="common" ;;
	hsm) allowed="common hsm" ;;
	dataplane) allowed="common hsm dataplane" ;;
	loadgen) allowed="common loadgen" ;;
	esac
	dir=$(dirname "$f")
	bad=
	for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f"); do
		target=$(realpath -m --relative-to=. "$dir/$inc")
		ttop=${target%%/*}
		case " $allowed " in
		*" $ttop "*) ;;
		*) bad="$bad $inc" ;;
		esac
		if [ "$target" = hsm/p11.h ] && [ "$top" != hsm ]; then
			bad="$bad $inc(private to hsm/)"
		fi
	done
	if [ -n "$bad" ]; then
		echo "$f ($top) includes a layer above or beside it:$bad"
		failed=$((failed + 1))
	else
		passed=$((passed + 1))
	fi
done
echo "layers: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
