#!/usr/bin/env bash
# DPDK data plane vs kernel backend, side by side, in one test network
# namespace and one run: redis-benchmark against
#   - keyrail --dataplane dpdk on net_tap (198.18.0.2, one shard on lcore 0)
#   - keyrail with the kernel backend on 127.0.0.1 (one shard)
# with -P 1 and -P 16. Prints a table; asserts only that every run
# completed (a benchmark is not a test of speed). meson suite 'bench'.
#
#   dpdk_bench.sh SERVER RIG [REQUESTS] [CLIENTS]
set -u
SERVER=${1:?usage: dpdk_bench.sh SERVER RIG [REQUESTS] [CLIENTS]}
RIG=${2:?}
N=${3:-100000}
C=${4:-50}
TESTS=set,get,incr,lpush

[ "$(id -u)" -eq 0 ] || { echo "skip: needs root"; exit 77; }
for t in ip redis-cli redis-benchmark; do
	command -v "$t" >/dev/null || { echo "skip: needs $t"; exit 77; }
done

NAME=b$(($$ % 100000))
NS=krtest-$NAME
TMP=$(mktemp -d /tmp/kr-dpdk-bench.XXXXXX)
SPID=
cleanup() {
	[ -n "$SPID" ] && kill -TERM "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
	"$RIG" teardown "$NAME"
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

"$RIG" setup "$NAME" >/dev/null || exit 1
mkdir -p "$TMP/dpdk" "$TMP/kernel"
MEM=$("$RIG" mem-args "$NAME")
nsx() { ip netns exec "$NS" "$@"; }

wait_ping() {   # host
	for _ in $(seq 200); do
		[ "$(nsx redis-cli -h "$1" -p 6379 ping 2>/dev/null)" = PONG ] && return 0
		kill -0 "$SPID" 2>/dev/null || break
		sleep 0.05
	done
	echo "server on $1 did not come up:"; tail -20 "$TMP"/*.log
	exit 1
}
stop() { kill -TERM "$SPID"; wait "$SPID"; SPID=; }

declare -A rps
bench() {   # label host
	for p in 1 16; do
		out=$(nsx redis-benchmark -h "$2" -p 6379 -c "$C" -n "$N" -t "$TESTS" -P "$p" -q 2>&1 |
			tr '\r' '\n' | grep "requests per second")
		[ "$(echo "$out" | wc -l)" -eq 4 ] || { echo "redis-benchmark failed on $1: $out"; exit 1; }
		while read -r name val _; do
			rps["$1,${name%:},$p"]=$val
		done <<<"$out"
	done
}

ip netns exec "$NS" "$SERVER" --port 6379 --shards 1 --dataplane dpdk \
	--dpdk-eal-args "-l 0 --no-pci --no-telemetry $MEM --vdev=net_tap0,iface=krtap0" \
	--dpdk-ip 198.18.0.2/24 --protected-mode no --dir "$TMP/dpdk" --save "" --logfile "$TMP/dpdk.log" \
	>"$TMP/dpdk.stdio.log" 2>&1 &
SPID=$!
for _ in $(seq 200); do ip -n "$NS" link show krtap0 >/dev/null 2>&1 && break; sleep 0.05; done
ip -n "$NS" addr add 198.18.0.1/24 dev krtap0 && ip -n "$NS" link set krtap0 up
wait_ping 198.18.0.2
bench dpdk 198.18.0.2
stop

ip netns exec "$NS" "$SERVER" --port 6379 --shards 1 --bind 127.0.0.1 --dir "$TMP/kernel" --save "" \
	--logfile "$TMP/kernel.log" >"$TMP/kernel.stdio.log" 2>&1 &
SPID=$!
wait_ping 127.0.0.1
bench kernel 127.0.0.1
stop

echo "redis-benchmark -c $C -n $N, one shard, requests per second (load: $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%-6s %14s %14s %14s %14s\n' test "dpdk -P1" "kernel -P1" "dpdk -P16" "kernel -P16"
for t in SET GET INCR LPUSH; do
	printf '%-6s %14s %14s %14s %14s\n' "$t" "${rps[dpdk,$t,1]}" "${rps[kernel,$t,1]}" \
		"${rps[dpdk,$t,16]}" "${rps[kernel,$t,16]}"
done
