#!/usr/bin/env bash
# Install dependencies, build a release keyrail-server and run it in the
# foreground on 127.0.0.1:6379 (kernel backend). Extra arguments go to the
# server: tools/run.sh --port 7000 --shards 2
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh
[ -d build ] || meson setup build --buildtype=release
ninja -C build server/keyrail-server
exec build/server/keyrail-server "$@"
