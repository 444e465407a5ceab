#!/bin/sh
# Build mbedTLS 3.6 (Debian trixie source package) as static libraries with
# idgate's configuration, into build/mbedtls/{include,lib}.
# Usage: deps/build-mbedtls.sh [CC]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
out="$top/build/mbedtls"
src=$("$top/deps/fetch-source.sh" mbedtls 3.6.6-0.1~deb13u1)
cp "$top/deps/mbedtls_user_config.h" "$src/include/idgate_mbedtls_config.h"
make -C "$src/library" -j"$(nproc)" CC="${1:-cc}" \
	CFLAGS="-O2 -g -fPIC -DMBEDTLS_USER_CONFIG_FILE='\"idgate_mbedtls_config.h\"'" \
	libmbedcrypto.a libmbedx509.a libmbedtls.a >/dev/null
rm -rf "$out"
mkdir -p "$out/lib" "$out/include"
cp -r "$src/include/mbedtls" "$src/include/psa" "$src/3rdparty/everest/include/everest" "$src/include/idgate_mbedtls_config.h" "$out/include/"
cp "$src/library/libmbedcrypto.a" "$src/library/libmbedx509.a" "$src/library/libmbedtls.a" "$out/lib/"
echo "mbedtls built in $out" >&2
