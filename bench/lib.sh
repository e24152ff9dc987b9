# shellcheck shell=bash disable=SC2034  # variables here are read by the sourcing script
# bench/lib.sh: process, port and server plumbing shared by bench/compare and
# bench/memory.  Sourced, never run.  The sourcing script sets, before calling
# anything here:
#   PROG                 name used in messages
#   PORT_MIN, PORT_MAX   the only ports it may bind
#   TMP                  its scratch directory (server logs go there)
#   KEEP_TMP             1 to keep TMP on success
#   SERVER, SERVER_KIND  keyrail binary; "redis" runs redis-server in the
#                        keyrail slots (to work on the scripts themselves)
# and calls bench_install_traps once TMP exists.
#
# Every process started here is recorded and ended by the EXIT/INT/TERM trap
# (SIGTERM, SIGKILL after 5 s); nothing is ever killed by name.

die() { echo "$PROG: error: $*" >&2; exit 1; }
log() { echo "$PROG: $*" >&2; }
is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }

declare -a STARTED_PIDS=()
CHILD_PID=""

kill_pid() {
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid ignored SIGTERM for 5 s, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

bench_cleanup() {
    local rc=$? pid
    trap - EXIT INT TERM HUP
    if [ -n "$CHILD_PID" ]; then kill_pid "$CHILD_PID"; fi
    for pid in "${STARTED_PIDS[@]}"; do kill_pid "$pid"; done
    if [ "$KEEP_TMP" = 1 ] || [ "$rc" != 0 ]; then
        log "scratch files kept in $TMP"
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}

bench_install_traps() {
    trap bench_cleanup EXIT
    trap 'log "interrupted"; exit 130' INT
    trap 'log "terminated"; exit 143' TERM HUP
}

# run_child TIMEOUT_S OUTFILE ERRFILE CMD...: runs CMD in the background and
# waits for it, so an INT/TERM reaches the trap at once instead of after the
# child finishes.  Returns CMD's status (124 on timeout).  OUTFILE may be a
# FIFO; "-" for ERRFILE keeps stderr.
run_child() {
    local tmo=$1 out=$2 err=$3 rc=0
    shift 3
    if [ "$err" = - ]; then
        timeout --kill-after=5 "$tmo" "$@" >"$out" &
    else
        timeout --kill-after=5 "$tmo" "$@" >"$out" 2>"$err" &
    fi
    CHILD_PID=$!
    wait "$CHILD_PID" || rc=$?
    CHILD_PID=""
    return "$rc"
}

NEXT_PORT=""
PICKED_PORT=""
# Sets PICKED_PORT, handing out ports round-robin over the range so a port
# that was just closed is not reused at once; skips any port something else
# listens on.  Not called in a subshell: NEXT_PORT must advance.
pick_port() {
    local tries=0 p
    [ -n "$NEXT_PORT" ] || NEXT_PORT=$PORT_MIN
    while [ $tries -le $((PORT_MAX - PORT_MIN)) ]; do
        p=$NEXT_PORT
        NEXT_PORT=$((NEXT_PORT + 1))
        [ $NEXT_PORT -le $PORT_MAX ] || NEXT_PORT=$PORT_MIN
        tries=$((tries + 1))
        if [ -z "$(ss -Htln "( sport = :$p )" 2>/dev/null)" ]; then
            PICKED_PORT=$p
            return 0
        fi
    done
    die "no free port in $PORT_MIN-$PORT_MAX"
}

ping_ok() {
    [ "$(timeout 2 redis-cli -h 127.0.0.1 -p "$1" PING 2>/dev/null)" = PONG ]
}

# server_cmd NAME PORT: prints the command line (one word per line) for the
# server configuration NAME: redis, or keyrail-S for keyrail --shards S.
server_cmd() {
    local name=$1 port=$2 shards
    case "$name" in
        redis) shards=0 ;;
        keyrail-[1-9]|keyrail-[1-9][0-9]) shards=${name#keyrail-} ;;
        *) die "internal: unknown server $name" ;;
    esac
    if [ "$shards" = 0 ] || [ "$SERVER_KIND" = redis ]; then
        printf '%s\n' redis-server --port "$port" --bind 127.0.0.1 --save "" \
            --appendonly no --daemonize no --dir "$TMP"
    else
        printf '%s\n' "$SERVER" --port "$port" --shards "$shards" --bind 127.0.0.1 --save ""
    fi
}

# The command line as a reader would type it (for reports).
server_cmd_shown() {
    server_cmd "$1" PORT | tr '\n' ' ' | sed -e 's/--save  /--save "" /' -e "s|$TMP|SCRATCH_DIR|" -e 's/ *$//'
}

SRV_PID=""
SRV_PORT=""
SRV_LOG=""

# start_server NAME [wrapper args...]: starts one server on a free port and
# waits until it answers PING.  Dies with the log tail if it exits or stays
# silent.  Sets SRV_PID, SRV_PORT, SRV_LOG.
start_server() {
    local name=$1 port wait_s i
    shift
    local -a cmd=() pre=("$@")
    pick_port
    port=$PICKED_PORT
    mapfile -t cmd < <(server_cmd "$name" "$port")
    SRV_LOG="$TMP/$name.$port.log"
    wait_s=15
    [ ${#pre[@]} -eq 0 ] || wait_s=120
    echo "+ ${pre[*]} ${cmd[*]}" >"$SRV_LOG"
    # exec keeps the server's pid equal to the pid we record, so
    # /proc/PID/stat and callgrind_control address the server itself.
    ( exec "${pre[@]}" "${cmd[@]}" ) >>"$SRV_LOG" 2>&1 </dev/null &
    SRV_PID=$!
    STARTED_PIDS+=("$SRV_PID")
    SRV_PORT=$port
    for i in $(seq $((wait_s * 10))); do
        if ! kill -0 "$SRV_PID" 2>/dev/null; then
            wait "$SRV_PID" 2>/dev/null || true
            tail -n 20 "$SRV_LOG" >&2
            die "$name exited during startup (command: ${cmd[*]})"
        fi
        if ping_ok "$port"; then return 0; fi
        sleep 0.1
    done
    tail -n 20 "$SRV_LOG" >&2
    die "$name did not answer PING on 127.0.0.1:$port within ${wait_s} s"
}

stop_server() {
    local pid=$SRV_PID i keep=()
    [ -n "$pid" ] || return 0
    kill_pid "$pid"
    for i in "${STARTED_PIDS[@]}"; do [ "$i" = "$pid" ] || keep+=("$i"); done
    STARTED_PIDS=("${keep[@]+"${keep[@]}"}")
    SRV_PID=""
}

server_alive() {
    kill -0 "$SRV_PID" 2>/dev/null
}

# Server CPU time (utime + stime of the whole process, all threads) in clock
# ticks.  Fields are counted after the ")" closing comm, which may hold spaces.
cpu_ticks() {
    local stat f
    stat=$(cat "/proc/$1/stat") || die "server pid $1 vanished"
    # f[0] is field 3 (state); utime and stime are fields 14 and 15.
    read -r -a f <<<"${stat##*) }"
    echo $(( f[11] + f[12] ))
}

# The repository's commit, marked when the tree has uncommitted changes.
repo_commit() {
    local root=$1 c
    if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
        c=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo "no commit")
        if [ -n "$(git -C "$root" --no-optional-locks status --porcelain --untracked-files=no 2>/dev/null)" ]; then
            c="$c (working tree has uncommitted changes)"
        fi
        echo "$c"
    else
        echo "unknown (not a git checkout)"
    fi
}

# "PATH (built DATE)": the commit below is HEAD when the report is written,
# which need not be what the binary was built from; its mtime tells.
binary_desc() {
    echo "$1 (built $(date -u -r "$1" '+%Y-%m-%d %H:%M UTC'))"
}
