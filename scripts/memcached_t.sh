#!/usr/bin/env bash
# Run memcached's own test files (its t/*.t, from the 1.6.45 source tree) against ferrocache.
#
#   scripts/memcached_t.sh [ferrocache flags ...] -- t/binary.t [t/lru-crawler.t ...]
#   e.g. scripts/memcached_t.sh --meta-protocol 1.6.45 -- t/binary.t t/lru-crawler.t
#
# memcached's harness (t/lib/MemcachedTest.pm) starts `./memcached-debug` (through
# `./timedrun`) from the directory it runs in. This script copies the tree's t/ to a
# temporary directory, builds timedrun there, and writes a memcached-debug that execs
# ferrocache (FERRO_BIN, default target/release/ferrocache, built if missing) with the
# flags given before `--`, translating the options ferrocache spells differently:
#   -o relaxed_privileges   dropped (ferrocache drops no privilege it was not asked to, -u);
#   -o slab_chunk_max=N     N <= 1024 is in kilobytes since memcached 1.6.19 (1.6.18 and
#                           ferrocache read bytes): N*1024.
# The tree: MEMCACHED_SRC, else the directory of MEMCACHED_1645, else the reference build
# script's result (/work/shared/reference/build-memcached.sh). Needs perl and prove.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$(pwd)

flags=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
    flags+=("$1")
    shift
done
if [ $# -eq 0 ]; then
    echo "usage: $0 [ferrocache flags ...] -- t/FILE.t ..." >&2
    exit 64
fi
shift
if [ $# -eq 0 ]; then
    echo "$0: no test file given" >&2
    exit 64
fi

if [ -z "${MEMCACHED_SRC:-}" ]; then
    if [ -z "${MEMCACHED_1645:-}" ]; then
        MEMCACHED_1645=$(bash "${MEMCACHED_1645_BUILD:-/work/shared/reference/build-memcached.sh}")
    fi
    MEMCACHED_SRC=$(dirname "$MEMCACHED_1645")
fi
if [ ! -f "$MEMCACHED_SRC/t/lib/MemcachedTest.pm" ] || [ ! -f "$MEMCACHED_SRC/timedrun.c" ]; then
    echo "$0: $MEMCACHED_SRC is not a memcached source tree (t/lib, timedrun.c)" >&2
    exit 66
fi

bin=${FERRO_BIN:-$repo/target/release/ferrocache}
if [ ! -x "$bin" ]; then
    cargo build --release
fi

work=$(mktemp -d /tmp/memcached_t.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -r "$MEMCACHED_SRC/t" "$work/t"
cc -O1 -o "$work/timedrun" "$MEMCACHED_SRC/timedrun.c"

{
    echo '#!/usr/bin/env bash'
    echo '# Written by scripts/memcached_t.sh: memcached-debug for the harness is ferrocache.'
    printf 'bin=%q\n' "$bin"
    printf 'extra=('
    for f in ${flags[@]+"${flags[@]}"}; do
        printf '%q ' "$f"
    done
    printf ')\n'
    cat <<'EOF'
args=()
while [ $# -gt 0 ]; do
    if [ "$1" = "-o" ] && [ $# -ge 2 ]; then
        sub=$(printf '%s\n' "$2" | tr ',' '\n' | grep -v '^relaxed_privileges$' \
            | awk -F= '$1 == "slab_chunk_max" && $2 <= 1024 { print $1 "=" $2 * 1024; next } { print }' \
            | paste -sd, -)
        if [ -n "$sub" ]; then
            args+=(-o "$sub")
        fi
        shift 2
    else
        args+=("$1")
        shift
    fi
done
exec "$bin" ${extra[@]+"${extra[@]}"} "${args[@]}"
EOF
} >"$work/memcached-debug"
chmod +x "$work/memcached-debug"

tests=()
for t in "$@"; do
    tests+=("t/$(basename "$t")")
done
cd "$work"
# MEMCACHED_T_VERBOSE=1: every assertion (prove -v); by default failures and the summary.
if [ "${MEMCACHED_T_VERBOSE:-0}" = 1 ]; then
    prove -v "${tests[@]}"
else
    prove "${tests[@]}"
fi
