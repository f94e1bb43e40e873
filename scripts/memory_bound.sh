#!/usr/bin/env bash
# Memory bound and memory efficiency: ferrocache vs memcached at `-m 64`.
#
# For each workload and each server (started fresh with `-m 64 -I 1m -t 4`), writes FILL
# bytes of values (default 1 GiB) under unique keys (`k` + 9 digits, 10 bytes) over the text
# protocol with pipelined sets (benches/loadgen/ --fill), then reads `stats`
# (curr_items, evictions, bytes, limit_maxbytes) and the server's VmRSS / VmHWM, and reads
# back the last VERIFY keys written (each value checked byte for byte).
#
# Workloads: small = 100-byte values (~10.7M sets), mixed = sizes uniform in 10..4000 bytes,
# tiny = 1-byte values (not in the default list: use it with a smaller --fill, e.g. 5m).
#
# PASS/FAIL for ferrocache, per workload:
#   - peak RSS (VmHWM) <= 64 MiB * 1.25 + 16 MiB = 96 MiB
#   - items held >= 0.90 x memcached's
#   - every one of the last VERIFY keys reads back with the right value
#   - the fill finishes within TIMEOUT seconds (a stalled server is a FAIL)
# not_stor counts sets answered with anything but STORED (memcached can answer
# `SERVER_ERROR out of memory storing object` under heavy eviction); reported, not checked.
# Exit status 1 if any check failed (2 on a setup error). With `--servers memcached` only the
# figures are printed.
#
# usage: scripts/memory_bound.sh [--servers "memcached ferrocache"] [--workloads "small mixed"]
#            [--fill BYTES] [--timeout SECS] [--verify N] [--no-build]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/bench_lib.sh
source "$ROOT/scripts/bench_lib.sh"

MEM_MB=64
SERVERS="memcached ferrocache"
WORKLOADS="small mixed"
FILL=1g
TIMEOUT=120
VERIFY=1000
BUILD=1
RSS_BOUND_KB=$(((MEM_MB * 1024 * 5 / 4) + 16 * 1024))
MIN_ITEM_RATIO=0.90

while (($#)); do
  case $1 in
    --servers) SERVERS=$2; shift 2 ;;
    --workloads) WORKLOADS=$2; shift 2 ;;
    --fill) FILL=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --verify) VERIFY=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) bl_die "unknown argument $1 (see --help)" ;;
  esac
done

bl_prepare "$SERVERS" "$BUILD"

workload_args() {
  case $1 in
    small) echo "--value-size 100" ;;
    mixed) echo "--value-min 10 --value-max 4000" ;;
    tiny) echo "--value-size 1" ;;
    *) bl_die "unknown workload $1" ;;
  esac
}

FAILS=0
pass() { echo "PASS: $*"; }
fail() {
  echo "FAIL: $*"
  FAILS=$((FAILS + 1))
}

declare -A ITEMS HWM
echo "servers: -m $MEM_MB -I 1m -t 4 | fill $FILL of values per workload, pipelined sets," \
  "timeout ${TIMEOUT}s | RSS bound $((RSS_BOUND_KB / 1024)) MiB"
printf '%-6s %-10s %9s %8s %6s %10s %10s %10s %7s %9s %8s %8s %s\n' workload server stored \
  not_stor secs curr_items evictions bytes limit_MB rss_MiB hwm_MiB verified note
for wl in $WORKLOADS; do
  read -r -a wargs <<<"$(workload_args "$wl")"
  for server in $SERVERS; do
    bl_start_server "$server" -m "$MEM_MB" -I 1m -t 4
    addr=127.0.0.1:$SERVER_PORT
    note=
    rc=0
    line=$(timeout $((TIMEOUT + 30)) "$LOADGEN" --addr "$addr" --fill "$FILL" "${wargs[@]}" \
      --conns 4 --threads 2 --pipeline 200 --verify-last "$VERIFY" --timeout "$TIMEOUT" \
      2>/tmp/memory_bound.err.$$) || rc=$?
    if ((rc != 0)); then
      note="fill failed (exit $rc): $(head -c 300 /tmp/memory_bound.err.$$ | tr '\n' ' ')"
      ((rc == 3 || rc == 124)) && note="fill TIMED OUT after ${TIMEOUT}s (server stalled?)"
    fi
    rm -f /tmp/memory_bound.err.$$
    kill -0 "$SERVER_PID" 2>/dev/null || note="server DIED during the fill; $note"
    stats=$("$LOADGEN" --addr "$addr" --stats --timeout 10 2>&1 | tr '\n' ' ') || stats=
    rss=$(bl_status_kb "$SERVER_PID" VmRSS)
    hwm=$(bl_status_kb "$SERVER_PID" VmHWM)
    bl_stop_server
    items=$(bl_kv "$stats" curr_items)
    limit=$(bl_kv "$stats" limit_maxbytes)
    vc=$(bl_kv "$line" verify_checked) vok=$(bl_kv "$line" verify_ok)
    vbad=$(bl_kv "$line" verify_bad) vhits=$(bl_kv "$line" verify_hits)
    printf '%-6s %-10s %9s %8s %6s %10s %10s %10s %7s %9s %8s %8s %s\n' "$wl" "$server" \
      "$(bl_kv "$line" stored)" \
      "$(awk -v a="$(bl_kv "$line" not_stored)" -v b="$(bl_kv "$line" errors)" 'BEGIN { print a + b }')" \
      "$(bl_kv "$line" secs)" "${items:-?}" \
      "$(bl_kv "$stats" evictions)" "$(bl_kv "$stats" bytes)" \
      "$(awk -v l="${limit:-0}" 'BEGIN { printf "%.0f", l / 1048576 }')" \
      "$(awk -v k="$rss" 'BEGIN { printf "%.1f", k / 1024 }')" \
      "$(awk -v k="$hwm" 'BEGIN { printf "%.1f", k / 1024 }')" "${vok:-?}/${vc:-?}" "$note"
    ITEMS[$wl.$server]=${items:-}
    HWM[$wl.$server]=$hwm
    # Checks on ferrocache (memcached is the reference: its figures are only reported).
    if [[ $server == ferrocache ]]; then
      if [[ -z "$note" ]]; then
        pass "$wl: ferrocache fill of $FILL completed"
      else
        fail "$wl: ferrocache $note"
      fi
      if [[ -n "$vc" && "$vc" == "$VERIFY" && "$vok" == "$VERIFY" ]]; then
        pass "$wl: ferrocache: the last $VERIFY keys written all read back correctly"
      else
        fail "$wl: ferrocache: read-back of the last $VERIFY keys: ${vok:-?} correct," \
          "${vhits:-?} found, ${vbad:-?} wrong values, ${vc:-?} checked"
      fi
      if [[ -z "$hwm" ]]; then
        fail "$wl: ferrocache peak RSS unknown (process gone)"
      elif ((hwm <= RSS_BOUND_KB)); then
        pass "$wl: ferrocache peak RSS $((hwm / 1024)) MiB <= bound $((RSS_BOUND_KB / 1024)) MiB"
      else
        fail "$wl: ferrocache peak RSS $((hwm / 1024)) MiB > bound $((RSS_BOUND_KB / 1024)) MiB"
      fi
    fi
  done
  mi=${ITEMS[$wl.memcached]:-} fi=${ITEMS[$wl.ferrocache]:-}
  if [[ " $SERVERS " == *" memcached "* && " $SERVERS " == *" ferrocache "* ]]; then
    if [[ -n "$mi" && -n "$fi" && "$mi" -gt 0 ]]; then
      ratio=$(awk -v a="$fi" -v b="$mi" 'BEGIN { printf "%.3f", a / b }')
      if awk -v r="$ratio" -v m="$MIN_ITEM_RATIO" 'BEGIN { exit !(r >= m) }'; then
        pass "$wl: items held ferrocache/memcached = $fi/$mi = $ratio >= $MIN_ITEM_RATIO"
      else
        fail "$wl: items held ferrocache/memcached = $fi/$mi = $ratio < $MIN_ITEM_RATIO"
      fi
    else
      fail "$wl: could not compare items held (memcached: ${mi:-?}, ferrocache: ${fi:-?})"
    fi
  fi
done

echo
if ((FAILS)); then
  echo "memory_bound: $FAILS check(s) FAILED"
  exit 1
fi
if [[ " $SERVERS " != *" ferrocache "* ]]; then
  echo "memory_bound: ferrocache not run (reference figures only)"
else
  echo "memory_bound: all checks passed"
fi
