#!/usr/bin/env bash
# End-to-end test of the DPDK data plane over a faulty wire: keyrail-server
# with `--dataplane dpdk` on net_tap in a test network namespace, started
# with the test-only fault layer (dpdk-fault-inject) dropping 5%, holding
# back (reordering) 5% and duplicating 1% of the frames in each direction.
# Real kernel clients must still see exact results: redis-benchmark with
# -P 1 and -P 16 (INCR counter and LLEN exact), big values byte-identical.
#
#   dpdk_faults.sh SERVER RIG CLIENT [BIG_SIZES]
#     SERVER     keyrail-server
#     RIG        tools/dpdk-rig.sh (netns + hugepages, removed afterwards)
#     CLIENT     tests/dpdk/kr_client.py
#     BIG_SIZES  value sizes for kr_client.py bigval (default "1m 64m"); each
#                size runs alone and prints its time and the stack's
#                retransmission counters (RTOs against fast/SACK recovery)
#
# Also: bad dpdk-fault-inject values stop start-up with a clear error, INFO
# shows every kind of fault injected in both directions, and a second short
# run with delays (20% of frames held 300 us) keeps INCR exact. Everything
# made here is removed on exit (trap). Skips (77) without root or tools.
set -u
SERVER=${1:?usage: dpdk_faults.sh SERVER RIG CLIENT [BIG_SIZES]}
RIG=${2:?}
CLIENT=${3:?}
BIG_SIZES=${4:-1m 64m}

[ "$(id -u)" -eq 0 ] || { echo "skip: needs root (EAL, network namespaces, hugepages)"; exit 77; }
for t in ip redis-cli redis-benchmark python3 timeout; do
	command -v "$t" >/dev/null || { echo "skip: needs $t"; exit 77; }
done

NAME=f$(($$ % 100000))
NS=krtest-$NAME
SRV_IP=198.18.0.2
CLI_IP=198.18.0.1
PORT=6379
FAULTS="drop=0.05 reorder=0.05 dup=0.01 seed=42"
TMP=$(mktemp -d /tmp/kr-dpdk-faults.XXXXXX)
SPID=
pass=0
fail=0
T0=$(date +%s)

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

ok() { pass=$((pass + 1)); echo "ok   $1 [$(($(date +%s) - T0)) s]"; }
bad() { fail=$((fail + 1)); echo "FAIL $1 [$(($(date +%s) - T0)) s]"; }
check() {   # name, expected substring, actual
	if printf '%s' "$3" | grep -qF -- "$2"; then ok "$1"; else bad "$1: expected '$2', got '$3'"; fi
}
check_eq() {   # name, expected, actual
	if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: expected '$2', got '$3'"; fi
}
nsx() { ip netns exec "$NS" "$@"; }
cli() { nsx timeout 60 redis-cli -h "$SRV_IP" -p "$PORT" "$@" 2>&1; }
info() { cli info "$1" | tr -d '\r' | sed -n "s/^$2://p"; }
info_kv() { info "$1" "$2" | tr ',' '\n' | sed -n "s/^$3=//p"; }
logs() {
	echo "---- server log (tail) ----"
	tail -n 30 "$TMP/server.log" "$TMP/stdio.log" 2>/dev/null
}

"$RIG" setup "$NAME" >/dev/null || { echo "rig setup failed"; exit 1; }
MEM=$("$RIG" mem-args "$NAME")
EAL="-l 0 --no-pci --no-telemetry $MEM --vdev=net_tap0,iface=krtap0"
echo "rig: netns $NS, EAL: $EAL"

run_server() {   # extra args...; in the background, SPID set
	# A fresh dir each time: nothing saved by the last server is loaded.
	local dir
	dir=$(mktemp -d "$TMP/data.XXXXXX")
	ip netns exec "$NS" "$SERVER" --port "$PORT" --shards 1 --dataplane dpdk \
		--dpdk-eal-args "$EAL" --dpdk-ip "$SRV_IP/24" --protected-mode no \
		--dir "$dir" --save "" --logfile "$TMP/server.log" "$@" >"$TMP/stdio.log" 2>&1 &
	SPID=$!
}

# Bad settings: start-up stops before EAL, with the reason.
bad_spec() {   # spec, expected text in the error
	: >"$TMP/server.log"
	run_server --dpdk-fault-inject "$1"
	local st=1 i
	for i in $(seq 200); do
		kill -0 "$SPID" 2>/dev/null || { st=0; break; }
		sleep 0.05
	done
	[ $st -eq 0 ] || kill -KILL "$SPID"
	wait "$SPID"
	local rc=$?
	SPID=
	local msg
	msg=$(cat "$TMP/server.log" "$TMP/stdio.log" 2>/dev/null)
	if [ $st -eq 0 ] && [ $rc -ne 0 ] && printf '%s' "$msg" | grep -qF -- "$2"; then
		ok "dpdk-fault-inject '$1' refused: $2"
	else
		bad "dpdk-fault-inject '$1': exit $rc (timeout $st), log: $msg"
	fi
}
bad_spec "drop=1.5" "bad value in 'drop=1.5'"
bad_spec "drop=x" "bad value in 'drop=x'"
bad_spec "loss=0.1" "unknown key 'loss'"
bad_spec "drop" "'drop' is not key=value"
bad_spec "drop=0.6 dup=0.5" "more than 1"
bad_spec "delay=0.1" "delay=0.1 needs delay-us > 0"
bad_spec "seed=-1" "bad value in 'seed=-1'"

# A server with faults: wait for its tap, address the kernel side, PING.
start_faulty() {   # spec
	run_server --dpdk-fault-inject "$1"
	local i up=0
	for i in $(seq 200); do
		ip -n "$NS" link show krtap0 >/dev/null 2>&1 && { up=1; break; }
		kill -0 "$SPID" 2>/dev/null || break
		sleep 0.05
	done
	[ $up -eq 1 ] || { echo "server with faults did not start"; logs; return 1; }
	ip -n "$NS" addr add "$CLI_IP/24" dev krtap0
	ip -n "$NS" link set krtap0 up
	for i in $(seq 200); do
		[ "$(cli ping)" = PONG ] && return 0
		kill -0 "$SPID" 2>/dev/null || break
		sleep 0.05
	done
	echo "no PING over the faulty tap"; logs
	return 1
}
stop_server() {
	kill -TERM "$SPID"
	wait "$SPID"
	local st=$?
	SPID=
	return $st
}

start_faulty "$FAULTS" && ok "server up with faults: PING over net_tap" ||
	{ bad "server with faults: start"; echo "$pass passed, $fail failed"; exit 1; }
check_eq "INFO shows the fault spec" "$FAULTS" "$(info dataplane dpdk_fault_inject)"

cli flushall >/dev/null
N=20000
for p in 1 16; do
	t=$(date +%s)
	out=$(nsx timeout 120 redis-benchmark -h "$SRV_IP" -p "$PORT" -c 50 -n $N \
		-t set,get,incr,lpush -P "$p" -q 2>&1)
	rc=$?
	echo "$out" | tr '\r' '\n' | grep "per second" | sed "s/^/  faulty -P $p: /"
	n=$(echo "$out" | tr '\r' '\n' | grep -c "requests per second")
	[ $rc -eq 0 ] && [ "$n" -eq 4 ] && ok "redis-benchmark -P $p under faults ($(($(date +%s) - t)) s)" ||
		bad "redis-benchmark -P $p: rc=$rc, $n results: $(echo "$out" | tr '\r' '\n' | tail -5)"
done
check_eq "INCR effect exact (2 x $N)" $((2 * N)) "$(cli get counter:__rand_int__)"
check_eq "LPUSH effect exact (2 x $N)" $((2 * N)) "$(cli llen mylist)"
check_eq "SET effect (3-byte values)" 3 "$(cli strlen key:__rand_int__)"
check_eq "DBSIZE after benchmarks" 3 "$(cli dbsize)"

# Big values one size at a time, each with the stack's retransmission
# counters around it: how much was repaired by SACK/fast recovery and how
# much waited for a retransmission timeout.
tcp_ctr() { info_kv dataplane shard0_tcp "$1"; }
for sz in $BIG_SIZES; do
	r0=$(tcp_ctr retransmits); f0=$(tcp_ctr fast_retransmits); o0=$(tcp_ctr rto_timeouts)
	t=$EPOCHREALTIME
	out=$(nsx timeout 240 python3 "$CLIENT" bigval "$SRV_IP" "$PORT" "$sz" 2>&1)
	rc=$?
	dt=$(awk -v a="$t" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')
	r1=$(tcp_ctr retransmits); f1=$(tcp_ctr fast_retransmits); o1=$(tcp_ctr rto_timeouts)
	echo "$out" | sed 's/^/  /'
	printf '  %s: %.1f s, retransmits=%d fast_recoveries=%d rto_timeouts=%d\n' "$sz" "$dt" \
		$((${r1:-0} - ${r0:-0})) $((${f1:-0} - ${f0:-0})) $((${o1:-0} - ${o0:-0}))
	[ $rc -eq 0 ] && ok "value of $sz byte-identical under faults" || bad "big value $sz: rc=$rc $out"
done

# Every kind of fault happened in both directions, and the stack recovered
# from them (retransmissions).
for k in rx_drop rx_reorder rx_dup tx_drop tx_reorder tx_dup; do
	v=$(info_kv dataplane shard0_faults "$k")
	[ "${v:-0}" -gt 0 ] && ok "INFO faults $k=$v" || bad "INFO faults $k: '$v'"
done
check_eq "no delays asked, none injected" 0 "$(info_kv dataplane shard0_faults rx_delay)"
rt=$(info_kv dataplane shard0_tcp retransmits)
[ "${rt:-0}" -gt 0 ] && ok "stack retransmitted ($rt)" || bad "no retransmissions: '$rt'"
cli info dataplane | tr -d '\r' | grep -E '^shard0_(faults|tcp|drops)' | sed 's/^/  /'
check "server alive after it all" "PONG" "$(cli ping)"

stop_server && ok "clean exit on SIGTERM" || { bad "server exit status $?"; logs; }

# Delays (not part of the 5/5/1 mix): 20% of the frames held 300 us each
# way; a short INCR run must still count exactly.
if start_faulty "delay=0.2 delay-us=300 seed=7"; then
	out=$(nsx timeout 60 redis-benchmark -h "$SRV_IP" -p "$PORT" -c 10 -n 2000 -t incr -P 1 -q 2>&1)
	rc=$?
	[ $rc -eq 0 ] && ok "redis-benchmark INCR with delays" || bad "INCR with delays: rc=$rc $out"
	check_eq "INCR effect exact with delays" 2000 "$(cli get counter:__rand_int__)"
	for k in rx_delay tx_delay; do
		v=$(info_kv dataplane shard0_faults "$k")
		[ "${v:-0}" -gt 0 ] && ok "INFO faults $k=$v" || bad "INFO faults $k: '$v'"
	done
	check_eq "no drops asked, none injected" 0 "$(info_kv dataplane shard0_faults tx_drop)"
	stop_server && ok "delays: clean exit" || { bad "delays: exit status $?"; logs; }
else
	bad "server with delays: start"
fi

echo "$pass passed, $fail failed ($(($(date +%s) - T0)) s)"
[ "$fail" -eq 0 ]
