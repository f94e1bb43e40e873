"""A three-node ferrocache pool discovered with elasticache-auto-discovery and used through
pymemcache's HashClient (scripts/pool_example.py). ferrocache only."""

import os
import secrets
import tempfile
import socket
import sys
import time
from pathlib import Path

import pytest

from conftest import Server, server_bin

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import pool_example  # noqa: E402


def config_version_and_nodes(port):
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(b"config get cluster\r\n")
        data = b""
        deadline = time.time() + 2
        while not data.endswith(b"END\r\n") and time.time() < deadline:
            data += s.recv(4096)
    lines = data.split(b"\n")
    return int(lines[1]), lines[2].strip()


@pytest.fixture(scope="module")
def pool():
    if "memcached" in os.path.basename(server_bin()):
        pytest.skip("auto discovery is a ferrocache feature; memcached has no `config`")
    # Pool membership is authenticated: every node reads the same secret.
    secret = tempfile.NamedTemporaryFile("w", prefix="ferro-pool-secret-", delete=False)
    secret.write(secrets.token_hex(16) + "\n")
    secret.close()
    common = ["--cluster-sync-interval", "1", "--cluster-secret-file", secret.name]
    first = Server(server_bin(), common)
    join = common + ["--cluster-join", f"127.0.0.1:{first.port}"]
    nodes = [first, Server(server_bin(), join), Server(server_bin(), join)]
    deadline = time.time() + 10
    while True:
        seen = {config_version_and_nodes(n.port) for n in nodes}
        if len(seen) == 1 and len(next(iter(seen))[1].split(b" ")) == 3:
            break
        assert time.time() < deadline, f"pool did not converge: {seen}"
        time.sleep(0.05)
    yield nodes
    for n in nodes:
        n.stop()
    os.unlink(secret.name)


def test_discovers_every_node_from_any_node(pool):
    ports = sorted(n.port for n in pool)
    for n in pool:
        found = pool_example.pool_nodes(f"127.0.0.1:{n.port}")
        assert sorted(p for _, p in found) == ports
        assert all(addr == "127.0.0.1" for addr, _ in found)


def test_hash_client_reads_back_what_it_wrote(pool):
    nodes = pool_example.pool_nodes(f"127.0.0.1:{pool[1].port}")
    assert pool_example.write_and_read(nodes, 2000) == 2000
    # The keys are spread over all three nodes.
    counts = []
    for n in pool:
        with socket.create_connection(("127.0.0.1", n.port), timeout=2) as s:
            s.sendall(b"stats\r\n")
            data = b""
            while not data.endswith(b"END\r\n"):
                data += s.recv(65536)
        items = int(data.split(b"STAT curr_items ")[1].split(b"\r\n")[0])
        counts.append(items)
    assert sum(counts) == 2000 and min(counts) > 300, counts
