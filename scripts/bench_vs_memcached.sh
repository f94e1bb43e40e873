#!/usr/bin/env bash
# Throughput and server CPU per request: ferrocache vs memcached, same flags, same load.
#
# For each scenario, runs the listed servers alternately (A B A B ...), each server started
# fresh on its own free port with `-t THREADS -m 1024`, prefilled, then loaded by the
# closed-loop generator (benches/loadgen/) for DURATION seconds. Server CPU time
# (utime+stime from /proc/PID/stat) is read around the timed run only.
#
# usage: scripts/bench_vs_memcached.sh [-t SERVER_THREADS] [-d SECS] [-r ROUNDS]
#            [--lg-threads N] [--conns N] [--scenarios "unpiped piped setonly"]
#            [--servers "memcached ferrocache"] [--baseline LABEL] [--value-size BYTES]
#            [--protocol text|binary] [--tls [DIR]] [--no-build]
#
# --tls: every server runs with TLS (`-Z`, certificate and key from DIR, made there by
# scripts/tls-test-certs.sh when missing; default /tmp/ferro-bench-tls) and the load
# generator speaks TLS to it (`--tls-ca DIR/ca.crt`): memcached -Z against ferrocache -Z.
#
# --servers: `memcached` ($MEMCACHED_BIN), `ferrocache` ($FERRO_BIN, built unless --no-build)
# or LABEL=PATH for any other binary, e.g. "memcached prev=/tmp/ferro-prev new=/tmp/ferro-new".
# The summary gives, per scenario and server, the median over rounds (and min..max) and its
# ratio to the --baseline server (default: the first listed).
#
# Scenarios: unpiped  = 1:10 set:get, pipeline 1, CONNS connections
#            piped    = 1:10 set:get, pipeline 32
#            setonly  = sets only, pipeline 1
#            binunpiped = binary protocol (Set/Get frames), 1:10, pipeline 1
#            binpiped   = binary protocol, 1:10, pipeline 32
#            binary     = shorthand for "binunpiped binpiped"
# --protocol binary runs unpiped/piped as binunpiped/binpiped (setonly stays text).
# Keys key:0..99999, values of --value-size bytes (default 100). The load generator shares the
# machine's cores with the server, so absolute numbers are machine-bound; compare the ratios.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/bench_lib.sh
source "$ROOT/scripts/bench_lib.sh"

THREADS=4
DURATION=8
ROUNDS=2
LG_THREADS=2
CONNS=50
KEY_MAX=100000
VALUE_SIZE=100
SCENARIOS="unpiped piped setonly"
PROTOCOL=""
SERVERS="memcached ferrocache"
BASELINE=
BUILD=1
TLS_DIR=

while (($#)); do
  case $1 in
    -t) THREADS=$2; shift 2 ;;
    -d) DURATION=$2; shift 2 ;;
    -r) ROUNDS=$2; shift 2 ;;
    --lg-threads) LG_THREADS=$2; shift 2 ;;
    --conns) CONNS=$2; shift 2 ;;
    --scenarios) SCENARIOS=$2; shift 2 ;;
    --servers) SERVERS=$2; shift 2 ;;
    --baseline) BASELINE=$2; shift 2 ;;
    --value-size) VALUE_SIZE=$2; shift 2 ;;
    --protocol) PROTOCOL=$2; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    --tls)
      if [[ $# -gt 1 && $2 != -* ]]; then TLS_DIR=$2; shift 2; else TLS_DIR=/tmp/ferro-bench-tls; shift; fi ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) bl_die "unknown argument $1 (see --help)" ;;
  esac
done

bl_prepare "$SERVERS" "$BUILD"
SERVER_TLS=()
LG_TLS=()
if [[ -n "$TLS_DIR" ]]; then
  [[ -s "$TLS_DIR/server.crt" ]] || bash "$ROOT/scripts/tls-test-certs.sh" "$TLS_DIR"
  SERVER_TLS=(-Z -o "ssl_chain_cert=$TLS_DIR/server.crt,ssl_key=$TLS_DIR/server.key")
  LG_TLS=(--tls-ca "$TLS_DIR/ca.crt")
  BL_PROBE_ARGS=("${LG_TLS[@]}")
fi
LABELS=$(for s in $SERVERS; do bl_label "$s"; done | xargs)
BASELINE=${BASELINE:-${LABELS%% *}}
[[ " $LABELS " == *" $BASELINE "* ]] || bl_die "--baseline $BASELINE is not one of: $LABELS"

scenario_args() {
  case $1 in
    unpiped) echo "--ratio 1:10 --pipeline 1" ;;
    piped) echo "--ratio 1:10 --pipeline 32" ;;
    setonly) echo "--ratio 1:0 --pipeline 1" ;;
    binunpiped) echo "--ratio 1:10 --pipeline 1 --protocol binary" ;;
    binpiped) echo "--ratio 1:10 --pipeline 32 --protocol binary" ;;
    *) bl_die "unknown scenario $1" ;;
  esac
}

# `binary` expands to both binary scenarios; `--protocol binary` runs every scenario over
# the binary protocol.
SCENARIOS=${SCENARIOS//binary/binunpiped binpiped}
if [[ "$PROTOCOL" == binary ]]; then
  SCENARIOS=$(for s in $SCENARIOS; do case $s in unpiped | piped) echo "bin$s" ;; *) echo "$s" ;; esac; done | xargs)
elif [[ -n "$PROTOCOL" && "$PROTOCOL" != text ]]; then
  bl_die "--protocol: text or binary"
fi

RESULTS=$(mktemp /tmp/bench-results.XXXXXX)
trap 'rm -f "$RESULTS"; bl_cleanup' EXIT

echo "server flags: -t $THREADS -m 1024 ${SERVER_TLS[*]} | load: $CONNS conns, $LG_THREADS loadgen threads," \
  "${DURATION}s per run, $ROUNDS rounds, keys $KEY_MAX, values $VALUE_SIZE B"
printf '%-10s %-10s %5s %12s %10s %9s %9s %9s\n' \
  scenario server round ops/s cpu_us/req srv_cpu% p50_us p99_us
for scen in $SCENARIOS; do
  read -r -a sargs <<<"$(scenario_args "$scen")"
  for ((round = 1; round <= ROUNDS; round++)); do
    for server in $SERVERS; do
      bl_start_server "$server" -t "$THREADS" -m 1024 "${SERVER_TLS[@]}"
      addr=127.0.0.1:$SERVER_PORT
      common=(--addr "$addr" --conns "$CONNS" --threads "$LG_THREADS" --key-max "$KEY_MAX"
        --value-size "$VALUE_SIZE" --seed "$round" "${LG_TLS[@]}")
      out=$("$LOADGEN" "${common[@]}" --prefill-only --timeout 60 2>&1) ||
        bl_die "$scen: prefill of $server failed: $out"
      t0=$(bl_cpu_ticks "$SERVER_PID")
      line=$("$LOADGEN" "${common[@]}" "${sargs[@]}" --duration "$DURATION" \
        --timeout $((${DURATION%.*} + 60))) || bl_die "$scen: loadgen against $server failed: $line"
      t1=$(bl_cpu_ticks "$SERVER_PID")
      bl_stop_server
      ops=$(bl_kv "$line" ops)
      secs=$(bl_kv "$line" secs)
      read -r ops_s cpu_us cpu_pct < <(awk -v o="$ops" -v s="$secs" -v d=$((t1 - t0)) -v hz="$CLK_TCK" \
        'BEGIN { c = d / hz; printf "%.0f %.3f %.0f\n", o / s, c * 1e6 / o, 100 * c / s }')
      label=$(bl_label "$server")
      printf '%-10s %-10s %5s %12s %10s %9s %9s %9s\n' "$scen" "$label" "$round" "$ops_s" \
        "$cpu_us" "$cpu_pct" "$(bl_kv "$line" p50_us)" "$(bl_kv "$line" p99_us)"
      echo "$scen $label $ops_s $cpu_us" >>"$RESULTS"
    done
  done
done

echo
echo "medians over $ROUNDS rounds [min..max]; ratio = server / $BASELINE (higher ops/s and lower" \
  "cpu/req are better)"
printf '%-10s %-10s %10s %-23s %6s %10s %-17s %6s\n' scenario server ops/s "[min..max]" ratio \
  cpu_us/req "[min..max]" ratio
for scen in $SCENARIOS; do
  # col_stats LABEL COLUMN: "median min max" of a results column over the rounds.
  col_stats() {
    local v
    v=$(awk -v s="$scen" -v l="$1" -v c="$2" '$1 == s && $2 == l { print $c }' "$RESULTS")
    # shellcheck disable=SC2086
    echo "$(bl_median $v) $(sort -g <<<"$v" | head -1) $(sort -g <<<"$v" | tail -1)"
  }
  read -r bo _ _ < <(col_stats "$BASELINE" 3)
  read -r bc _ _ < <(col_stats "$BASELINE" 4)
  for label in $LABELS; do
    read -r o olo ohi < <(col_stats "$label" 3)
    read -r c clo chi < <(col_stats "$label" 4)
    awk -v s="$scen" -v l="$label" -v o="$o" -v olo="$olo" -v ohi="$ohi" -v bo="$bo" \
      -v c="$c" -v clo="$clo" -v chi="$chi" -v bc="$bc" 'BEGIN {
      r1 = (bo > 0) ? sprintf("%.3f", o / bo) : "-"
      r2 = (bc > 0) ? sprintf("%.3f", c / bc) : "-"
      printf "%-10s %-10s %10.0f %-23s %6s %10.3f %-17s %6s\n", s, l, o, "[" olo ".." ohi "]", r1,
        c, "[" clo ".." chi "]", r2 }'
  done
done
