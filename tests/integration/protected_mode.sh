#!/usr/bin/env bash
# protected-mode with a real non-loopback client.
#
# Builds its own test host: a network namespace joined to this one by a veth
# pair on 198.18.0.0/15 (198.18.7.1 here, 198.18.7.2 in the namespace). The
# server listens on 198.18.7.1 and 127.0.0.1; clients connect from the
# namespace (non-loopback) and from loopback. Everything it creates is
# removed on exit. Needs root and iproute2; without them it is skipped
# (exit 77, meson's skip code).
#
# Checks, as Redis behaves:
#  1. protected-mode yes, no password: a non-loopback client gets -DENIED and
#     is closed; a loopback client works.
#  2. protected-mode yes with requirepass: the remote client is accepted and
#     gets -NOAUTH until it authenticates.
#  3. protected-mode no, no password: the remote client works.
set -u
BIN=${1:?usage: protected_mode.sh <keyrail-server>}
[ "$(id -u)" -eq 0 ] || { echo "skip: needs root"; exit 77; }
command -v ip >/dev/null && command -v redis-cli >/dev/null || { echo "skip: needs ip and redis-cli"; exit 77; }

NS=krpm$$
HOST_IF=krpmh$$
NS_IF=krpmn$$
HOST_IP=198.18.7.1
NS_IP=198.18.7.2
PORT=$((21500 + $$ % 400))
TMP=$(mktemp -d)
PID=
pass=0
fail=0

cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	ip link del "$HOST_IF" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT

ip netns add "$NS" || { echo "skip: cannot create a network namespace"; exit 77; }
ip link add "$HOST_IF" type veth peer name "$NS_IF" || exit 1
ip link set "$NS_IF" netns "$NS"
ip addr add "$HOST_IP/30" dev "$HOST_IF"
ip link set "$HOST_IF" up
ip -n "$NS" addr add "$NS_IP/30" dev "$NS_IF"
ip -n "$NS" link set "$NS_IF" up
ip -n "$NS" link set lo up

start() {
	"$BIN" --port "$PORT" --bind "$HOST_IP" 127.0.0.1 --dir "$TMP" --shards 2 "$@" \
		>"$TMP/log" 2>&1 &
	PID=$!
	for _ in $(seq 100); do
		redis-cli -p "$PORT" ping 2>/dev/null | grep -q -e PONG -e NOAUTH && return 0
		sleep 0.05
	done
	echo "server did not start:"; cat "$TMP/log"; exit 1
}
stop() {
	kill "$PID"; wait "$PID"; PID=
}
check() {   # name, expected substring, actual
	if printf '%s' "$3" | grep -qF -- "$2"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1)); echo "FAIL $1: expected '$2', got '$3'"
	fi
}
remote() { ip netns exec "$NS" redis-cli -h "$HOST_IP" -p "$PORT" "$@" 2>&1; }
local_() { redis-cli -h 127.0.0.1 -p "$PORT" "$@" 2>&1; }

start --protected-mode yes
check "remote denied" "DENIED Redis is running in protected mode" "$(remote ping)"
check "loopback allowed" "PONG" "$(local_ ping)"
check "remote denied for every command" "DENIED" "$(remote set k v)"
check "nothing was written" "0" "$(local_ exists k)"
stop

start --protected-mode yes --requirepass sekret
check "remote with password: NOAUTH first" "NOAUTH" "$(remote ping)"
check "remote with password: auth works" "PONG" "$(remote -a sekret --no-auth-warning ping)"
stop

start --protected-mode no
check "protected-mode no: remote allowed" "OK" "$(remote set k v)"
check "protected-mode no: value stored" "v" "$(local_ get k)"
stop

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
