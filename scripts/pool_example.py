#!/usr/bin/env python3
"""Use a ferrocache pool the way an ElastiCache application does.

Discovers the nodes from any node (the configuration endpoint) with the
`elasticache-auto-discovery` package, then routes keys across them with pymemcache's
`HashClient`, writes some keys and reads them back.

    python3 scripts/pool_example.py 127.0.0.1:11211 [count]
"""

import sys

from elasticache_auto_discovery import discover
from pymemcache.client.hash import HashClient


def pool_nodes(endpoint, timeout=2.0):
    """[(ip or host, port)] from the discovery reply (host|ip|port entries)."""
    nodes = []
    for host, ip, port in discover(endpoint, time_to_timeout=timeout):
        addr = (ip or host).decode()
        nodes.append((addr, int(port)))
    return nodes


def write_and_read(nodes, count=1000):
    """Writes `count` keys through a HashClient over `nodes`; returns how many read back."""
    client = HashClient(nodes, connect_timeout=2, timeout=2)
    try:
        for i in range(count):
            client.set(f"example:{i}", f"value-{i}".encode())
        ok = sum(
            1 for i in range(count) if client.get(f"example:{i}") == f"value-{i}".encode()
        )
        return ok
    finally:
        client.close()


def main():
    endpoint = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:11211"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    nodes = pool_nodes(endpoint)
    print(f"discovered {len(nodes)} nodes: {nodes}")
    ok = write_and_read(nodes, count)
    print(f"read back {ok} of {count} keys")
    return 0 if ok == count else 1


if __name__ == "__main__":
    sys.exit(main())
