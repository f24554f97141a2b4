#!/bin/sh
# Runs the Common Test suites against real BEAM nodes and real C nodes, on
# 127.0.0.1 only. Starts epmd if it is not running (epmd -daemon is a no-op
# when one already runs). Extra arguments go to rebar3 ct (e.g. --suite).
set -eu
cd "$(dirname "$0")/.."
epmd -daemon
export SWARM_ROOT="$(pwd)"
exec rebar3 ct --name "ct_$$@127.0.0.1" --setcookie swarm_ct_cookie "$@"
