#!/usr/bin/env bash
# Install dependencies, build keyrail twice (release, and ASan+UBSan), and
# run the unit, integration and dpdk suites (integration includes the
# differential test against Debian's redis-server) on both builds, then
# the libFuzzer targets for a bounded time (tools/fuzz.sh, clang).
# Ends with one summary line: "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh || exit 1
jobs=$(nproc)
fail=0
total_pass=0
total_fail=0
run_build() {
	local dir=$1; shift
	if [ ! -d "$dir" ]; then
		meson setup "$dir" "$@" || return 1
	fi
	ninja -C "$dir" -j "$jobs" || return 1
	# One test program at a time: each starts real servers and uses both CPUs.
	meson test -C "$dir" --suite unit --suite integration --suite dpdk --num-processes 1 \
		--print-errorlogs --no-stdsplit
	local rc=$?
	local counts
	counts=$(python3 - "$dir/meson-logs/testlog.json" <<'PY'
import json, sys
p = f = 0
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("result") in ("OK", "EXPECTEDFAIL", "SKIP"):
        p += 1
    else:
        f += 1
print(p, f)
PY
)
	total_pass=$((total_pass + ${counts% *}))
	total_fail=$((total_fail + ${counts#* }))
	return $rc
}
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export LSAN_OPTIONS="suppressions=$(pwd)/tests/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
run_build build --buildtype=release || fail=1
run_build build-asan --buildtype=debugoptimized -Db_sanitize=address,undefined -Djemalloc=false || fail=1
# libFuzzer targets (RDB, DUMP, AOF loaders; TCP stack), each for a bounded
# time (FUZZ_SECONDS, default 60): one pass or fail in the summary.
if tools/fuzz.sh; then
	total_pass=$((total_pass + 1))
else
	total_fail=$((total_fail + 1))
	fail=1
fi
[ $fail -ne 0 ] && [ $total_fail -eq 0 ] && total_fail=1
echo "$total_pass passed, $total_fail failed"
exit $fail
