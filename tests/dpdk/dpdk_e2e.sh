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
# The rig and server helpers live in lib.sh (shared with dpdk_suite.sh).
set -u
SERVER=${1:?usage: dpdk_e2e.sh SERVER RIG CLIENT ITEST_DIR [SUITES]}
RIG=${2:?}
CLIENT=${3:?}
ITEST_DIR=${4:?}
SUITES=${5:-strings,keys,hashes,lists,sets,zsets,protocol}

. "$(dirname "$0")/lib.sh"
dpdk_require redis-cli redis-benchmark python3
dpdk_rig_up d

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

# Requests cut across segments: whole requests in one segment run where
# they lie (DATA events, counted as direct); a request's tail waits in
# the connection's buffer for the next segment.
d0=$(info_kv dataplane shard0_rx direct)
out=$(nsx python3 "$CLIENT" split "$SRV_IP" "$PORT" 3000 2>&1)
rc=$?; echo "$out" | sed 's/^/  /'
[ $rc -eq 0 ] && ok "requests cut at random points, every reply right" || bad "split: $out"
d1=$(info_kv dataplane shard0_rx direct)
[ $(( ${d1:-0} - ${d0:-0} )) -gt 100 ] && ok "segments delivered in place: $(( d1 - d0 ))" ||
	bad "INFO direct segments: $d0 -> $d1"

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
dpdk_persistent_tap || { bad "persistent tap"; exit 1; }
run_itests "$ITEST_DIR" "$SUITES"

dpdk_summary
