#!/bin/sh
# The peers benchmark (`make bench-peers`): swarm in C (exact and optimistic
# registration), Swarm 3.4 and syn 3 on four fresh local clusters of 3 BEAM
# nodes on 127.0.0.1, measured in the same run (bench/peers_bench.erl).
# Not part of `make bench` nor `make test`.
#
# SWARM_PEERS_DIR (required): a directory with Swarm 3.4 and syn 3 built
# from their public sources by the user, one <app>/ebin per application
# (.beam files and the .app file): swarm (Swarm 3.4.0), libring,
# gen_state_machine, elixir and logger (Elixir's own, e.g. symlinks to the
# installed ones), syn (3.x).
# Knobs: SWARM_PEERS_N, SWARM_PEERS_REPS, SWARM_PEERS_REPL_N,
# SWARM_PEERS_JOIN_N, SWARM_PEERS_OUT (see bench/peers_bench.erl).
# Report: stdout and bench/results/peers-latest.txt.
set -eu
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
EBIN="$ROOT/_build/default/lib/swarm/ebin"
if [ -z "${SWARM_PEERS_DIR:-}" ]; then
    echo "bench-peers: set SWARM_PEERS_DIR to the directory holding Swarm 3.4's and syn 3's" \
         "builds (swarm, libring, gen_state_machine, elixir, logger, syn: each with ebin/)" >&2
    exit 2
fi
if [ ! -d "$SWARM_PEERS_DIR" ]; then
    echo "bench-peers: SWARM_PEERS_DIR=$SWARM_PEERS_DIR is not a directory" >&2
    exit 2
fi
if [ ! -f "$EBIN/swarm.beam" ] || [ ! -x "$ROOT/priv/swarm_node" ]; then
    echo "bench-peers: build first (make)" >&2
    exit 1
fi
epmd -daemon
TMP="$(mktemp -d "${TMPDIR:-/tmp}/peers_bench.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT TERM
erlc -o "$TMP" "$ROOT/bench/bench_lib.erl"
erlc -o "$TMP" "$ROOT/bench/peers_bench.erl"
mkdir -p "$ROOT/bench/results"
: "${SWARM_PEERS_OUT:=$ROOT/bench/results/peers-latest.txt}"
SWARM_PEERS_DIR="$(cd "$SWARM_PEERS_DIR" && pwd)"
SWARM_PEERS_OURS_EBIN="$EBIN"
export SWARM_PEERS_OUT SWARM_PEERS_DIR SWARM_PEERS_OURS_EBIN
# The coordinator's code path holds only the benchmark: each cluster gets
# its own (Swarm 3.4's application is also called swarm).
erl -noshell -hidden -name "peers_bench_$$@127.0.0.1" -setcookie "peers_bench_$$" \
    -pa "$TMP" -eval 'peers_bench:main().'
