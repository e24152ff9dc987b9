#!/usr/bin/env bash
# memif-bench.sh — keyrail's DPDK data plane without a kernel in the path:
# keyrail-server (--dataplane dpdk, one shard pinned to one core) on the
# server side of a net_memif pair, keyrail-loadgen (bench/loadgen) on the
# client side on the other core. Both take hugepages through
# tools/dpdk-rig.sh; memif is a unix socket, so no network namespace is
# used (the rig makes one anyway; nothing runs in it).
#
#   bench/memif-bench.sh [options]
#     --server PATH      keyrail-server (build/server/keyrail-server)
#     --loadgen PATH     keyrail-loadgen (build/bench/loadgen/keyrail-loadgen)
#     --rig PATH         tools/dpdk-rig.sh
#     --duration S       seconds per run (5; at most 20)
#     -c N               connections (64)
#     --keys N           key space (100000), -d N value bytes (16)
#     --cpus S,L         server core, loadgen core (0,1)
#     --callgrind        instead of throughput: the server under callgrind,
#                        Ir per unpipelined GET (64 connections) from two
#                        windows of --cg-requests R/4 and R GETs, and the top
#                        functions of the larger window
#     --cg-requests R    (200000)
#     --kernel           for comparison: keyrail with the kernel backend in
#                        the rig's network namespace, the loadgen on net_tap
#                        in the same namespace (the kernel's TCP on one side)
#     --smoke            short verified runs (meson test loadgen-memif-smoke)
#     --keep-tmp         keep the scratch directory
#
# Runs GET -P 1, GET -P 16, SET -P 1, SET -P 16 (each after a --prefill,
# so every GET hits) and prints a table. Any wrong reply stops the loadgen
# with status 1 and this script with it. Never more than two busy-polling
# threads: the shard and the loadgen's lcore.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
SERVER=$root/build/server/keyrail-server
LOADGEN=$root/build/bench/loadgen/keyrail-loadgen
RIG=$root/tools/dpdk-rig.sh
DUR=5 CONNS=64 KEYS=100000 VSIZE=16 CPUS=0,1 CG=0 CG_R=200000 SMOKE=0 KEEP=0 KERNEL=0

while [ $# -gt 0 ]; do
	case "$1" in
	--server) SERVER=$2; shift ;;
	--loadgen) LOADGEN=$2; shift ;;
	--rig) RIG=$2; shift ;;
	--duration) DUR=$2; shift ;;
	-c) CONNS=$2; shift ;;
	--keys) KEYS=$2; shift ;;
	-d) VSIZE=$2; shift ;;
	--cpus) CPUS=$2; shift ;;
	--callgrind) CG=1 ;;
	--cg-requests) CG_R=$2; shift ;;
	--smoke) SMOKE=1 ;;
	--kernel) KERNEL=1 ;;
	--keep-tmp) KEEP=1 ;;
	-h|--help) sed -n '2,30p' "$0"; exit 0 ;;
	*) echo "memif-bench: unknown option $1" >&2; exit 2 ;;
	esac
	shift
done
case "$DUR" in ''|*[!0-9.]*) echo "memif-bench: bad --duration" >&2; exit 2 ;; esac
awk -v d="$DUR" 'BEGIN { exit !(d > 0 && d <= 20) }' ||
	{ echo "memif-bench: --duration must be in (0, 20]" >&2; exit 2; }
SCPU=${CPUS%,*} LCPU=${CPUS#*,}
[ "$CG" = 1 ] && [ "$KERNEL" = 1 ] &&
	{ echo "memif-bench: --callgrind measures the DPDK server; not with --kernel" >&2; exit 2; }
# A loadgen run's time limit; under callgrind the server is ~50x slower.
LG_TIMEOUT=120
[ "$CG" = 1 ] && LG_TIMEOUT=900

[ "$(id -u)" -eq 0 ] || { echo "skip: needs root (hugepages)"; exit 77; }
for f in "$SERVER" "$LOADGEN" "$RIG"; do
	[ -x "$f" ] || { echo "memif-bench: $f is not there (build it first)" >&2; exit 2; }
done
if [ "$CG" = 1 ]; then
	for t in valgrind callgrind_control callgrind_annotate; do
		command -v $t >/dev/null || { echo "memif-bench: needs $t" >&2; exit 2; }
	done
fi

NAME=m$$
TMP=$(mktemp -d /tmp/kr-memif-bench.XXXXXX)
SOCK=/run/kr-memif-$$.sock
SPFX=krs$$ LPFX=krl$$
SPID=
cleanup() {
	if [ -n "$SPID" ] && kill -0 "$SPID" 2>/dev/null; then
		kill -TERM "$SPID" 2>/dev/null
		for _ in $(seq 100); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$SPID" 2>/dev/null
		wait "$SPID" 2>/dev/null
	fi
	"$RIG" teardown "$NAME" >/dev/null 2>&1
	rm -f "$SOCK"
	rm -rf "/var/run/dpdk/$SPFX" "/var/run/dpdk/$LPFX"
	rm -f /dev/hugepages/"$SPFX"* /dev/hugepages/"$LPFX"* 2>/dev/null
	if [ "$KEEP" = 1 ]; then echo "scratch kept: $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

"$RIG" setup "$NAME" >/dev/null || exit 1
MEM=$("$RIG" mem-args "$NAME")
# Fixed MACs: the two memif ends must not pick the same one.
SMAC=02:6b:72:00:00:02 LMAC=02:6b:72:00:00:01
SIP=198.18.7.2 LIP=198.18.7.1

# start_server [wrapper words...]: keyrail on the memif server side.
# SMEM: the server's EAL memory words (valgrind cannot give EAL the large
# virtual areas it reserves for hugepage memory: --no-huge there).
SMEM=$MEM
start_server() {
	rm -f "$SOCK"
	"$@" "$SERVER" --port 6379 --shards 1 --dataplane dpdk \
		--dpdk-eal-args "-l $SCPU --no-pci --no-telemetry $SMEM --file-prefix $SPFX --vdev=net_memif0,role=server,socket=$SOCK,socket-abstract=no,mac=$SMAC" \
		--dpdk-ip $SIP/24 --protected-mode no --save "" --appendonly no \
		--dir "$TMP" --logfile "$TMP/server.log" >"$TMP/server.stdio.log" 2>&1 &
	SPID=$!
	# The memif socket appears once EAL and the port are up.
	local limit=$((SMOKE ? 300 : 600))
	[ "$CG" = 1 ] && limit=3000
	for _ in $(seq $limit); do
		[ -S "$SOCK" ] && return 0
		kill -0 "$SPID" 2>/dev/null || break
		sleep 0.1
	done
	echo "memif-bench: the server did not come up:" >&2
	tail -n 20 "$TMP/server.stdio.log" "$TMP/server.log" >&2
	exit 1
}

stop_server() {
	kill -TERM "$SPID" 2>/dev/null
	for _ in $(seq 300); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$SPID" 2>/dev/null
	wait "$SPID" 2>/dev/null
	SPID=
}

# run_lg OUT ARGS...: one loadgen run with its output in OUT; returns its
# status.
run_lg() {
	local out=$1
	shift
	if [ "$KERNEL" = 1 ]; then
		# net_tap: the tap appears in the namespace when EAL starts;
		# give its kernel side an address then (the loadgen waits for
		# the link).
		ip netns exec "$NS" timeout -k 5 "$LG_TIMEOUT" "$LOADGEN" \
			--eal "-l $LCPU --no-pci --no-telemetry $MEM --file-prefix $LPFX --vdev=net_tap0,iface=lgtap0" \
			--ip $LIP/24 --server $SIP --port 6379 "$@" >"$out" 2>&1 &
		local lpid=$!
		for _ in $(seq 200); do
			ip -n "$NS" link show lgtap0 >/dev/null 2>&1 && break
			sleep 0.05
		done
		ip -n "$NS" addr add 198.18.7.254/24 dev lgtap0 2>/dev/null
		ip -n "$NS" link set lgtap0 up 2>/dev/null
		wait $lpid
	else
		timeout -k 5 "$LG_TIMEOUT" "$LOADGEN" \
			--eal "-l $LCPU --no-pci --no-telemetry $MEM --file-prefix $LPFX --vdev=net_memif0,role=client,socket=$SOCK,socket-abstract=no,mac=$LMAC" \
			--ip $LIP/24 --server $SIP --port 6379 "$@" >"$out" 2>&1
	fi
	local rc=$?
	rm -rf "/var/run/dpdk/$LPFX"
	return $rc
}

# loadgen ARGS...: one run; prints its output; fails the script on error.
RUN=0
loadgen() {
	RUN=$((RUN + 1))
	local out=$TMP/lg.$RUN.log
	run_lg "$out" "$@"
	local rc=$?
	grep -v '^EAL: \|^TELEMETRY\|^$\|mp action callback' "$out" | sed 's/^/    /'
	if [ $rc -ne 0 ]; then
		echo "memif-bench: loadgen $* failed (status $rc)" >&2
		kill -0 "$SPID" 2>/dev/null || { echo "server died:"; tail -n 20 "$TMP/server.stdio.log"; } >&2
		exit 1
	fi
	RESULT=$(grep '^RESULT ' "$out" | tail -1)
	[ -n "$RESULT" ] || { echo "memif-bench: no RESULT line" >&2; exit 1; }
}
# loadgen_must_fail ARGS...: a run whose verification must fail (exit 1
# with VERIFY FAILED): proves the checks can fail.
loadgen_must_fail() {
	local out=$TMP/lg.fail.log
	run_lg "$out" "$@"
	local rc=$?
	if [ $rc -ne 1 ] || ! grep -q 'VERIFY FAILED' "$out"; then
		echo "memif-bench: loadgen $* should have failed verification (status $rc):" >&2
		cat "$out" >&2
		exit 1
	fi
	grep 'VERIFY FAILED' "$out" | sed 's/^/    expected: /'
}
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$RESULT"; }

load() { cut -d' ' -f1-3 /proc/loadavg; }

# calls FILE FUNC: how often FUNC was called in a callgrind dump (its
# "calls=" lines; names are compressed as "(id) name" on first use).
calls() {
	awk -v f="$2" '
		/^c?fn=\(/ {
			id = $0; sub(/^c?fn=\(/, "", id); name = id
			sub(/\).*/, "", id); sub(/^[0-9]+\) ?/, "", name)
			if (name != "") names[id] = name
			if ($0 ~ /^cfn=/) cur = id
		}
		/^calls=/ { n = $0; sub(/^calls=/, "", n); sub(/ .*/, "", n); c[cur] += n }
		END {
			t = 0
			for (i in c) { nm = names[i]; sub(/\x27[0-9]+$/, "", nm); if (nm == f) t += c[i] }
			print t
		}' "$1"
}
total_ir() { awk '/^totals:/ { print $2; exit }' "$1"; }

if [ "$CG" = 1 ]; then
	SMEM="--no-huge -m 512 --no-shconf"
	start_server valgrind --tool=callgrind --instr-atstart=no \
		--callgrind-out-file="$TMP/cg.out" --dump-instr=no
	echo "server under callgrind (pid $SPID); prefill, then two windows of unpipelined GETs"
	cgc() { echo "callgrind_control $1 $SPID >/dev/null"; }
	# Before each window, with the connections open and nothing sent, an
	# idle second: the cost of one empty poll round, to take out the
	# rounds the server spent waiting (this machine is shared: the
	# loadgen is not always running, and an idle busy-poll costs Ir).
	idle="$(cgc -z) && $(cgc '-i on') && sleep 1 && $(cgc '-i off') && $(cgc -d)"
	R1=$((CG_R / 4)) R2=$CG_R
	declare -A IR POLLS INPUTS IDLE_IR IDLE_POLLS
	for r in $R1 $R2; do
		rm -f "$TMP"/cg.out.*
		loadgen -c "$CONNS" -P 1 -t get --keys "$KEYS" -d "$VSIZE" --prefill -n "$r" \
			--connect-timeout 60 \
			--exec-start "$idle && $(cgc -z) && $(cgc '-i on')" \
			--exec-end "$(cgc '-i off') && $(cgc -d)"
		dumps=$(ls "$TMP"/cg.out.* 2>/dev/null | sort -t. -k3 -n)
		[ "$(wc -w <<<"$dumps")" -eq 2 ] || { echo "memif-bench: expected 2 callgrind dumps" >&2; exit 1; }
		d_idle=$(head -1 <<<"$dumps") d_win=$(tail -1 <<<"$dumps")
		IDLE_IR[$r]=$(total_ir "$d_idle") IDLE_POLLS[$r]=$(calls "$d_idle" dp_dpdk_poll)
		IR[$r]=$(total_ir "$d_win") POLLS[$r]=$(calls "$d_win" dp_dpdk_poll)
		INPUTS[$r]=$(calls "$d_win" ns_input)
		cp "$d_win" "$TMP/window.$r"
	done
	stop_server
	echo
	echo "Server instructions (callgrind Ir, all threads, user space) per unpipelined GET,"
	echo "$CONNS connections over net_memif, value $VSIZE bytes, every GET a hit."
	for r in $R1 $R2; do
		awk -v r="$r" -v ir="${IR[$r]}" -v p="${POLLS[$r]}" -v in_="${INPUTS[$r]}" \
			-v iir="${IDLE_IR[$r]}" -v ip="${IDLE_POLLS[$r]}" 'BEGIN {
			per = ip > 0 ? iir / ip : 0
			printf "  window of %d GETs: %.0f Ir, %d poll rounds (%d with frames: %.1f GETs each)\n", r, ir, p, in_, (in_ > 0 ? r / in_ : 0)
			printf "    idle second: %.0f Ir over %d rounds = %.0f Ir per empty round\n", iir, ip, per
			printf "    Ir/GET: %.0f raw, %.0f without the empty rounds\n", ir / r, (ir - (p - in_) * per) / r
		}'
	done
	awk -v a="${IR[$R1]}" -v b="${IR[$R2]}" -v r1="$R1" -v r2="$R2" \
		-v pa="${POLLS[$R1]}" -v pb="${POLLS[$R2]}" -v ia="${INPUTS[$R1]}" -v ib="${INPUTS[$R2]}" \
		-v iir="${IDLE_IR[$R2]}" -v ip="${IDLE_POLLS[$R2]}" 'BEGIN {
		per = ip > 0 ? iir / ip : 0
		wa = a - (pa - ia) * per; wb = b - (pb - ib) * per
		printf "  difference of the windows: raw %.0f Ir/GET, without empty rounds %.0f Ir/GET\n", (b - a) / (r2 - r1), (wb - wa) / (r2 - r1)
	}'
	echo
	echo "Top functions of the $R2-GET window (self Ir, empty rounds included; divide by $R2):"
	callgrind_annotate --inclusive=no "$TMP/window.$R2" 2>/dev/null |
		awk '/^-+$/ { n++ } n >= 3' | grep -v '^-' | sed -n '1,40p'
	echo "load average: $(load)"
	exit 0
fi

if [ "$KERNEL" = 1 ]; then
	NS=krtest-$NAME
	# The server's address on the namespace's loopback: it exists before
	# the loadgen's tap does, and the kernel answers ARP for it on the tap.
	ip -n "$NS" addr add $SIP/32 dev lo
	ip netns exec "$NS" taskset -c "$SCPU" "$SERVER" --port 6379 --shards 1 --bind $SIP \
		--protected-mode no --save "" --appendonly no --dir "$TMP" \
		--logfile "$TMP/server.log" >"$TMP/server.stdio.log" 2>&1 &
	SPID=$!
	for _ in $(seq 300); do
		ip netns exec "$NS" ss -ltn 2>/dev/null | grep -q "$SIP:6379" && break
		kill -0 "$SPID" 2>/dev/null || break
		sleep 0.1
	done
	ip netns exec "$NS" ss -ltn 2>/dev/null | grep -q "$SIP:6379" ||
		{ echo "memif-bench: the kernel-backend server did not come up" >&2; exit 1; }
	LINK="net_tap <-> kernel TCP (keyrail kernel backend, 1 shard)"
else
	start_server taskset -c "$SCPU"
	LINK="net_memif"
fi
echo "keyrail-server pid $SPID (shard on CPU $SCPU), loadgen on CPU $LCPU; link: $LINK"
echo "load average before: $(load)"
if [ "$SMOKE" = 1 ]; then
	# Short verified runs: both depths, both commands, and a mixed run
	# without prefill (GETs of unset keys must come back nil).
	loadgen -c 16 -P 1 -t mixed --set-pct 50 --keys 5000 -d 100 -n 20000
	loadgen -c 16 -P 1 -t get --keys 10000 -d "$VSIZE" --prefill -n 20000
	loadgen -c 16 -P 16 -t get --keys 10000 -d "$VSIZE" -n 50000 --prefill
	loadgen -c 16 -P 16 -t set --keys 10000 -d 1000 -n 20000
	loadgen -c 4 -P 16 -t get --keys 1000 -d 3000 --prefill -n 5000
	# The keys hold 3000-byte values now: GETs expecting 2999 must fail.
	loadgen_must_fail -c 4 -P 1 -t get --keys 1000 -d 2999 -n 1000
	stop_server
	echo "smoke: all replies verified"
	exit 0
fi

declare -A OPS P50 P99 P999 PMAX CPU IDLE
for t in get set; do
	for p in 1 16; do
		echo "== $t -P $p"
		loadgen -c "$CONNS" -P "$p" -t "$t" --keys "$KEYS" -d "$VSIZE" --prefill \
			--duration "$DUR" --warmup 0.5
		OPS[$t$p]=$(field ops_s) P50[$t$p]=$(field p50_us) P99[$t$p]=$(field p99_us)
		P999[$t$p]=$(field p999_us) PMAX[$t$p]=$(field max_us)
		CPU[$t$p]=$(field loadgen_cpu) IDLE[$t$p]=$(field idle_polls)
	done
done
stop_server
echo
echo "keyrail over $LINK: 1 shard (CPU $SCPU), keyrail-loadgen (CPU $LCPU), $CONNS connections,"
echo "$DUR s per run, --keys $KEYS, -d $VSIZE, every reply verified; load average after: $(load)"
printf '%-8s %12s %9s %9s %9s %9s %9s %8s\n' test "requests/s" "p50 us" "p99 us" \
	"p99.9 us" "max us" "lg CPU" "lg idle"
for t in get set; do
	for p in 1 16; do
		printf '%-8s %12s %9s %9s %9s %9s %9s %8s\n' "${t^^} -P$p" "${OPS[$t$p]}" \
			"${P50[$t$p]}" "${P99[$t$p]}" "${P999[$t$p]}" "${PMAX[$t$p]}" "${CPU[$t$p]}" \
			"${IDLE[$t$p]}"
	done
done
