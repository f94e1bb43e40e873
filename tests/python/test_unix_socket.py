"""pymemcache over a unix domain socket (`-s PATH`): Client('/path/to.sock')."""

import os
import stat

from pymemcache.client.base import Client


def client(server):
    return Client(server.unix_socket, connect_timeout=5, timeout=5)


def test_socket_file_mode(unix_server):
    st = os.lstat(unix_server.unix_socket)
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o700


def test_set_get_delete(unix_server):
    c = client(unix_server)
    assert c.set("k", b"value", expire=0)
    assert c.get("k") == b"value"
    assert c.delete("k", noreply=False)
    assert c.get("k") is None
    assert not c.delete("k", noreply=False)
    c.close()


def test_incr_decr(unix_server):
    c = client(unix_server)
    c.set("n", b"10")
    assert c.incr("n", 5) == 15
    assert c.decr("n", 20) == 0
    assert c.incr("missing", 1) is None
    c.close()


def test_many_keys(unix_server):
    c = client(unix_server)
    values = {f"key{i}": f"v{i}".encode() * (i % 50 + 1) for i in range(500)}
    assert c.set_many(values, noreply=False) == []
    got = c.get_many(list(values))
    assert got == values
    c.close()


def test_large_value(unix_server):
    c = client(unix_server)
    big = os.urandom(512 * 1024)
    assert c.set("big", big, noreply=False)
    assert c.get("big") == big
    c.close()


def test_stats_name_the_socket(unix_server):
    c = client(unix_server)
    settings = c.stats("settings")
    assert settings[b"domain_socket"] == unix_server.unix_socket.encode()
    assert c.stats()[b"curr_connections"] >= 1
    c.close()
