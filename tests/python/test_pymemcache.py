"""pymemcache end to end against ferrocache (or memcached, with FERROCACHE_BIN)."""

import uuid

import pytest
from pymemcache.client.base import Client, PooledClient
from pymemcache.exceptions import MemcacheIllegalInputError


def key(prefix="k"):
    return f"{prefix}-{uuid.uuid4().hex}"


@pytest.fixture(params=["client", "pooled"])
def mc(request, server):
    if request.param == "client":
        c = Client(("127.0.0.1", server.port), connect_timeout=5, timeout=5)
    else:
        c = PooledClient(("127.0.0.1", server.port), connect_timeout=5, timeout=5, max_pool_size=4)
    yield c
    c.close()


def test_set_get(mc):
    k = key()
    assert mc.set(k, b"value", noreply=False) is True
    assert mc.get(k) == b"value"
    assert mc.get(key("missing")) is None
    assert mc.get(key("missing"), default=b"d") == b"d"


def test_set_many_get_many(mc):
    ks = {key(): f"v{i}".encode() for i in range(50)}
    assert mc.set_many(ks, noreply=False) == []
    got = mc.get_many(list(ks) + [key("missing")])
    assert got == ks


def test_delete_and_delete_many(mc):
    a, b, c = key(), key(), key()
    mc.set_many({a: b"1", b: b"2", c: b"3"}, noreply=False)
    assert mc.delete(a, noreply=False) is True
    assert mc.delete(a, noreply=False) is False
    assert mc.delete_many([b, c], noreply=False) is True
    assert mc.get_many([a, b, c]) == {}


def test_incr_decr(mc):
    k = key()
    assert mc.incr(k, 1, noreply=False) is None
    mc.set(k, b"10", noreply=False)
    assert mc.incr(k, 5, noreply=False) == 15
    assert mc.decr(k, 20, noreply=False) == 0
    mc.set(k, b"18446744073709551615", noreply=False)
    assert mc.incr(k, 1, noreply=False) == 0
    mc.set(k, b"100", noreply=False)
    assert mc.decr(k, 1, noreply=False) == 99
    assert mc.get(k) == b"99 "


def test_incr_non_numeric(mc):
    k = key()
    mc.set(k, b"abc", noreply=False)
    with pytest.raises(Exception) as e:
        mc.incr(k, 1, noreply=False)
    assert "non-numeric" in str(e.value)


def test_gets_cas(mc):
    k = key()
    assert mc.gets(k) == (None, None)
    mc.set(k, b"v1", noreply=False)
    v, cas = mc.gets(k)
    assert v == b"v1"
    assert mc.cas(k, b"v2", cas, noreply=False) is True
    assert mc.cas(k, b"v3", cas, noreply=False) is False
    assert mc.get(k) == b"v2"
    assert mc.cas(key("missing"), b"x", cas, noreply=False) is None
    got = mc.gets_many([k])
    assert got[k][0] == b"v2"


def test_touch(mc):
    k = key()
    assert mc.touch(k, 100, noreply=False) is False
    mc.set(k, b"v", noreply=False)
    assert mc.touch(k, 100, noreply=False) is True
    assert mc.get(k) == b"v"


def test_add_replace_append_prepend(mc):
    k = key()
    assert mc.add(k, b"b", noreply=False) is True
    assert mc.add(k, b"x", noreply=False) is False
    assert mc.append(k, b"c", noreply=False) is True
    assert mc.prepend(k, b"a", noreply=False) is True
    assert mc.get(k) == b"abc"
    assert mc.replace(k, b"z", noreply=False) is True
    m = key("missing")
    assert mc.replace(m, b"z", noreply=False) is False
    assert mc.append(m, b"z", noreply=False) is False
    assert mc.prepend(m, b"z", noreply=False) is False
    assert mc.get(k) == b"z"


def test_noreply_default(mc):
    # pymemcache's default is noreply=True for storage commands: they return True at once.
    k = key()
    assert mc.set(k, b"v") is True
    assert mc.add(k, b"x") is True  # not actually stored, but noreply cannot tell
    assert mc.get(k) == b"v"
    assert mc.delete(k) is True
    assert mc.get(k) is None


def test_flags_roundtrip(server):
    c = Client(("127.0.0.1", server.port), timeout=5)
    k = key()
    c.set(k, b"v", flags=12345, noreply=False)
    raw = c.raw_command(f"get {k}", end_tokens=b"END\r\n")
    # raw_command strips the end token
    assert raw == f"VALUE {k} 12345 1\r\nv\r\n".encode()
    c.close()


def test_binary_values(mc):
    k = key()
    v = bytes(range(256)) + b"\r\n\x00\r\nEND\r\n\x00"
    mc.set(k, v, noreply=False)
    assert mc.get(k) == v


def test_large_value(mc):
    k = key()
    v = bytes(i % 251 for i in range(900_000))
    assert mc.set(k, v, noreply=False) is True
    assert mc.get(k) == v


def test_too_large_value(mc):
    k = key()
    with pytest.raises(Exception) as e:
        mc.set(k, b"x" * (2 * 1024 * 1024), noreply=False)
    assert "too large" in str(e.value)
    # the connection still works
    mc.set(k, b"ok", noreply=False)
    assert mc.get(k) == b"ok"


def test_unicode_keys_rejected_client_side(mc):
    with pytest.raises(MemcacheIllegalInputError):
        mc.set("ключ", b"v", noreply=False)
    with pytest.raises(MemcacheIllegalInputError):
        mc.get("key with space")
    with pytest.raises(MemcacheIllegalInputError):
        mc.get("k" * 251)


def test_flush_all_and_version(server):
    c = Client(("127.0.0.1", server.port), timeout=5)
    k = key()
    c.set(k, b"v", noreply=False)
    assert c.flush_all(noreply=False) is True
    assert c.get(k) is None
    assert c.version()
    c.close()


def test_stats(server):
    c = Client(("127.0.0.1", server.port), timeout=5)
    before = c.stats()
    k = key()
    c.set(k, b"v", noreply=False)
    c.get(k)
    c.get(key("missing"))
    after = c.stats()
    assert after[b"cmd_set"] == before[b"cmd_set"] + 1
    assert after[b"get_hits"] == before[b"get_hits"] + 1
    assert after[b"get_misses"] == before[b"get_misses"] + 1
    c.close()


def test_pooled_client_threads(server):
    import threading

    pc = PooledClient(("127.0.0.1", server.port), timeout=5, max_pool_size=8)
    errors = []

    def work(t):
        try:
            for i in range(200):
                k = f"pool-{t}-{i}"
                pc.set(k, str(i).encode(), noreply=False)
                assert pc.get(k) == str(i).encode()
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    ts = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=60)
    assert not errors, errors
    pc.close()
