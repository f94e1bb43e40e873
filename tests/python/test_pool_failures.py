"""pymemcache's HashClient configured as the README recommends (scripts/pool_client.py's
RECOMMENDED) keeps cache-aside working while a node is killed and restarted on its port:
no call raises, every call is bounded, and the restarted node is used again.
Then scripts/pool_client.py itself against a discovered pool with a node killed. ferrocache
only (the pool test needs `config get cluster`)."""

import os
import socket
import secrets
import subprocess
import tempfile
import sys
import time
from pathlib import Path

import pytest

from conftest import Server, server_bin

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import pool_client  # noqa: E402

R = pool_client.RECOMMENDED
# The longest one call may take: a connect, then a read.
CALL_BOUND = R["connect_timeout"] + R["timeout"] + 0.25


def raw_get(port, key):
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(f"get {key}\r\n".encode())
        data = b""
        deadline = time.monotonic() + 2
        while not data.endswith(b"END\r\n") and time.monotonic() < deadline:
            data += s.recv(4096)
    return data


def timed(fn, *args):
    t = time.monotonic()
    result = fn(*args)
    took = time.monotonic() - t
    assert took < CALL_BOUND, f"{fn.__name__}{args[:1]} took {took:.3f} s"
    return result


def test_hash_client_survives_a_killed_node():
    a, b = Server(server_bin()), Server(server_bin())
    port_b = b.port
    b2 = None
    client = pool_client.make_client([("127.0.0.1", a.port), ("127.0.0.1", port_b)])
    try:
        keys = [f"key:{i}" for i in range(200)]
        on_b = [k for k in keys if client.hasher.get_node(k) == f"127.0.0.1:{port_b}"]
        assert 40 < len(on_b) < 160, len(on_b)
        for k in keys:
            assert client.set(k, b"v")

        b.stop()  # SIGKILL
        # Cache-aside for longer than retry_attempts * retry_timeout (the node gets ejected):
        # no exception, bounded calls, A's keys keep hitting.
        deadline = time.monotonic() + R["retry_attempts"] * R["retry_timeout"] + 1.5
        rounds = 0
        while time.monotonic() < deadline:
            for k in keys:
                if timed(client.get, k) is None:
                    timed(client.set, k, b"w")  # after the ejection, B's keys go to A
            rounds += 1
        assert rounds >= 2
        assert all(client.get(k) is not None for k in keys if k not in on_b)
        assert sum(client.unanswered.values()) > 0, "calls were answered without B"

        # B comes back (empty) on its port: within dead_timeout (pymemcache checks at most
        # every dead_timeout, so up to twice that) and a retry, keys route to it again.
        b2 = Server(server_bin(), ["-p", str(port_b)])
        assert b2.port == port_b
        probe = on_b[0]
        deadline = time.monotonic() + 2 * R["dead_timeout"] + 2 * R["retry_timeout"] + 3
        while b"VALUE" not in raw_get(port_b, probe):
            assert time.monotonic() < deadline, "the restarted node is not used again"
            timed(client.set, probe, b"back")
            time.sleep(0.05)
        assert client.get(probe) == b"back"
    finally:
        client.close()
        for s in (a, b, b2):
            if s is not None:
                s.stop()


def test_pool_client_script_through_a_kill():
    if "memcached" in os.path.basename(server_bin()):
        pytest.skip("auto discovery is a ferrocache feature")
    # Pool membership is authenticated: both nodes read the same secret.
    secret = tempfile.NamedTemporaryFile("w", prefix="ferro-pool-secret-", delete=False)
    secret.write(secrets.token_hex(16) + "\n")
    secret.close()
    opts = ["--cluster-sync-interval", "1", "--cluster-secret-file", secret.name]
    a = Server(server_bin(), opts)
    b = Server(server_bin(), opts + ["--cluster-join", f"127.0.0.1:{a.port}"])
    try:
        deadline = time.monotonic() + 10
        while len(pool_client.fetch_config(f"127.0.0.1:{a.port}")[1]) != 2:
            assert time.monotonic() < deadline, "pool did not form"
            time.sleep(0.05)
        duration = 4
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts/pool_client.py"), "--discover",
             f"127.0.0.1:{b.port},127.0.0.1:{a.port}", "--duration", str(duration),
             "--rate", "300"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        time.sleep(1.5)
        b.stop()
        out, err = proc.communicate(timeout=duration + 10)
        assert proc.returncode == 0, err
        lines = out.strip().splitlines()
        assert len(lines) >= duration, out
        fields = [dict(kv.split("=") for kv in l.split()[1:]) for l in lines]
        assert lines[-1].startswith("total ")
        for l, f in zip(lines[:-1], fields[:-1]):
            assert l.startswith("t=") and list(f) == [
                "gets", "hits", "sets", "errors", "dead_misses", "dropped_sets", "version", "nodes"
            ], l
        total = fields[-1]
        assert int(total["errors"]) == 0, out
        assert int(total["dead_misses"]) > 0, out
        assert int(total["gets"]) > 300 * (duration - 1), out
    finally:
        a.stop()
        b.stop()
        os.unlink(secret.name)
