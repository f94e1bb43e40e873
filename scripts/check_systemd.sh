#!/usr/bin/env bash
# Static checks of systemd/ferrocache.service: `systemd-analyze verify` must be silent and
# `systemd-analyze security --offline=yes` must rate the unit at or below MAX_EXPOSURE
# (default 2.0; 0 = most locked down, 10 = unprotected). Prints the exposure score.
# The unit's ExecStart binary (/usr/local/bin/ferrocache) is pointed at BIN (default
# target/release/ferrocache) in a temporary copy, so no installation is needed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

BIN="$(realpath "${BIN:-target/release/ferrocache}")"
MAX_EXPOSURE="${MAX_EXPOSURE:-2.0}"
[ -x "$BIN" ] || { echo "check_systemd.sh: $BIN missing; cargo build --release first" >&2; exit 1; }
command -v systemd-analyze >/dev/null || { echo "check_systemd.sh: systemd-analyze not installed" >&2; exit 1; }

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
sed "s#/usr/local/bin/ferrocache#$BIN#g" systemd/ferrocache.service > "$TMP/ferrocache.service"

echo "== systemd-analyze verify systemd/ferrocache.service"
if ! out="$(systemd-analyze verify "$TMP/ferrocache.service" 2>&1)"; then
    echo "$out"; echo "verify failed" >&2; exit 1
fi
# Messages about other units of this machine (not ours) are not our concern.
ours="$(printf '%s\n' "$out" | grep -i 'ferrocache' || true)"
if [ -n "$ours" ]; then
    echo "$ours"; echo "verify reported problems in ferrocache.service" >&2; exit 1
fi
echo "clean"

echo "== systemd-analyze security --offline=yes"
sec="$(systemd-analyze security --offline=yes --no-pager "$TMP/ferrocache.service" 2>&1 || true)"
line="$(printf '%s\n' "$sec" | grep 'Overall exposure level' || true)"
[ -n "$line" ] || { echo "$sec"; echo "no exposure score in the output" >&2; exit 1; }
echo "$line"
score="$(printf '%s\n' "$line" | sed -E 's/.*: ([0-9.]+).*/\1/')"
if awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s > m) }'; then
    echo "exposure $score above $MAX_EXPOSURE" >&2; exit 1
fi
