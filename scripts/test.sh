#!/usr/bin/env bash
# Run every test of ferrocache: cargo tests (integration tests start the real binary; the
# differential test also starts Debian's memcached) and the pymemcache client tests.
# Installs what is missing on a fresh Debian machine. Exits non-zero on any failure.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

# Reference memcached for the differential test (and tools handy for debugging).
if [ ! -x /usr/bin/memcached ]; then
    echo "== installing memcached"
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y memcached libmemcached-tools netcat-openbsd
    # apt may start a system memcached on 11211; the tests do not need it.
    $SUDO service memcached stop >/dev/null 2>&1 || true
fi

# Python venv with the client library under test.
PY_PACKAGES="pymemcache pytest meta-memcache elasticache-auto-discovery python-binary-memcached"
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import pymemcache, pytest, meta_memcache, elasticache_auto_discovery, bmemcached' 2>/dev/null; then
    echo "== creating .venv with $PY_PACKAGES"
    if ! python3 -m venv .venv 2>/dev/null; then
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y python3-venv python3-pip
        python3 -m venv .venv
    fi
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet $PY_PACKAGES
fi

echo "== cargo build --release"
cargo build --release

echo "== cargo test (lib, bins, integration tests incl. the differential test against memcached)"
# (not --all-targets: benches/loadgen.rs is a harness=false load generator)
cargo test

echo "== pytest tests/python (pymemcache, meta-memcache, bmemcached, pool example against target/release/ferrocache)"
FERROCACHE_BIN="$PWD/target/release/ferrocache" .venv/bin/python -m pytest -q tests/python

echo "== all tests passed"
