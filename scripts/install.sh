#!/usr/bin/env bash
# Install ferrocache as a systemd service:
#   /usr/local/bin/ferrocache                 (release build of this tree)
#   /etc/systemd/system/ferrocache.service    (systemd/ferrocache.service, hardened, Type=notify)
#   /etc/ferrocache/ferrocache.conf           (systemd/ferrocache.conf; an existing one is kept)
# then `systemctl daemon-reload` when systemd runs. Start it with
#   systemctl enable --now ferrocache
#
# Usage: scripts/install.sh [--no-build] [--destdir DIR]
#   --no-build     install target/release/ferrocache as it is
#   --destdir DIR  install under DIR (a staging root; no systemctl calls)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DESTDIR=""
BUILD=1
while [ $# -gt 0 ]; do
    case "$1" in
        --no-build) BUILD=0 ;;
        --destdir) DESTDIR="${2:?--destdir needs a directory}"; shift ;;
        *) echo "usage: $0 [--no-build] [--destdir DIR]" >&2; exit 64 ;;
    esac
    shift
done

if [ "$BUILD" = 1 ]; then
    cargo build --release
fi
BIN=target/release/ferrocache
[ -x "$BIN" ] || { echo "install.sh: $BIN missing (build first or drop --no-build)" >&2; exit 1; }
# The config must load before we install it.
"$BIN" --config-file systemd/ferrocache.conf --check-config >/dev/null

install -D -m 0755 "$BIN" "$DESTDIR/usr/local/bin/ferrocache"
install -D -m 0644 systemd/ferrocache.service "$DESTDIR/etc/systemd/system/ferrocache.service"
CONF="$DESTDIR/etc/ferrocache/ferrocache.conf"
if [ -e "$CONF" ]; then
    echo "kept existing $CONF (the shipped default is systemd/ferrocache.conf)"
else
    install -D -m 0644 systemd/ferrocache.conf "$CONF"
fi
echo "installed: $DESTDIR/usr/local/bin/ferrocache, $DESTDIR/etc/systemd/system/ferrocache.service, $CONF"

if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    echo "start with: systemctl enable --now ferrocache; reload config: systemctl reload ferrocache"
fi
