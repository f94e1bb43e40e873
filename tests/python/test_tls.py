"""pymemcache over TLS (issue 12): `Client` and `HashClient` with an `ssl.SSLContext`
(`tls_context=`) against `-Z`, with and without a client certificate (mutual TLS), and a
client refused when the server requires a certificate it does not send.

The certificates come from scripts/tls-test-certs.sh (openssl CLI) in a temp dir.
"""

import ssl
import subprocess

import pytest
from pymemcache.client.base import Client
from pymemcache.client.hash import HashClient

from conftest import ROOT, Server, server_bin


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    subprocess.run(["bash", str(ROOT / "scripts/tls-test-certs.sh"), str(d)], check=True)
    return d


def tls_server(pki, *extra):
    return Server(
        server_bin(),
        ["-Z", "-o", f"ssl_chain_cert={pki}/server.crt,ssl_key={pki}/server.key", *extra],
    )


def context(pki, cert=None):
    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    if cert:
        ctx.load_cert_chain(str(pki / f"{cert}.crt"), str(pki / f"{cert}.key"))
    return ctx


def test_client_over_tls(pki):
    s = tls_server(pki)
    try:
        c = Client(("localhost", s.port), tls_context=context(pki), timeout=5)
        assert c.set("k", b"v" * 100_000)
        assert c.get("k") == b"v" * 100_000
        assert c.incr("n", 1) is None
        c.set("n", "5")
        assert c.incr("n", 2) == 7
        assert c.get_many(["k", "n", "missing"]).keys() == {"k", "n"}
        stats = c.stats()
        # (memcached may count the fixture's connect-and-close probe as a handshake error,
        # depending on a race; ferrocache never counts a peer that sent nothing.)
        assert b"ssl_handshake_errors" in stats
        assert c.stats("settings")[b"ssl_enabled"] == b"yes"
        c.close()
    finally:
        s.stop()


def test_hash_client_over_two_tls_servers(pki):
    servers = [tls_server(pki), tls_server(pki)]
    try:
        hc = HashClient(
            [("localhost", s.port) for s in servers], tls_context=context(pki), timeout=5
        )
        for i in range(100):
            assert hc.set(f"key{i}", str(i))
        assert all(hc.get(f"key{i}") == str(i).encode() for i in range(100))
        # The keys spread over both servers.
        counts = [
            Client(("localhost", s.port), tls_context=context(pki)).stats()[b"curr_items"]
            for s in servers
        ]
        assert sum(counts) == 100 and min(counts) > 0
    finally:
        for s in servers:
            s.stop()


def test_mutual_tls(pki):
    s = tls_server(pki, "-o", f"ssl_verify_mode=2,ssl_ca_cert={pki}/ca.crt")
    try:
        c = Client(("localhost", s.port), tls_context=context(pki, "client"), timeout=5)
        assert c.set("m", "1")
        assert c.get("m") == b"1"
        refused = Client(("localhost", s.port), tls_context=context(pki), timeout=5)
        with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
            refused.set("m", "2")
            refused.get("m")
    finally:
        s.stop()
