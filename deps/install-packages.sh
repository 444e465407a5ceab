#!/bin/sh
# Install the Debian packages idgate needs (deps/packages.txt), once: skip
# apt entirely when every package is already installed.
set -eu
cd "$(dirname "$0")"
pkgs=$(grep -v '^#' packages.txt | tr '\n' ' ')
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q >&2
apt-get install -y -q --no-install-recommends $missing >&2
