#!/usr/bin/env bash
# Install what keyrail needs to build, test and benchmark (Debian 12, root).
# Idempotent: installs only what is missing.
set -euo pipefail
pkgs=(build-essential pkg-config meson ninja-build dpdk libdpdk-dev libjemalloc-dev
      libhiredis-dev libcriterion-dev liblua5.1-0-dev lua-cjson-dev
      redis-server redis-tools python3 iproute2 procps util-linux)
for a in "$@"; do
	case $a in
	--bench) pkgs+=(valgrind gnuplot-nox) ;;
	# tools/fuzz.sh: clang with libFuzzer and the sanitizer runtimes (on
	# Debian 12 in libclang-rt-14-dev, which clang only recommends).
	--fuzz) pkgs+=(clang libclang-rt-14-dev) ;;
	esac
done
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	SUDO=""
	[ "$(id -u)" -ne 0 ] && SUDO=sudo
	echo "deps: installing ${missing[*]}"
	$SUDO apt-get update -q
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# Debian starts a redis-server service on install; the tests start their own.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet redis-server 2>/dev/null; then
	systemctl stop redis-server || true
fi
