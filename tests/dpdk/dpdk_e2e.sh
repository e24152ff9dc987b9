#!/usr/bin/env bash
# End-to-end test of the DPDK data plane: keyrail-server with
# `--dataplane dpdk` on net_tap inside a test network namespace, driven by
# real kernel clients (redis-cli, redis-benchmark, a Python RESP client and
# the integration test programs) in the same namespace.
#
#   dpdk_e2e.sh SERVER RIG CLIENT ITEST_DIR [SUITES]
#     SERVER     keyrail-server
#     RIG        tools/dpdk-rig.sh (netns + hugepages, removed afterwards)
#     CLIENT     tests/dpdk/kr_client.py
#     ITEST_DIR  the build's tests/integration (test_* programs)
#     SUITES     integration suites to run against the DPDK server
#                (comma-separated; default strings,keys,hashes,lists,sets,zsets,
#                protocol)
#
# The rig: netns krtest-d<pid>; server 198.18.0.2/24 on
# --vdev=net_tap0,iface=krtap0; the test gives the kernel side of the tap
# 198.18.0.1/24 once the server has created it. One shard on EAL lcore 0:
# one busy thread, the clients get the other CPU (then a short run with two
# shards: two queues, ARP copies, cross-shard keys). Part 2 runs the
# integration programs through their harness (KR_HOST, KR_SERVER_ARGS),
# which starts a server per test; for those the tap is made persistent
# beforehand (net_tap attaches to an existing multi-queue tap), so its
# address survives the servers coming and going. Everything made here is
# removed on exit, failure or not (trap). Skips (77) without root or tools.
set -u
SERVER=${1:?usage: dpdk_e2e.sh SERVER RIG CLIENT ITEST_DIR [SUITES]}
RIG=${2:?}
CLIENT=${3:?}
ITEST_DIR=${4:?}
SUITES=${5:-strings,keys,hashes,lists,sets,zsets,protocol}

[ "$(id -u)" -eq 0 ] || { echo "skip: needs root (EAL, network namespaces, hugepages)"; exit 77; }
for t in ip redis-cli redis-benchmark python3; do
	command -v "$t" >/dev/null || { echo "skip: needs $t"; exit 77; }
done

NAME=d$(($$ % 100000))
NS=krtest-$NAME
SRV_IP=198.18.0.2
CLI_IP=198.18.0.1
PORT=6379
TMP=$(mktemp -d /tmp/kr-dpdk-e2e.XXXXXX)
SPID=
pass=0
fail=0

cleanup() {
	if [ -n "$SPID" ]; then
		kill -TERM "$SPID" 2>/dev/null
		wait "$SPID" 2>/dev/null
	fi
	"$RIG" teardown "$NAME"
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
check() {   # name, expected substring, actual
	if printf '%s' "$3" | grep -qF -- "$2"; then ok "$1"; else bad "$1: expected '$2', got '$3'"; fi
}
check_eq() {   # name, expected, actual
	if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: expected '$2', got '$3'"; fi
}
nsx() { ip netns exec "$NS" "$@"; }
cli() { nsx redis-cli -h "$SRV_IP" -p "$PORT" "$@" 2>&1; }
# INFO field "name:value" -> value
info() { cli info "$1" | tr -d '\r' | sed -n "s/^$2://p"; }
# one "k=v" of an INFO line "name:k=v,k=v"
info_kv() { info "$1" "$2" | tr ',' '\n' | sed -n "s/^$3=//p"; }
logs() {
	echo "---- server log (tail) ----"
	tail -n 30 "$TMP/server.log" "$TMP/stdio.log" 2>/dev/null
}

"$RIG" setup "$NAME" >/dev/null || { echo "rig setup failed"; exit 1; }
MEM=$("$RIG" mem-args "$NAME")
# The clients' side: 10000 short connections to one address leave that many
# TIME_WAIT sockets, and with half the ephemeral ports taken connect()
# crawls searching for a free one (kernel-side; loopback is exempt). Let
# the namespace's kernel reuse them, as busy clients are set up to.
ip netns exec "$NS" sysctl -qw net.ipv4.tcp_tw_reuse=1
EAL_TAIL="--no-pci --no-telemetry $MEM --vdev=net_tap0,iface=krtap0"
EAL="-l 0 $EAL_TAIL"
echo "rig: netns $NS, EAL: $EAL"

# Start the server (SHARDS shards on EAL lcores 0..SHARDS-1); wait for its
# tap, give the kernel side its address, wait for PING over the tap.
SHARDS=1
RUN=0
start_server() {
	# A fresh dir each time: nothing saved by the last one is loaded.
	RUN=$((RUN + 1))
	mkdir -p "$TMP/run$RUN"
	# Not through nsx: $! must be the server (ip execs it), not a subshell.
	ip netns exec "$NS" "$SERVER" --port "$PORT" --shards "$SHARDS" --dataplane dpdk \
		--dpdk-eal-args "-l 0-$((SHARDS - 1)) $EAL_TAIL" \
		--dpdk-ip "$SRV_IP/24" --protected-mode no --dir "$TMP/run$RUN" \
		--logfile "$TMP/server.log" "$@" >"$TMP/stdio.log" 2>&1 &
	SPID=$!
	local i
	for i in $(seq 200); do
		ip -n "$NS" link show krtap0 >/dev/null 2>&1 && break
		kill -0 "$SPID" 2>/dev/null || { echo "server exited during start-up"; logs; return 1; }
		sleep 0.05
	done
	ip -n "$NS" addr add "$CLI_IP/24" dev krtap0 || { logs; return 1; }
	ip -n "$NS" link set krtap0 up
	for i in $(seq 200); do
		[ "$(cli ping)" = PONG ] && return 0
		kill -0 "$SPID" 2>/dev/null || { echo "server exited"; logs; return 1; }
		sleep 0.05
	done
	echo "server does not answer PING over the tap"; logs
	return 1
}
stop_server() {
	kill -TERM "$SPID"
	wait "$SPID"
	local st=$?
	SPID=
	return $st
}

# ---------------------------------------------------------------- part 1
start_server || exit 1
ok "server up: PING over net_tap"

check "PING" "PONG" "$(cli ping)"
check "SET" "OK" "$(cli set foo bar)"
check "GET" "bar" "$(cli get foo)"
check_eq "GET missing" "" "$(cli get nosuchkey)"
check "error reply" "ERR unknown command" "$(cli nosuchcommand)"
check_eq "INFO dataplane" "dpdk" "$(info dataplane dataplane)"
check_eq "INFO driver" "net_tap" "$(info dataplane dpdk_driver)"
check_eq "INFO address" "$SRV_IP/24" "$(info dataplane dpdk_ip)"
arp=$(info_kv dataplane shard0_arp entries)
[ "${arp:-0}" -ge 1 ] && ok "INFO ARP entries: $arp" || bad "INFO ARP entries: '$arp'"
rxp=$(info_kv dataplane shard0_rx packets)
[ "${rxp:-0}" -gt 0 ] && ok "INFO rx packets: $rxp" || bad "INFO rx packets: '$rxp'"
check "client address is the tap's" "addr=$CLI_IP:" "$(cli client info)"
check "local address is dpdk-ip" "laddr=$SRV_IP:$PORT" "$(cli client info)"
if command -v ping >/dev/null; then
	check_eq "ICMP echo from the kernel to dpdk-ip" 0 "$(nsx ping -c 2 -W 2 -q "$SRV_IP" >/dev/null 2>&1; echo $?)"
fi

# redis-benchmark: -P 1 and -P 16, then the effects. Without -r the keys
# are fixed: counter:__rand_int__ counts every INCR, mylist every LPUSH.
cli flushall >/dev/null
for p in 1 16; do
	out=$(nsx redis-benchmark -h "$SRV_IP" -p "$PORT" -c 50 -n 100000 \
		-t set,get,incr,lpush -P "$p" -q 2>&1)
	rc=$?
	echo "$out" | tr '\r' '\n' | grep "per second" | sed "s/^/  dpdk -P $p: /"
	n=$(echo "$out" | tr '\r' '\n' | grep -c "requests per second")
	[ $rc -eq 0 ] && [ "$n" -eq 4 ] && ok "redis-benchmark -P $p" ||
		bad "redis-benchmark -P $p: rc=$rc, $n results: $out"
done
check_eq "INCR effect (2 x 100000)" 200000 "$(cli get counter:__rand_int__)"
check_eq "LPUSH effect (2 x 100000)" 200000 "$(cli llen mylist)"
check_eq "SET effect (3-byte values)" 3 "$(cli strlen key:__rand_int__)"
check_eq "DBSIZE after benchmarks" 3 "$(cli dbsize)"

out=$(nsx python3 "$CLIENT" bigval "$SRV_IP" "$PORT" 1m 64m 2>&1)
rc=$?; echo "$out" | sed 's/^/  /'
[ $rc -eq 0 ] && ok "1 MiB and 64 MiB values byte-identical" || bad "big values: $out"

out=$(nsx python3 "$CLIENT" conns "$SRV_IP" "$PORT" 1000 2>&1)
rc=$?; echo "$out" | sed 's/^/  /'
[ $rc -eq 0 ] && ok "1000 concurrent connections" || bad "1000 connections: $out"

before=$(info stats total_connections_received)
out=$(nsx python3 "$CLIENT" cycles "$SRV_IP" "$PORT" 10000 2>&1)
rc=$?; echo "$out" | sed 's/^/  /'
[ $rc -eq 0 ] && ok "10000 connect/disconnect cycles" || bad "cycles: $out"
after=$(info stats total_connections_received)
[ $((after - before)) -ge 10000 ] && ok "server counted the cycles ($((after - before)))" ||
	bad "total_connections_received grew by $((after - before))"
cur=$(info_kv dataplane shard0_conns current)
[ "${cur:-99}" -le 2 ] && ok "stack connections back to $cur" || bad "stack still holds $cur connections"
check "server alive after it all" "PONG" "$(cli ping)"
cli info dataplane | tr -d '\r' | grep '^shard0_' | sed 's/^/  /'

if stop_server; then ok "clean exit on SIGTERM"; else bad "server exit status $?"; logs; fi
ip -n "$NS" link show krtap0 >/dev/null 2>&1 && bad "tap left behind after exit" ||
	ok "the tap went away with the server"

# Two shards: two queues, two stacks, keys forwarded between the shards.
# Two busy-polling threads on the two CPUs, so only a short run.
SHARDS=2
if start_server; then
	ok "two shards up"
	out=$(nsx python3 "$CLIENT" conns "$SRV_IP" "$PORT" 200 2>&1)
	rc=$?; echo "$out" | sed 's/^/  /'
	[ $rc -eq 0 ] && ok "200 connections over two queues" || bad "two shards: $out"
	check_eq "keys of both shards" 200 "$(cli dbsize)"
	o0=$(info_kv dataplane shard0_conns opened)
	o1=$(info_kv dataplane shard1_conns opened)
	echo "  connections accepted: shard0 $o0, shard1 $o1"
	[ "${o0:-0}" -gt 0 ] && [ "${o1:-0}" -gt 0 ] && ok "both queues accepted connections" ||
		bad "connections not spread over the queues: $o0 / $o1"
	nc=$(( $(info_kv dataplane shard0_drops no_conn) + $(info_kv dataplane shard1_drops no_conn) ))
	check_eq "no segment reached a shard that does not own its connection" 0 "$nc"
	if stop_server; then ok "two shards: clean exit"; else bad "two shards: exit status $?"; logs; fi
else
	bad "two shards: start"
fi
SHARDS=1

# ---------------------------------------------------------------- part 2
# Integration programs, each test with its own server (harness).
ip -n "$NS" tuntap add dev krtap0 mode tap multi_queue || { bad "persistent tap"; exit 1; }
ip -n "$NS" addr add "$CLI_IP/24" dev krtap0
ip -n "$NS" link set krtap0 up
# A fixed MAC keeps the kernel's neighbour entry valid from server to server.
cat >"$TMP/dpdk.conf" <<EOF
dataplane dpdk
dpdk-eal-args "$EAL,mac=02:00:c6:12:00:02"
dpdk-ip $SRV_IP/24
protected-mode no
EOF
# Tests that cannot run over the tap, with why (Criterion --filter).
skip_filter() {
	case "$1" in
	# its raw_open() connects to 127.0.0.1 itself instead of kr_raw_connect()
	strings) echo '!(strings/resp3_replies)' ;;
	*) echo '*' ;;
	esac
}
IFS=, read -r -a suites <<<"$SUITES"
for s in "${suites[@]}"; do
	prog="$ITEST_DIR/test_$s"
	[ -x "$prog" ] || { bad "no test program $prog"; continue; }
	out=$(nsx env KR_SERVER="$SERVER" KR_HOST="$SRV_IP" KR_SHARDS=1 \
		KR_SERVER_ARGS="--include $TMP/dpdk.conf" "$prog" --jobs 1 \
		--filter "$(skip_filter "$s")" 2>&1)
	rc=$?
	summary=$(echo "$out" | grep "Synthesis" | tail -1)
	if [ $rc -eq 0 ]; then
		ok "integration $s over DPDK: ${summary#*Synthesis: }"
	else
		bad "integration $s over DPDK: ${summary#*Synthesis: }"
		echo "$out" | grep -E "FAIL|Assertion|CRASH|---- .*server" -A3 | head -40
	fi
done

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
