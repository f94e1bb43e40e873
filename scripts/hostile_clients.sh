#!/usr/bin/env bash
# Hostile-client suite (issue 9: memory stays bounded by -m whatever clients send); see
# scripts/hostile_clients.py --help. Builds nothing: run `cargo build --release` first.
# usage: scripts/hostile_clients.sh [--server PATH] [--compare] [--attacks a,b] [--quick]
#            [--json FILE] [--per-conn-kib ATTACK=KIB]
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec python3 scripts/hostile_clients.py "$@"
