# Shared helpers for scripts/bench_vs_memcached.sh and scripts/memory_bound.sh (sourced).
#
# Servers are started on 127.0.0.1 only, on a free port below the kernel's ephemeral range,
# and every server a script started is stopped (by its pid) when the script exits.

MEMCACHED_BIN=${MEMCACHED_BIN:-/usr/bin/memcached}
FERRO_BIN=${FERRO_BIN:-$ROOT/target/release/ferrocache}
CLK_TCK=$(getconf CLK_TCK)

BL_PIDS=()
# Extra loadgen flags for the readiness probe (e.g. --tls-ca FILE against TLS servers).
BL_PROBE_ARGS=()
SERVER_PID=
SERVER_PORT=

bl_cleanup() {
  local pid
  for pid in "${BL_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${BL_PIDS[@]}"; do
    bl_wait_gone "$pid"
  done
}
trap bl_cleanup EXIT
trap 'exit 130' INT TERM

bl_die() {
  echo "error: $*" >&2
  exit 2
}

# Waits (bounded) for a process we started to exit; SIGKILLs it after 5 s.
bl_wait_gone() {
  local pid=$1 i
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# Builds the loadgen bench binary (release) and sets LOADGEN to its path (a LOADGEN already
# set in the environment to an executable is used as is).
bl_build_loadgen() {
  [[ -n "${LOADGEN:-}" && -x "$LOADGEN" ]] && return 0
  local json
  json=$(cd "$ROOT" && cargo bench --bench loadgen --no-run --message-format=json 2>/dev/null) ||
    bl_die "cargo bench --bench loadgen --no-run failed (run it by hand to see why)"
  LOADGEN=$(printf '%s\n' "$json" | grep -o '"executable":"[^"]*loadgen-[^"]*"' | tail -1 |
    sed 's/^"executable":"//; s/"$//')
  [[ -x "$LOADGEN" ]] || bl_die "could not find the loadgen executable"
}

# A server spec is `memcached` ($MEMCACHED_BIN), `ferrocache` ($FERRO_BIN) or LABEL=PATH
# (any memcached-compatible binary, e.g. prev=/tmp/ferro-prev). bl_label SPEC prints the label,
# bl_bin SPEC the binary.
bl_label() { echo "${1%%=*}"; }
bl_bin() {
  case $1 in
    *=*) echo "${1#*=}" ;;
    memcached) echo "$MEMCACHED_BIN" ;;
    ferrocache) echo "$FERRO_BIN" ;;
    *) bl_die "unknown server $1 (memcached, ferrocache or LABEL=PATH)" ;;
  esac
}

# bl_prepare "SERVERS" BUILD: build ferrocache (if BUILD=1 and it is listed) and the load
# generator, and check that every listed server binary exists.
bl_prepare() {
  local servers=$1 build=$2 s
  if ((build)) && [[ " $servers " == *" ferrocache "* ]]; then
    echo "== cargo build --release" >&2
    (cd "$ROOT" && cargo build --release) || bl_die "cargo build --release failed"
  fi
  bl_build_loadgen
  for s in $servers; do
    [[ -x "$(bl_bin "$s")" ]] || bl_die "$(bl_bin "$s") not found (server $s)"
  done
}

# A port nobody listens on, below the ephemeral range (so no client socket holds it).
bl_free_port() {
  local lo hi i p
  read -r lo hi </proc/sys/net/ipv4/ip_local_port_range
  for ((i = 0; i < 100; i++)); do
    if ((lo > 20000)); then p=$((20000 + RANDOM % (lo - 20000))); else p=$((hi + 1 + RANDOM % 1000)); fi
    if ! ss -Htln "sport = :$p" 2>/dev/null | grep -q . &&
      ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  bl_die "no free port found"
}

# bl_start_server SPEC ARGS...: starts the server SPEC (see bl_bin) fresh on a free port with
# the given flags; sets SERVER_PID and SERVER_PORT. Retries on another port if the bind fails.
bl_start_server() {
  local name=$1 attempt i port pid log
  shift
  local -a cmd
  cmd=("$(bl_bin "$name")")
  # memcached refuses to run as root without -u.
  [[ ${cmd[0]##*/} == *memcached* && $(id -u) == 0 ]] && cmd+=(-u root)
  log=$(mktemp /tmp/bench-server.XXXXXX)
  for ((attempt = 0; attempt < 5; attempt++)); do
    port=$(bl_free_port)
    "${cmd[@]}" -p "$port" -l 127.0.0.1 "$@" >"$log" 2>&1 &
    pid=$!
    BL_PIDS+=("$pid")
    for ((i = 0; i < 100; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      if "$LOADGEN" --addr "127.0.0.1:$port" --stats --timeout 2 "${BL_PROBE_ARGS[@]}" >/dev/null 2>&1; then
        SERVER_PID=$pid
        SERVER_PORT=$port
        rm -f "$log"
        return 0
      fi
      sleep 0.1
    done
    kill "$pid" 2>/dev/null || true
    bl_wait_gone "$pid"
  done
  echo "---- $name output:" >&2
  cat "$log" >&2
  rm -f "$log"
  bl_die "$name did not start (${cmd[*]} $*)"
}

bl_stop_server() {
  [[ -n "$SERVER_PID" ]] || return 0
  kill "$SERVER_PID" 2>/dev/null || true
  bl_wait_gone "$SERVER_PID"
  SERVER_PID=
  SERVER_PORT=
}

# utime+stime of a process, in clock ticks (fields 14 and 15 of /proc/PID/stat; the comm
# field may contain spaces, so count from the last ')').
bl_cpu_ticks() {
  local stat
  stat=$(cat "/proc/$1/stat") || return 1
  stat=${stat##*) }
  # After "comm) ": field 3 (state) is word 1, so utime (14) is word 12, stime (15) word 13.
  awk '{ print $12 + $13 }' <<<"$stat"
}

# bl_status_kb PID FIELD: a /proc/PID/status field (VmRSS, VmHWM) in kB.
bl_status_kb() {
  awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null || true
}

# bl_kv "LINE" KEY: the value of KEY in a "k=v k=v" line (empty when absent).
bl_kv() {
  tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k { print $2; exit }'
}

# bl_median values...: median of numbers.
bl_median() {
  (($#)) || { echo nan; return 0; }
  printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END {
    if (NR == 0) { print "nan"; exit }
    printf "%.10g\n", (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
