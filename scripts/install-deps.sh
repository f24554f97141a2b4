#!/bin/sh
# Installs, through apt-get, the Debian packages the build, the demo and the
# tests need, and only those that are missing. Run as root (or with sudo
# available). Idempotent: a machine that has everything runs no apt-get.
set -eu
PKGS="build-essential clang erlang-nox erlang-dev erlang-common-test erlang-eunit
erlang-dialyzer erlang-proper rebar3 elixir libuv1-dev libssl-dev libcunit1-dev
libpcre2-dev valgrind libclang-rt-14-dev iproute2 pkg-config procps"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "install-deps: installing:$missing"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
fi
