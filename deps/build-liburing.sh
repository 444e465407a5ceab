#!/bin/sh
# Build liburing 2.9 (Debian trixie source package) as a static library into
# build/liburing/{include,lib}.  Usage: deps/build-liburing.sh [CC]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
out="$top/build/liburing"
src=$("$top/deps/fetch-source.sh" liburing 2.9-1)
cd "$src"
CC="${1:-cc}" ./configure --prefix="$out" --use-libc >/dev/null
make -C src -j"$(nproc)" >/dev/null
rm -rf "$out"
make -C src install >/dev/null
rm -f "$out"/lib/*.so*
echo "liburing built in $out" >&2
