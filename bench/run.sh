#!/bin/sh
# The benchmark (`make bench`): swarm against OTP's global on a local cluster
# of 3 BEAM nodes (each with its C node) on 127.0.0.1, driven by a hidden
# coordinator node. The module is compiled into a temporary directory, never
# into the application's ebin. Report: stdout and bench/results/latest.txt.
# Knobs (environment): SWARM_BENCH_N, SWARM_BENCH_GLOBAL_N, SWARM_BENCH_GLOBAL_N1,
# SWARM_BENCH_REPS, SWARM_BENCH_OUT (see bench/swarm_bench.erl).
set -eu
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
EBIN="$ROOT/_build/default/lib/swarm/ebin"
if [ ! -f "$EBIN/swarm.beam" ] || [ ! -x "$ROOT/priv/swarm_node" ]; then
    echo "bench: build first (make)" >&2
    exit 1
fi
epmd -daemon
TMP="$(mktemp -d "${TMPDIR:-/tmp}/swarm_bench.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM
erlc -o "$TMP" "$ROOT/bench/bench_lib.erl"  # helpers shared by the benchmarks
erlc -o "$TMP" -I "$ROOT/include" "$ROOT/bench/swarm_bench.erl"
mkdir -p "$ROOT/bench/results"
: "${SWARM_BENCH_OUT:=$ROOT/bench/results/latest.txt}"
export SWARM_BENCH_OUT
erl -noshell -hidden -name "swarm_bench_$$@127.0.0.1" -setcookie "swarm_bench_$$" \
    -pa "$EBIN" -pa "$TMP" -eval 'swarm_bench:main().'
# Then the placement benchmark (bench/placement_bench.erl):
# register_name/4 starts per second, and the restart of a stopped node's
# names on the survivors, with register_name/2 and global as baselines; on a
# fresh cluster of its own. Its report is appended to the same file.
# Knobs: SWARM_PLACEMENT_N, SWARM_PLACEMENT_GLOBAL_N, SWARM_PLACEMENT_REPS,
# SWARM_PLACEMENT_FAILOVER_REPS, SWARM_PLACEMENT_PROFILE, SWARM_PLACEMENT_ERL_ARGS.
erlc -o "$TMP" -I "$ROOT/include" "$ROOT/bench/placement_bench.erl"
erl -noshell -hidden -name "placement_bench_$$@127.0.0.1" -setcookie "placement_bench_$$" \
    -pa "$EBIN" -pa "$TMP" -eval 'placement_bench:main().'
# Then the process groups benchmark (bench/groups_bench.erl):
# join/2 per second (1 and 8 callers), time until every node lists the
# members, members/1, publish/2 and multi_call/3 of 10k members, memory per
# membership, against OTP's pg in the same run; on a fresh cluster of its
# own. Its report is appended to the same file.
# Knobs: SWARM_GROUPS_BENCH_N, SWARM_GROUPS_BENCH_MEM_N, SWARM_GROUPS_BENCH_ERL_ARGS,
# SWARM_GROUPS_BENCH_OUT.
erlc -o "$TMP" -I "$ROOT/include" "$ROOT/bench/groups_bench.erl"
erl -noshell -hidden -name "groups_bench_$$@127.0.0.1" -setcookie "groups_bench_$$" \
    -pa "$EBIN" -pa "$TMP" -eval 'groups_bench:main().'
# Then the connection churn benchmark (bench/conn_churn_bench.erl):
# a C node's RSS before and after 1,000 distinct nodes connect, ask once and
# leave (hand-written distribution clients, test/swarm_rawdist.erl), on a
# node of its own. Its report is appended to the same file.
# Knobs: SWARM_CHURN_N, SWARM_CHURN_NAMES.
erlc -o "$TMP" "$ROOT/test/swarm_rawdist.erl"
erlc -o "$TMP" "$ROOT/bench/conn_churn_bench.erl"
erl -noshell -hidden -name "conn_churn_bench_$$@127.0.0.1" -setcookie "conn_churn_bench_$$" \
    -pa "$EBIN" -pa "$TMP" -eval 'conn_churn_bench:main().'
# Then the C host benchmark (bench/host_bench.erl): via calls to C workers of
# a C host (priv/sensor_host) against GenServers on another BEAM node, 1 and
# 8 callers on one node, 8 over two, with the CPU per call of each side, and
# the memory of an idle C worker against an idle GenServer;
# on a fresh cluster of its own. Its report is appended to the same file.
# Knobs: SWARM_HOST_BENCH_CALLS, SWARM_HOST_BENCH_ROUNDS, SWARM_HOST_BENCH_MEM_N.
erlc -o "$TMP" "$ROOT/bench/host_bench.erl"
erl -noshell -hidden -name "host_bench_$$@127.0.0.1" -setcookie "host_bench_$$" \
    -pa "$EBIN" -pa "$TMP" -eval 'host_bench:main().'
# Then the topology-change benchmark (bench/lifecycle_bench.erl): a fourth
# node joining 10k register_name/4 names, and graceful stops (SIGTERM) of
# nodes holding a quarter and a third of them, until every process runs on
# its owner with its state; on a fresh cluster of its own (it uses
# placement_bench's cluster start). Its report is appended to the same file.
# Knobs: SWARM_LIFECYCLE_N.
erlc -o "$TMP" "$ROOT/bench/lifecycle_bench.erl"
erl -noshell -hidden -name "lifecycle_bench_$$@127.0.0.1" -setcookie "lifecycle_bench_$$" \
    -pa "$EBIN" -pa "$TMP" -eval 'lifecycle_bench:main().'
# Then the partition benchmark (bench/partition_bench.erl): time from the
# heal of a 2|1 network partition (3 nodes in network namespaces, links cut
# with blackhole routes; needs root, else it says so and is skipped) until
# every node agrees on one process per name, 10k register_name/4 names.
# Its report is appended to the same file.
# Knobs: SWARM_PARTITION_N, SWARM_PARTITION_REPS, SWARM_PARTITION_POLL_MS.
erlc -o "$TMP" "$ROOT/test/swarm_netns.erl"
erlc -o "$TMP" "$ROOT/bench/partition_bench.erl"
erl -noshell -hidden -name "partition_bench_$$@127.0.0.1" -setcookie "partition_bench_$$" \
    -pa "$EBIN" -pa "$TMP" -eval 'partition_bench:main().'
