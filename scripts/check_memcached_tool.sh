#!/usr/bin/env bash
# memcached-tool (from Debian's memcached package) against ferrocache: `display`, `stats`,
# `settings` and `dump`, then the dump replayed into a second ferrocache, which must then
# hold every key with its flags and value. Run by scripts/test.sh after the release build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BIN="${BIN:-target/release/ferrocache}"
MT="${MEMCACHED_TOOL:-/usr/share/memcached/scripts/memcached-tool}"
[ -x "$BIN" ] || { echo "check_memcached_tool.sh: $BIN missing" >&2; exit 1; }
[ -r "$MT" ] || { echo "check_memcached_tool.sh: $MT missing (apt-get install memcached)" >&2; exit 1; }
N=300

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() {
    for _ in $(seq 1 100); do
        if printf 'version\r\n' | timeout 2 nc -q1 127.0.0.1 "$1" 2>/dev/null | grep -q '^VERSION'; then return 0; fi
        sleep 0.05
    done
    echo "ferrocache on port $1 did not start" >&2; exit 1
}
fail() { echo "memcached-tool check failed: $*" >&2; exit 1; }

P1="$(free_port)"; P2="$(free_port)"
"$BIN" -p "$P1" -l 127.0.0.1 2>/dev/null & PID1=$!
"$BIN" -p "$P2" -l 127.0.0.1 2>/dev/null & PID2=$!
trap 'kill $PID1 $PID2 2>/dev/null || true' EXIT
wait_port "$P1"; wait_port "$P2"

# N items of a few sizes, some with a TTL, flags = i.
stored="$(for i in $(seq 1 "$N"); do
    v="value-$i-$(printf '%*s' $((i % 50)) '' | tr ' ' x)"
    printf 'set tool:%d %d %d %d\r\n%s\r\n' "$i" "$i" $(( i % 3 == 0 ? 3600 : 0 )) "${#v}" "$v"
done | timeout 10 nc -q1 127.0.0.1 "$P1" | grep -c '^STORED' || true)"
[ "$stored" = "$N" ] || fail "stored $stored of $N"

echo "== memcached-tool display"
out="$(timeout 10 perl "$MT" "127.0.0.1:$P1" display)"
echo "$out"
echo "$out" | head -1 | grep -q 'Item_Size' || fail "display header"
total="$(echo "$out" | awk 'NR > 1 { n += $5 } END { print n + 0 }')"
[ "$total" = "$N" ] || fail "display counts $total items, expected $N"

echo "== memcached-tool stats"
out="$(timeout 10 perl "$MT" "127.0.0.1:$P1" stats | tr -d '\r')"
echo "$out" | grep -E '^ +curr_items +[0-9]+$' | grep -q " $N\$" || fail "stats curr_items"
echo "$out" | grep -qE '^ +version +1\.6\.18' || fail "stats version"
echo "$out" | grep -E 'curr_items|version|limit_maxbytes'

echo "== memcached-tool settings"
out="$(timeout 10 perl "$MT" "127.0.0.1:$P1" settings | tr -d '\r')"
echo "$out" | grep -qE '^ +maxbytes +67108864$' || fail "settings maxbytes"
echo "$out" | grep -qE '^ +tcpport +'"$P1"'$' || fail "settings tcpport"
echo "$out" | grep -E 'maxbytes|tcpport|num_threads'

echo "== memcached-tool dump | nc (second instance)"
dump="$(timeout 20 perl "$MT" "127.0.0.1:$P1" dump 2>/dev/null)"
adds="$(echo "$dump" | grep -c '^add ' || true)"
[ "$adds" = "$N" ] || fail "dump has $adds add commands, expected $N"
restored="$(printf '%s\r\n' "$dump" | sed 's/\r*$/\r/' | timeout 20 nc -q1 127.0.0.1 "$P2" | grep -c '^STORED' || true)"
[ "$restored" = "$N" ] || fail "replaying the dump stored $restored of $N"
for i in 1 2 3 150 "$N"; do
    v="value-$i-$(printf '%*s' $((i % 50)) '' | tr ' ' x)"
    want="$(printf 'VALUE tool:%d %d %d\r\n%s\r\nEND\r\n' "$i" "$i" "${#v}" "$v")"
    got="$(printf 'get tool:%d\r\n' "$i" | timeout 5 nc -q1 127.0.0.1 "$P2")"
    [ "$got" = "$want" ] || fail "tool:$i after restore: $(printf '%q' "$got")"
done
echo "memcached-tool display/stats/settings/dump: OK ($N items dumped and restored)"
