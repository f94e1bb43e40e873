"""python-binary-memcached (bmemcached, binary protocol + SASL PLAIN) end to end.

The plain tests run against ferrocache or memcached (FERROCACHE_BIN); the SASL ones need
`-S --sasl-pwdb`, which only ferrocache provides here (see conftest.sasl_server).
bmemcached has no append/prepend/touch methods: those are sent as raw binary frames over
the client's own (authenticated) connection.
"""

import socket
import struct
import uuid

import bmemcached
import pytest
from bmemcached.exceptions import InvalidCredentials, MemcachedException

from conftest import SASL_PASSWORD, SASL_USER


def key(prefix="k"):
    return f"{prefix}-{uuid.uuid4().hex}"


def client(port, **kw):
    return bmemcached.Client((f"127.0.0.1:{port}",), socket_timeout=5, **kw)


@pytest.fixture
def mc(server):
    c = client(server.port)
    yield c
    c.disconnect_all()


def raw(c, op, k, value=b"", extras=b"", cas=0):
    """Send one binary request over bmemcached's connection; return (status, body)."""
    srv = next(iter(c.servers))
    kb = k.encode()
    body = len(extras) + len(kb) + len(value)
    hdr = struct.pack(">BBHBBHIIQ", 0x80, op, len(kb), len(extras), 0, 0, body, 0xAB, cas)
    srv._send(hdr + extras + kb + value)
    (_magic, opcode, _kl, _el, _dt, status, _bl, opaque, _cas, content) = srv._get_response()
    assert opcode == op and opaque == 0xAB
    return status, content


APPEND, PREPEND, TOUCH = 0x0E, 0x0F, 0x1C


def test_set_get_delete(mc):
    k = key()
    assert mc.set(k, b"value") is True
    assert mc.get(k) == b"value"
    assert mc.get(key("missing")) is None
    assert mc.delete(k) is True
    # bmemcached reports "Not found" as True too (only a cas mismatch is False).
    assert mc.delete(k) is True
    assert mc.get(k) is None


def test_types_roundtrip(mc):
    k = key()
    mc.set(k, "text \u00e9")
    assert mc.get(k) == "text \u00e9"
    mc.set(k, 12345)
    assert mc.get(k) == 12345
    mc.set(k, {"a": [1, 2]})
    assert mc.get(k) == {"a": [1, 2]}


def test_binary_values_with_nul_and_crlf(mc):
    k = key()
    v = b"\x00\r\nEND\r\n\x00\xff" * 100 + b"\r\n"
    assert mc.set(k, v) is True
    assert mc.get(k) == v
    big = bytes(range(256)) * 2000
    assert mc.set(k, big) is True
    assert mc.get(k) == big


def test_get_multi(mc):
    ks = {key(): f"v{i}".encode() for i in range(50)}
    for k, v in ks.items():
        mc.set(k, v)
    got = mc.get_multi(list(ks) + [key("missing"), key("missing")])
    assert got == ks


def test_incr_decr(mc):
    k = key()
    # Missing: created with the default (the initial value).
    assert mc.incr(k, 5, default=10) == 10
    assert mc.incr(k, 5) == 15
    assert mc.decr(k, 20) == 0
    mc.set(k, b"18446744073709551615")
    assert mc.incr(k, 1) == 0
    mc.set(k, b"100")
    assert mc.decr(k, 1) == 99
    assert mc.get(k) == b"99 "


def test_incr_non_numeric(mc):
    k = key()
    mc.set(k, b"abc")
    with pytest.raises(Exception) as e:
        mc.incr(k, 1)
    assert "Non-numeric" in str(e.value) or "6" in str(e.value)


def test_add_replace(mc):
    k = key()
    assert mc.add(k, b"1") is True
    assert mc.add(k, b"2") is False
    assert mc.get(k) == b"1"
    assert mc.replace(k, b"3") is True
    assert mc.replace(key("missing"), b"x") is False
    assert mc.get(k) == b"3"


def test_gets_cas(mc):
    k = key()
    assert mc.gets(k) == (None, None)
    mc.set(k, b"v1")
    v, cas = mc.gets(k)
    assert v == b"v1" and cas
    assert mc.cas(k, b"v2", cas) is True
    assert mc.cas(k, b"v3", cas) is False
    assert mc.get(k) == b"v2"
    v2, cas2 = mc.gets(k)
    assert v2 == b"v2" and cas2 != cas
    assert mc.delete(k, cas) is False
    assert mc.delete(k, cas2) is True


def test_append_prepend(mc):
    k = key()
    mc.set(k, b"mid")
    assert raw(mc, APPEND, k, b"-end") == (0, None)
    assert raw(mc, PREPEND, k, b"start-") == (0, None)
    assert mc.get(k) == b"start-mid-end"
    assert raw(mc, APPEND, key("missing"), b"x") == (5, b"Not stored.")
    assert raw(mc, PREPEND, key("missing"), b"x") == (5, b"Not stored.")


def test_touch(mc):
    k = key()
    assert raw(mc, TOUCH, k, extras=struct.pack(">I", 100)) == (1, b"Not found")
    mc.set(k, b"v", time=1)
    status, _ = raw(mc, TOUCH, k, extras=struct.pack(">I", 100))
    assert status == 0
    assert mc.get(k) == b"v"


def test_flush_all(mc):
    k = key()
    mc.set(k, b"v")
    assert mc.flush_all() is True
    assert mc.get(k) is None


def test_stats(mc):
    stats = mc.stats()
    (only,) = stats.values()
    assert "curr_items" in only and "pid" in only


# ---------------------------------------------------------------------------------------
# SASL PLAIN (ferrocache -S --sasl-pwdb)


def test_sasl_right_password(sasl_server):
    c = client(sasl_server.port, username=SASL_USER, password=SASL_PASSWORD)
    k = key()
    assert c.set(k, b"secret value") is True
    assert c.get(k) == b"secret value"
    assert c.get_multi([k]) == {k: b"secret value"}
    assert c.incr(key(), 1, default=7) == 7
    assert c.delete(k) is True
    assert next(iter(c.servers)).authenticated is True
    c.disconnect_all()


def test_sasl_wrong_password_is_rejected(sasl_server):
    # bmemcached's table has the old spec's auth-error code (0x08), so memcached's 0x20
    # (what ferrocache sends too) surfaces as a MemcachedException with code 32 and the
    # server's "Auth failure." message, not as InvalidCredentials; raised by the first
    # command, which opens (and authenticates) the connection.
    for user, password in [(SASL_USER, "wrong"), ("mallory", SASL_PASSWORD), (SASL_USER, "")]:
        c = client(sasl_server.port, username=user, password=password or None)
        k = key()
        with pytest.raises(MemcachedException) as e:
            c.set(k, b"v")
        assert e.value.code == 0x20, e.value
        assert "Auth failure." in str(e.value)
        assert next(iter(c.servers)).authenticated is False
        c.disconnect_all()
    ok = client(sasl_server.port, username=SASL_USER, password=SASL_PASSWORD)
    assert ok.get(k) is None
    ok.disconnect_all()


def test_sasl_no_credentials_is_refused(sasl_server):
    # Without credentials bmemcached skips authentication; the server answers
    # "Auth failure." (status 0x20) and closes.
    c = client(sasl_server.port)
    k = key()
    with pytest.raises(MemcachedException) as e:
        c.set(k, b"v")
    assert e.value.code == 0x20 and "Auth failure." in str(e.value)
    c.disconnect_all()
    # The value was not stored.
    ok = client(sasl_server.port, username=SASL_USER, password=SASL_PASSWORD)
    assert ok.get(k) is None
    ok.disconnect_all()


def test_sasl_text_protocol_is_closed(sasl_server):
    with socket.create_connection(("127.0.0.1", sasl_server.port), timeout=5) as s:
        s.sendall(b"get foo\r\n")
        assert s.recv(100) == b""
