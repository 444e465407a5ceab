#!/bin/sh
# Build mbedTLS 3.6 (Debian trixie source package) as static libraries with
# idgate's configuration, into OUT/{include,lib} (default build/mbedtls).
#
# With IDGATE_ACCEL=1 (the default) the elliptic curves of a TLS handshake
# run on idgate's PSA accelerator driver (common/accel: OpenSSL's libcrypto
# beneath mbedTLS's PSA core, wired in by deps/mbedtls-psa-accel.patch);
# with IDGATE_ACCEL=0 mbedTLS runs its own code.  The choice is written
# into the installed configuration header, so everything compiled against
# OUT/include agrees with the library.
# Usage: deps/build-mbedtls.sh [CC] [OUT]
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
cc=${1:-cc}
out=${2:-$top/build/mbedtls}
case $out in /*) ;; *) out=$PWD/$out ;; esac
accel=${IDGATE_ACCEL:-1}
src=$("$top/deps/fetch-source.sh" mbedtls 3.6.6-0.1~deb13u1)
for p in mbedtls-psa-accel mbedtls-tls13-async-cv; do
	patch -p1 -s -d "$src" < "$top/deps/$p.patch"
done
cfg="$src/include/idgate_mbedtls_config.h"
{
	echo "/* written by deps/build-mbedtls.sh: IDGATE_ACCEL=$accel */"
	[ "$accel" = 0 ] || echo "#define IDGATE_ACCEL"
	cat "$top/deps/mbedtls_user_config.h"
} > "$cfg"
cp "$top/common/accel/idgate_accel.h" "$top/common/accel/idgate_accel_ctx.h" "$src/include/"
flags="-O2 -g -fPIC -DMBEDTLS_USER_CONFIG_FILE='\"idgate_mbedtls_config.h\"'"
make -C "$src/library" -j"$(nproc)" CC="$cc" CFLAGS="$flags" \
	libmbedcrypto.a libmbedx509.a libmbedtls.a >/dev/null
if [ "$accel" != 0 ]; then
	# The driver's entry points live in libmbedcrypto beside the
	# dispatch layer that calls them.
	eval "$cc $flags -Wall -Wextra -Werror -I$src/include -c \
		$top/common/accel/idgate_accel.c -o $src/library/idgate_accel.o"
	ar rcs "$src/library/libmbedcrypto.a" "$src/library/idgate_accel.o"
fi
rm -rf "$out"
mkdir -p "$out/lib" "$out/include"
cp -r "$src/include/mbedtls" "$src/include/psa" "$src/3rdparty/everest/include/everest" \
	"$cfg" "$src/include/idgate_accel.h" "$src/include/idgate_accel_ctx.h" "$out/include/"
cp "$src/library/libmbedcrypto.a" "$src/library/libmbedx509.a" "$src/library/libmbedtls.a" "$out/lib/"
echo "mbedtls built in $out (accelerator: $accel)" >&2
