"""meta-memcache (a client that speaks only memcached's meta commands) end to end:
get/set/delete/touch, multi_get, delta, CAS, leases and stale-while-revalidate.
Also runnable against memcached (FERROCACHE_BIN=/usr/bin/memcached)."""

import pytest
from meta_memcache import (
    CacheClient,
    Key,
    LeasePolicy,
    ServerAddress,
    StalePolicy,
    connection_pool_factory_builder,
)


@pytest.fixture
def cache(server):
    client = CacheClient.cache_client_from_servers(
        servers=[ServerAddress(host="127.0.0.1", port=server.port)],
        connection_pool_factory_fn=connection_pool_factory_builder(),
    )
    yield client


def test_set_get_delete_touch(cache):
    assert cache.set("mm:a", b"hello", ttl=60)
    assert cache.get("mm:a") == b"hello"
    assert cache.set("mm:obj", {"x": [1, 2, 3]}, ttl=60)
    assert cache.get("mm:obj") == {"x": [1, 2, 3]}
    assert cache.touch("mm:a", ttl=120)
    assert not cache.touch("mm:missing", ttl=120)
    assert cache.delete("mm:a")
    assert cache.get("mm:a") is None
    # Binary-safe values.
    blob = b"\x00\r\n\x01" * 1000
    assert cache.set("mm:blob", blob, ttl=0)
    assert cache.get("mm:blob") == blob


def test_multi_get_and_delta(cache):
    for i in range(20):
        assert cache.set(f"mm:m{i}", f"v{i}", ttl=60)
    got = cache.multi_get([f"mm:m{i}" for i in range(25)])
    assert all(got[Key(f"mm:m{i}")] == f"v{i}" for i in range(20))
    assert all(got[Key(f"mm:m{i}")] is None for i in range(20, 25))
    assert cache.delta_initialize("mm:ctr", delta=1, initial_value=10, initial_ttl=60)
    assert cache.delta_and_get("mm:ctr", delta=5) == 15
    assert cache.delta_and_get("mm:ctr", delta=-3) == 12


def test_cas(cache):
    assert cache.set("mm:c", b"1", ttl=60)
    value, cas = cache.get_cas("mm:c")
    assert value == b"1" and cas
    assert cache.set("mm:c", b"2", ttl=60, cas_token=cas)
    assert not cache.set("mm:c", b"3", ttl=60, cas_token=cas)
    assert cache.get("mm:c") == b"2"


def test_lease_on_miss(cache):
    policy = LeasePolicy(ttl=30, miss_retries=3, miss_retry_wait=0.01, miss_max_retry_wait=0.02)
    # First caller wins the lease: gets a miss and must fill.
    assert cache.get_or_lease("mm:lease", lease_policy=policy) is None
    # A second caller finds the lease held and gives up after its retries (miss).
    waits = []
    assert cache.get_or_lease("mm:lease", lease_policy=policy, lease_wait_fn=waits.append) is None
    assert waits, "the loser waited for the winner"
    assert cache.set("mm:lease", b"filled", ttl=60)
    assert cache.get_or_lease("mm:lease", lease_policy=policy) == b"filled"


def test_stale_while_revalidate(cache):
    stale = StalePolicy(mark_stale_on_deletion_ttl=30)
    assert cache.set("mm:s", b"old", ttl=60)
    # Invalidate marks it stale instead of deleting it.
    assert cache.invalidate("mm:s", stale_policy=stale)
    policy = LeasePolicy(ttl=30, miss_retries=1)
    # The first reader wins the right to recache: it sees a miss.
    assert cache.get_or_lease("mm:s", lease_policy=policy) is None
    # Others keep getting the stale value while the winner refreshes.
    assert cache.get_or_lease("mm:s", lease_policy=policy) == b"old"
    assert cache.set("mm:s", b"new", ttl=60)
    assert cache.get("mm:s") == b"new"
