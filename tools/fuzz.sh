#!/usr/bin/env bash
# Build the libFuzzer targets with clang (ASan+UBSan) and run each for a
# bounded time; fails if any target finds a crash, leak, timeout or
# sanitizer report. tools/test.sh runs it as one step of CI.
#
#   tools/fuzz.sh [TARGET...]        default: every target below
#
# Environment:
#   FUZZ_SECONDS  time per target (default 60)
#   FUZZ_BUILD    build directory (default build-fuzz)
#   FUZZ_ARGS     extra libFuzzer flags (e.g. -jobs=1 -print_pcs=1)
#
# Targets: fuzz_rdb (RDB file loader), fuzz_dump (RESTORE payloads),
# fuzz_aof (AOF manifest, validator and replay reader), fuzz_netstack
# (frames into one TCP/IP stack instance). Seeds: fuzz/corpus/<target>/,
# read only; what a run discovers goes to $FUZZ_BUILD/fuzz-corpus/<target>/
# (kept between runs of the same build dir), and a crashing input to
# $FUZZ_BUILD/fuzz-artifacts/<target>/, which the failure message names.
# Reproduce one with: $FUZZ_BUILD/fuzz/<target> <artifact>.
set -uo pipefail
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-60}
build=${FUZZ_BUILD:-build-fuzz}
extra=${FUZZ_ARGS:-}
declare -A path=(
	[fuzz_rdb]=fuzz/fuzz_rdb
	[fuzz_dump]=fuzz/fuzz_dump
	[fuzz_aof]=fuzz/fuzz_aof
	[fuzz_netstack]=dataplane/stack/fuzz_netstack
)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(fuzz_rdb fuzz_dump fuzz_aof fuzz_netstack)
for t in "${targets[@]}"; do
	[ -n "${path[$t]:-}" ] || { echo "fuzz: unknown target $t" >&2; exit 2; }
done

# clang and its runtime libraries (libFuzzer, sanitizers: Debian 12 has
# them in libclang-rt-14-dev, only recommended by clang).
tools/deps.sh --fuzz || exit 1

if [ ! -d "$build" ]; then
	CC=clang meson setup "$build" -Dfuzz=true -Db_sanitize=address,undefined \
		-Djemalloc=false --buildtype=debugoptimized || exit 1
fi
ninja_targets=()
for t in "${targets[@]}"; do ninja_targets+=("${path[$t]}"); done
ninja -C "$build" -j "$(nproc)" "${ninja_targets[@]}" || exit 1

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export LSAN_OPTIONS="suppressions=$(pwd)/tests/lsan.supp:print_suppressions=0"
fail=0
summary=()
for t in "${targets[@]}"; do
	work="$build/fuzz-corpus/$t"
	art="$build/fuzz-artifacts/$t"
	mkdir -p "$work" "$art"
	seeds=()
	[ -d "fuzz/corpus/$t" ] && seeds=("fuzz/corpus/$t")
	log="$build/fuzz-$t.log"
	echo "fuzz: $t for ${secs}s (log: $log)"
	# libFuzzer stops itself at max_total_time; the outer timeout only
	# catches a hang outside an input (start-up, corpus loading).
	# shellcheck disable=SC2086
	timeout -k 10 $((secs + 120)) "$build/${path[$t]}" -max_total_time="$secs" -timeout=10 \
		-rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 -artifact_prefix="$art/" \
		$extra "$work" "${seeds[@]}" >"$log" 2>&1
	rc=$?
	stats=$(grep -E '^#[0-9]+.*DONE' "$log" | tail -1)
	[ -z "$stats" ] && stats=$(grep -E '^#[0-9]+' "$log" | tail -1)
	if [ $rc -ne 0 ]; then
		fail=1
		echo "fuzz: $t FAILED (exit $rc); last lines of $log:" >&2
		tail -40 "$log" >&2
		ls "$art" >&2
		summary+=("$t: FAILED (exit $rc) $stats")
	else
		summary+=("$t: ok $stats")
	fi
done
printf 'fuzz: %s\n' "${summary[@]}"
exit $fail
