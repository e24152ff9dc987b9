# tests/dpdk/lib.sh — the rig and server helpers shared by the DPDK test
# scripts (sourced, not run). The caller sets SERVER (keyrail-server) and
# RIG (tools/dpdk-rig.sh), then:
#
#   dpdk_require TOOL...     exit 77 (skip) without root or one of the tools
#   dpdk_rig_up LETTER       netns krtest-<LETTER><pid> with hugepages; sets
#                            NAME NS SRV_IP CLI_IP PORT TMP MEM EAL_TAIL EAL;
#                            everything is removed on exit (trap)
#   start_server [ARGS]      keyrail --dataplane dpdk, SHARDS shards (default
#                            1) on EAL lcores 0..SHARDS-1; waits for its tap,
#                            gives the kernel side CLI_IP, waits for PING
#   stop_server              SIGTERM, wait; returns the server's exit status
#   dpdk_persistent_tap      a multi-queue tap krtap0 made beforehand, so
#                            servers that come and go (the integration
#                            harness starts one per test) attach to it and
#                            its address survives them
#   dpdk_write_conf FILE     a config file for such servers (fixed MAC, so
#                            the kernel's neighbour entry stays valid)
#   run_itests DIR SUITES    the integration programs DIR/test_<suite> for
#                            the comma-separated SUITES, through their
#                            harness (KR_HOST, KR_SERVER_ARGS, KR_DATAPLANE)
#   dpdk_summary             "N passed, M failed"; returns 1 if any failed
#   ok bad check check_eq nsx cli info info_kv logs: assertions and access
#
# The rig: server 198.18.0.2/24 on --vdev=net_tap0,iface=krtap0, clients
# (the kernel side of the tap) 198.18.0.1/24, all inside the namespace. One
# shard on EAL lcore 0 is one busy-polling thread: the clients get the other
# CPU of a 2-CPU machine.

dpdk_require() {
	[ "$(id -u)" -eq 0 ] || { echo "skip: needs root (EAL, network namespaces, hugepages)"; exit 77; }
	local t
	for t in ip "$@"; do
		command -v "$t" >/dev/null || { echo "skip: needs $t"; exit 77; }
	done
}

SRV_IP=198.18.0.2
CLI_IP=198.18.0.1
PORT=6379
SHARDS=1
SPID=
TMP=
NAME=
pass=0
fail=0

dpdk_cleanup() {
	if [ -n "$SPID" ]; then
		kill -TERM "$SPID" 2>/dev/null
		wait "$SPID" 2>/dev/null
	fi
	[ -n "$NAME" ] && "$RIG" teardown "$NAME"
	[ -n "$TMP" ] && rm -rf "$TMP"
}

dpdk_rig_up() {
	NAME=$1$(($$ % 100000))
	NS=krtest-$NAME
	TMP=$(mktemp -d "/tmp/kr-dpdk-$NAME.XXXXXX")
	trap dpdk_cleanup EXIT
	trap 'exit 1' INT TERM
	"$RIG" setup "$NAME" >/dev/null || { echo "rig setup failed"; exit 1; }
	MEM=$("$RIG" mem-args "$NAME")
	# Many short connections to one address leave as many TIME_WAIT
	# sockets on the kernel (client) side, and with half the ephemeral
	# ports taken connect() crawls searching for a free one (loopback is
	# exempt). Let the namespace's kernel reuse them, as busy clients do.
	ip netns exec "$NS" sysctl -qw net.ipv4.tcp_tw_reuse=1
	EAL_TAIL="--no-pci --no-telemetry $MEM --vdev=net_tap0,iface=krtap0"
	EAL="-l 0 $EAL_TAIL"
	echo "rig: netns $NS, EAL: $EAL"
}

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

RUN=0
start_server() {
	# A fresh dir each time: nothing saved by the last one is loaded.
	RUN=$((RUN + 1))
	mkdir -p "$TMP/run$RUN"
	# Not through nsx: $! must be the server (ip execs it), not a subshell.
	ip netns exec "$NS" "$SERVER" --port "$PORT" --shards "$SHARDS" --dataplane dpdk \
		--dpdk-eal-args "-l 0-$((SHARDS - 1)) $EAL_TAIL" \
		--dpdk-ip "$SRV_IP/24" --protected-mode no --dir "$TMP/run$RUN" --save "" \
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

dpdk_persistent_tap() {
	ip -n "$NS" tuntap add dev krtap0 mode tap multi_queue || return 1
	ip -n "$NS" addr add "$CLI_IP/24" dev krtap0 &&
		ip -n "$NS" link set krtap0 up
}

# DEBUG is refused to non-local clients by default (enable-debug-command
# local), and over the tap no client is local.
dpdk_write_conf() {
	cat >"$1" <<EOF
dataplane dpdk
dpdk-eal-args "$EAL,mac=02:00:c6:12:00:02"
dpdk-ip $SRV_IP/24
protected-mode no
enable-debug-command yes
EOF
}

# One shard, one test at a time (--jobs 1: each test's server is a busy
# thread). A test skips itself over DPDK (KR_DATAPLANE=dpdk) where the data
# plane lacks what it checks; those skips are listed with their reasons.
run_itests() {
	local dir=$1 suites s prog out rc summary t0 dt
	IFS=, read -r -a suites <<<"$2"
	dpdk_write_conf "$TMP/dpdk.conf"
	for s in "${suites[@]}"; do
		prog="$dir/test_$s"
		[ -x "$prog" ] || { bad "no test program $prog"; continue; }
		t0=$EPOCHREALTIME
		out=$(nsx env KR_SERVER="$SERVER" KR_HOST="$SRV_IP" KR_DATAPLANE=dpdk KR_SHARDS=1 \
			KR_SERVER_ARGS="--include $TMP/dpdk.conf" "$prog" --jobs 1 2>&1)
		rc=$?
		dt=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
		summary=$(echo "$out" | grep "Synthesis" | tail -1)
		if [ $rc -eq 0 ]; then
			ok "integration $s over DPDK (${dt} s): ${summary#*Synthesis: }"
		else
			bad "integration $s over DPDK (${dt} s): ${summary#*Synthesis: }"
			echo "$out" | grep -E "FAIL|Assertion|CRASH|---- .*server" -A3 | head -40
		fi
		echo "$out" | grep "^skip over DPDK:" | sort -u | sed "s/^/  $s: /"
		# Every test's server is gone: none left to busy-poll the tap.
		if [ -n "$(ip netns pids "$NS")" ]; then
			bad "processes left in $NS after $s: $(ip netns pids "$NS" | tr '\n' ' ')"
			ip netns pids "$NS" | xargs -r kill -KILL
		fi
	done
}

dpdk_summary() {
	echo "$pass passed, $fail failed"
	[ "$fail" -eq 0 ]
}
