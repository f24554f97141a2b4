#!/bin/sh
# fuzz.sh - runs libFuzzer targets built by `make fuzz-build`, each for a
# bounded time on a copy of its seed corpus, and reports per target the
# executions and executions per second. Used by `make fuzz` and
# `make fuzz-smoke`.
#
#   scripts/fuzz.sh SECONDS TARGET...
#
# Each target first replays its past findings, test/fuzz/crashes/<target>-*
# (regressions: each must run clean). Work files go to
# build-fuzz/run/<target>/ (corpus copy, logs, artifacts): the repository's
# corpus is never written. Exits non-zero if any target
# crashed, leaked, hit a sanitizer report, a timeout (10 s per input) or
# the memory limit (2 GB), or ran out its time bound; the log of such a
# target is printed and the input that did it is left in
# build-fuzz/run/<target>/artifacts/.
set -u

if [ $# -lt 2 ]; then
    echo "usage: $0 SECONDS TARGET..." >&2
    exit 2
fi
secs=$1
shift
run=build-fuzz/run
fail=0

for t in "$@"; do
    bin=build-fuzz/fuzz/fuzz_$t
    dir=$run/$t
    rm -rf "$dir"
    mkdir -p "$dir/corpus" "$dir/artifacts"
    if [ -d "test/fuzz/corpus/$t" ]; then
        cp test/fuzz/corpus/"$t"/* "$dir/corpus/" 2>/dev/null
    fi
    crashes=$(ls test/fuzz/crashes/"$t"-* 2>/dev/null)
    if [ -n "$crashes" ]; then
        # shellcheck disable=SC2086
        if ! ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
            timeout -k 10 120 "$bin" -rss_limit_mb=2048 -timeout=10 -close_fd_mask=2 \
            $crashes >"$dir/replay.log" 2>&1; then
            printf '  FUZZ    %-20s FAILED: a past finding is back\n' "$t"
            tail -n 60 "$dir/replay.log"
            fail=1
            continue
        fi
    fi
    # -close_fd_mask=2: the node's log lines go to /dev/null, libFuzzer's
    # and the sanitizers' reports still reach the log. The outer timeout
    # is a last resort against a harness that does not return.
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        timeout -k 10 $((secs + 120)) "$bin" -max_total_time="$secs" -rss_limit_mb=2048 \
        -timeout=10 -close_fd_mask=2 -print_final_stats=1 \
        -artifact_prefix="$dir/artifacts/" "$dir/corpus" >"$dir/log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/log")
    found=$(ls "$dir/artifacts" | head -1)
    if [ $rc -ne 0 ] || [ -n "$found" ]; then
        printf '  FUZZ    %-20s FAILED (exit %s)%s\n' "$t" "$rc" \
            "${found:+, input: $dir/artifacts/$found}"
        tail -n 60 "$dir/log"
        fail=1
    else
        printf '  FUZZ    %-20s %10s execs %8s exec/s %5s s\n' "$t" "${execs:-?}" \
            "${rate:-?}" "$secs"
    fi
done
exit $fail
