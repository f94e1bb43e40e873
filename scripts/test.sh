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

# memcached 1.6.45 for tests/differential_meta_new.rs (the meta flags added after 1.6.18),
# built once from the reference tarball (the build script caches it). Its tarball's
# autotools helpers are symlinks into automake's directory: install automake if missing.
if [ -z "${MEMCACHED_1645:-}" ]; then
    if [ ! -d /usr/share/automake-1.16 ] && ! command -v automake >/dev/null; then
        echo "== installing automake (memcached 1.6.45's build helpers)"
        $SUDO apt-get update
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y automake build-essential pkg-config libevent-dev
    fi
    echo "== memcached 1.6.45 (reference for the post-1.6.18 meta flags)"
    MEMCACHED_1645=$(bash "${MEMCACHED_1645_BUILD:-/work/shared/reference/build-memcached.sh}")
fi
export MEMCACHED_1645

# openssl for the TLS tests (scripts/tls-test-certs.sh makes their certificates; tests/tls.rs
# also talks to the server with `openssl s_client`).
if ! command -v openssl >/dev/null; then
    echo "== installing openssl (for the TLS tests)"
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y openssl
fi

# systemd-analyze for the unit checks (scripts/check_systemd.sh).
if ! command -v systemd-analyze >/dev/null; then
    echo "== installing systemd (for systemd-analyze)"
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y systemd
fi

# ip (iproute2) and nft for the fault suite (scripts/pool_faults.py: network namespaces and
# nft rules inside them).
if ! command -v nft >/dev/null || ! command -v ip >/dev/null; then
    echo "== installing nftables and iproute2 (for the fault suite)"
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y nftables iproute2
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
# (not --all-targets: benches/loadgen/ is a harness=false load generator)
cargo test

echo "== pytest tests/python (pymemcache, meta-memcache, bmemcached, pool example against target/release/ferrocache)"
FERROCACHE_BIN="$PWD/target/release/ferrocache" .venv/bin/python -m pytest -q tests/python

echo "== the Rust memcache crate's own tests against ferrocache (scripts/check_memcache_crate.sh)"
if ! dpkg -s libssl-dev pkg-config >/dev/null 2>&1; then
    echo "== installing libssl-dev and pkg-config (the memcache crate builds with OpenSSL)"
    $SUDO apt-get update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y libssl-dev pkg-config
fi
bash scripts/check_memcache_crate.sh target/release/ferrocache

echo "== memcached 1.6.45's own t/ files against ferrocache (scripts/memcached_t.sh)"
if ! command -v prove >/dev/null; then
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y perl
fi
# Files that pass whole. t/metaget.t (174 of 175) and t/cas.t expect 1.6.40's new replies to
# malformed commands, which ferrocache keeps at 1.6.18's (README, Compatibility).
bash scripts/memcached_t.sh -- t/binary.t t/stats-detail.t t/incrdecr.t t/noreply.t \
    t/flush-all.t t/getandtouch.t t/flags.t t/getset.t
bash scripts/memcached_t.sh --meta-protocol 1.6.45 -- t/lru-crawler.t

echo "== memcached-tool (Debian's) display/stats/settings/dump against ferrocache"
bash scripts/check_memcached_tool.sh

echo "== systemd unit: verify and security exposure"
bash scripts/check_systemd.sh

echo "== scripts/install.sh into a staging root"
STAGE="$(mktemp -d)"
bash scripts/install.sh --no-build --destdir "$STAGE"
for f in usr/local/bin/ferrocache etc/systemd/system/ferrocache.service etc/ferrocache/ferrocache.conf; do
    [ -s "$STAGE/$f" ] || { echo "install.sh did not install $f" >&2; exit 1; }
done
"$STAGE/usr/local/bin/ferrocache" --config-file "$STAGE/etc/ferrocache/ferrocache.conf" --check-config
rm -rf "$STAGE"

echo "== memory at -m 64 against memcached: scripts/memory_bound.sh (items held, peak RSS, the newest 1,000 writes read back, 100-byte and 10-4,000-byte values)"
bash scripts/memory_bound.sh --no-build

echo "== fault suite: scripts/pool_faults.py --quick (5 nodes, each in its own network namespace)"
if [ "$(id -u)" -ne 0 ]; then
    echo "error: the fault suite (scripts/pool_faults.py) needs root: it creates network namespaces," >&2
    echo "veth pairs and nft rules inside them. Run scripts/test.sh as root (CI does)." >&2
    exit 1
fi
if ! ip netns list >/dev/null 2>&1; then
    echo "error: the fault suite needs \`ip netns\` (network namespaces), which does not work here" >&2
    exit 1
fi
python3 scripts/pool_faults.py --quick --keep-logs target/pool_faults-logs

echo "== all tests passed"
