#!/bin/bash
# Differential test of a server binary against Debian's redis-server.
#
#   run.sh <server-binary> [shards] [seed] [ops]
#
# Starts A = <server-binary> (keyrail: --port P --shards N --bind 127.0.0.1;
# a binary named redis-server* is started like B, so the tool can be
# validated against Redis itself) and B = redis-server --save "" --appendonly
# no, each in its own temp dir on a free port, waits for PING, runs difftest
# against both and stops them on exit. Exit status: difftest's (0 no
# difference, 1 difference, 2 usage/start-up trouble).
#
# Environment:
#   DIFFTEST             difftest binary (default: ../tools/difftest next to
#                        the server binary's directory, else PATH)
#   DIFFTEST_PORT_MIN/MAX  port range to use (default 24000-24099)
#   DIFFTEST_OPS         overrides the [ops] argument (a sanitizer build or a
#                        busy machine may want fewer)
#   DIFFTEST_KEYS, DIFFTEST_COMMANDS, DIFFTEST_FAMILIES  passed as --keys /
#                        --commands / --families (none of them: every family
#                        minus difftest's default skip list, what meson runs)
#   DIFFTEST_ARGS        more difftest options, split on blanks (--stats,
#                        --trace FILE, --check-every N, --verbose)
#   REDIS_SERVER, REDIS_CLI  reference binaries (default from PATH)
set -u
# SORT ... ALPHA compares with strcoll(): both servers in the C locale.
export LC_ALL=C

if [ $# -lt 1 ] || [ $# -gt 4 ]; then
	echo "usage: $0 <server-binary> [shards] [seed] [ops]" >&2
	exit 2
fi
BIN=$1
SHARDS=${2:-1}
SEED=${3:-1}
OPS=${DIFFTEST_OPS:-${4:-20000}}
PORT_MIN=${DIFFTEST_PORT_MIN:-24000}
PORT_MAX=${DIFFTEST_PORT_MAX:-24099}
REDIS_SERVER=${REDIS_SERVER:-redis-server}
REDIS_CLI=${REDIS_CLI:-redis-cli}

if [ ! -x "$BIN" ]; then
	echo "difftest/run.sh: server binary '$BIN' is not executable" >&2
	exit 2
fi
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
DIFFTEST=${DIFFTEST:-}
if [ -z "$DIFFTEST" ]; then
	if [ -x "$(dirname "$BIN")/../tools/difftest" ]; then
		DIFFTEST=$(dirname "$BIN")/../tools/difftest
	else
		DIFFTEST=$(command -v difftest || true)
	fi
fi
if [ -z "$DIFFTEST" ] || [ ! -x "$DIFFTEST" ]; then
	echo "difftest/run.sh: difftest binary not found (set DIFFTEST)" >&2
	exit 2
fi
for p in "$REDIS_SERVER" "$REDIS_CLI"; do
	if ! command -v "$p" >/dev/null; then
		echo "difftest/run.sh: $p not found" >&2
		exit 2
	fi
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/difftest.XXXXXX") || exit 2
# Port claims (flock) shared by every run on this machine.
LOCKDIR=${TMPDIR:-/tmp}/difftest-ports
mkdir -p "$LOCKDIR" 2>/dev/null && chmod 1777 "$LOCKDIR" 2>/dev/null
PIDS=()      # servers started and answering
CUR_PID=     # server being started
cleanup() {
	local pid
	[ -n "$CUR_PID" ] && PIDS+=("$CUR_PID")
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null
	done
	for pid in "${PIDS[@]}"; do
		# SIGKILL whatever has not gone after 5 s.
		for _ in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 2' INT TERM HUP

is_redis() {
	case "$(basename "$1")" in redis-server*) return 0 ;; esac
	return 1
}

port_busy() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Start one server on a free port in the range; sets STARTED_PORT. A port is
# claimed with flock (held until this script exits) so parallel runs of this
# script never pick the same one; a server that dies at start (port taken by
# someone else) is retried on another port.
start_server() {
	local name=$1 bin=$2 dir=$TMP/$1 tries port pid lockfd
	mkdir -p "$dir"
	for tries in $(seq 40); do
		port=$((PORT_MIN + RANDOM % (PORT_MAX - PORT_MIN + 1)))
		exec {lockfd}>"$LOCKDIR/$port.lock" || continue
		if ! flock -n "$lockfd"; then
			exec {lockfd}>&-
			continue
		fi
		if port_busy "$port"; then
			exec {lockfd}>&-
			continue
		fi
		if is_redis "$bin"; then
			# hz 100: Redis checks blocking timeouts in its cron, so at
			# the default 10 a 10 ms BLPOP timeout takes 100 ms.
			(cd "$dir" && exec "$bin" --port "$port" --bind 127.0.0.1 --save "" \
				--appendonly no --hz 100 --dir "$dir" >"$dir/log" 2>&1) &
		else
			(cd "$dir" && exec "$bin" --port "$port" --shards "$SHARDS" \
				--bind 127.0.0.1 >"$dir/log" 2>&1) &
		fi
		pid=$!
		CUR_PID=$pid
		for _ in $(seq 100); do
			if ! kill -0 "$pid" 2>/dev/null; then
				break
			fi
			if [ "$("$REDIS_CLI" -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ]; then
				# Still ours? (a server that failed to bind exits soon)
				sleep 0.1
				if kill -0 "$pid" 2>/dev/null; then
					STARTED_PORT=$port
					STARTED_PID=$pid
					PIDS+=("$pid")
					CUR_PID=
					return 0
				fi
				break
			fi
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			echo "difftest/run.sh: $name did not answer PING on port $port" >&2
			tail -20 "$dir/log" >&2
			return 1
		fi
		wait "$pid" 2>/dev/null
		CUR_PID=
		echo "difftest/run.sh: $name exited at start on port $port; retrying" >&2
		tail -5 "$dir/log" >&2
		exec {lockfd}>&-
	done
	echo "difftest/run.sh: no free port for $name in $PORT_MIN-$PORT_MAX" >&2
	return 1
}

start_server a "$BIN" || exit 2
PORT_A=$STARTED_PORT
PID_A=$STARTED_PID
start_server b "$(command -v "$REDIS_SERVER")" || exit 2
PORT_B=$STARTED_PORT
PID_B=$STARTED_PID

ARGS=(--a "127.0.0.1:$PORT_A" --b "127.0.0.1:$PORT_B" --seed "$SEED" --ops "$OPS")
is_redis "$BIN" || ARGS+=(--shards "$SHARDS")
[ -n "${DIFFTEST_KEYS:-}" ] && ARGS+=(--keys "$DIFFTEST_KEYS")
[ -n "${DIFFTEST_COMMANDS:-}" ] && ARGS+=(--commands "$DIFFTEST_COMMANDS")
[ -n "${DIFFTEST_FAMILIES:-}" ] && ARGS+=(--families "$DIFFTEST_FAMILIES")
# shellcheck disable=SC2206
[ -n "${DIFFTEST_ARGS:-}" ] && ARGS+=(${DIFFTEST_ARGS})
echo "difftest/run.sh: A=$(basename "$BIN") (shards $SHARDS) on $PORT_A, B=redis-server on $PORT_B"
"$DIFFTEST" "${ARGS[@]}"
STATUS=$?
for n in a b; do
	if [ $n = a ]; then pid=$PID_A; else pid=$PID_B; fi
	if ! kill -0 "$pid" 2>/dev/null; then
		echo "difftest/run.sh: server $n died during the run; log tail:" >&2
		tail -20 "$TMP/$n/log" >&2
		[ $STATUS -eq 0 ] && STATUS=1
	fi
done
exit $STATUS
