#!/bin/sh
# The demo: a local cluster of 3 BEAM nodes, each with its C node; workers
# registered through {via, swarm, Name}, called from other nodes; a node
# stopped and its names gone from the others. Loopback only.
set -eu
cd "$(dirname "$0")/.."
epmd -daemon
EBIN="$(pwd)/_build/default/lib/swarm/ebin"
exec erl -noshell -name "demo_$$@127.0.0.1" -setcookie swarm_demo -pa "$EBIN" \
    -pa "$(pwd)/_build/default/lib/swarm/test" -eval 'swarm_demo:main(), halt().'
