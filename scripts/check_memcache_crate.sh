#!/usr/bin/env bash
# Run the integration tests of the Rust `memcache` crate (a client that uses the newest meta
# flags, e.g. `mg ... C<cas>` conditional fetches) against ferrocache, unchanged: the crate's
# own `tests/setup_tests.sh` starts memcached 1.6.45 on fixed ports; this script starts
# ferrocache on the same ports, sockets and certificates instead, then runs `cargo test` in a
# copy of the crate (its unit tests, its tests/ directory, and the async tests with the
# `tokio` feature), one test at a time. Exit status: that of the tests.
#
#   bash scripts/check_memcache_crate.sh [path/to/ferrocache]
#
# Needs the ports 12345-12351 (TCP) and 22345 (UDP) free, and /tmp/memcached.sock and
# /tmp/memcached2.sock unused (the crate's tests hard-code them). Builds the crate with
# OpenSSL (its default `tls` feature): libssl-dev and pkg-config.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN="$(realpath "${1:-target/release/ferrocache}")"
VERSION="0.21.0"
# ferrocache answers the meta flags added after 1.6.18 as memcached 1.6.45 does when asked.
FLAGS=(--meta-protocol 1.6.45)
if [ "$(id -u)" -eq 0 ]; then
    FLAGS+=(-u root)
fi

WORK="$(mktemp -d)"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    rm -f /tmp/memcached.sock /tmp/memcached2.sock
    rm -rf "$WORK"
}
trap cleanup EXIT

# The crate's source (with its tests/) from crates.io, through cargo's own download.
mkdir -p "$WORK/fetch/src"
cat >"$WORK/fetch/Cargo.toml" <<EOF
[package]
name = "fetch-memcache"
version = "0.0.0"
edition = "2021"
[dependencies]
memcache = "=$VERSION"
EOF
touch "$WORK/fetch/src/lib.rs"
(cd "$WORK/fetch" && cargo fetch --quiet)
SRC="$(find "${CARGO_HOME:-$HOME/.cargo}/registry/src" -maxdepth 2 -type d -name "memcache-$VERSION" | head -n 1)"
[ -n "$SRC" ] || { echo "memcache-$VERSION source not found after cargo fetch" >&2; exit 1; }
cp -a "$SRC" "$WORK/crate"
ASSETS="$WORK/crate/tests/assets"

for port in 12345 12346 12347 12348 12349 12350 12351; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "port $port is in use: the memcache crate's tests need it" >&2
        exit 1
    fi
done
rm -f /tmp/memcached.sock /tmp/memcached2.sock

start() {
    "$BIN" "${FLAGS[@]}" "$@" >>"$WORK/servers.log" 2>&1 &
    PIDS+=("$!")
}
# As the crate's tests/setup_tests.sh starts memcached.
for port in 12345 12346 12347 12348 12349; do
    start -p "$port" -U 0
done
start -p 12350 -U 0 --enable-ssl -o "ssl_key=$ASSETS/localhost.key,ssl_chain_cert=$ASSETS/localhost.crt"
start -p 12351 -U 0 --enable-ssl -o "ssl_key=$ASSETS/localhost.key,ssl_chain_cert=$ASSETS/localhost.crt,ssl_verify_mode=2,ssl_ca_cert=$ASSETS/RUST_MEMCACHE_TEST_CERT.crt"
start -p 0 -U 22345
start -s /tmp/memcached.sock
start -s /tmp/memcached2.sock

# Wait (bounded) until every server answers.
for _ in $(seq 1 100); do
    up=0
    for port in 12345 12346 12347 12348 12349 12350 12351; do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && up=$((up + 1))
    done
    [ -S /tmp/memcached.sock ] && up=$((up + 1))
    [ -S /tmp/memcached2.sock ] && up=$((up + 1))
    [ "$up" -eq 9 ] && break
    sleep 0.1
done
if [ "$up" -ne 9 ]; then
    echo "ferrocache servers did not all start:" >&2
    cat "$WORK/servers.log" >&2
    exit 1
fi

cd "$WORK/crate"
# One test at a time: the crate's tests (its doctests too) share the servers, and many end
# with a `flush_all` that would empty them under a test running in parallel.
echo "== memcache $VERSION: cargo test (unit tests, tests/ and doctests)"
cargo test --quiet --no-fail-fast -- --test-threads=1
echo "== memcache $VERSION: async tests (feature tokio)"
cargo test --quiet --no-fail-fast --features tokio --test test_async_memcache -- --test-threads=1
echo "== memcache $VERSION: all tests passed against $BIN"
