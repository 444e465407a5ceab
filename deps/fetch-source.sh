#!/bin/sh
# Fetch a Debian source package from trixie into build/src with a private apt
# configuration under build/apt, so the machine's own apt sources are never
# touched.  Usage: deps/fetch-source.sh PACKAGE VERSION
# Prints the unpacked source directory.
set -eu
pkg=$1 ver=$2
top=$(cd "$(dirname "$0")/.." && pwd)
b="$top/build"

# Reuse the mirror the machine already uses (deb822 or one-line format).
mirror=$(sed -n 's/^URIs:[[:space:]]*\(.*\/debian\/\{0,1\}\)[[:space:]]*$/\1/p' \
	/etc/apt/sources.list.d/*.sources 2>/dev/null | head -n 1)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" && $0 !~ /security/ { print $2; exit }' \
	/etc/apt/sources.list 2>/dev/null)
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian

mkdir -p "$b/apt/lists/partial" "$b/src"
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" \
	> "$b/apt/sources.list"
apt_private() {
	apt-get -q -o Dir::Etc::SourceList="$b/apt/sources.list" \
		-o Dir::Etc::SourceParts=/dev/null -o Dir::State::Lists="$b/apt/lists" \
		-o APT::Sandbox::User=root "$@"
}
if ! ls "$b/src/${pkg}_${ver}"*.dsc >/dev/null 2>&1; then
	apt_private update >&2
	(cd "$b/src" && apt_private source --download-only "$pkg=$ver") >&2
fi
dir="$b/src/$pkg-${ver%%-*}"
rm -rf "$dir"
(cd "$b/src" && dpkg-source --no-check -x "${pkg}_${ver}.dsc" "$dir") >&2
echo "$dir"
