#!/usr/bin/env python3
"""Cache-aside load through pymemcache's HashClient against a ferrocache pool, for fault
tests (the Python twin of benches/pool_client.rs, same output).

    python3 scripts/pool_client.py --discover 127.0.0.1:11211,127.0.0.1:11212 --duration 30 \
        [--keys 2000] [--dist zipf|uniform] [--rate 500] [--refresh-ms 500]

Reads `config get cluster` from the first --discover endpoint that answers (then from the
nodes it knows), re-reads it every --refresh-ms and builds a new HashClient when the
version goes up. Each op is a get, then a set of 100 bytes when it missed. Prints once a
second what happened in that second:

    t=<secs> gets=<n> hits=<n> sets=<n> errors=<n> dead_misses=<n> dropped_sets=<n> version=<v> nodes=<n>

then `total gets=.. hits=.. sets=.. errors=.. dead_misses=.. dropped_sets=..`. `errors`
counts calls that raised; `dead_misses`/`dropped_sets` the gets/sets answered without their
node (HashClient with ignore_exc=True returns None/False for them). Exit 0 after
--duration (every call is bounded by the client timeouts); 2 when no endpoint answers.

RECOMMENDED is the HashClient configuration that keeps cache-aside working through a node
failure (see "Clients during failures" in the README).
"""

import argparse
import random
import socket
import sys
import time

from pymemcache.client.hash import HashClient

# What keeps cache-aside working through a node failure (README, "Clients during failures").
RECOMMENDED = dict(
    connect_timeout=0.25,  # a down node refuses at once; an unreachable one costs this
    timeout=0.5,  # each socket read/write: a slow cache is worth less than a miss
    ignore_exc=True,  # a failed call returns its default (get -> None, set -> False)
    retry_attempts=2,  # failed tries (one per retry_timeout) before the node is ejected
    retry_timeout=1,  # seconds between those tries; calls in between return at once
    dead_timeout=5,  # seconds before an ejected node is put back (pymemcache: 60)
)

VALUE = b"v" * 100
MAX_CONFIG_REPLY = 1 << 20


def fetch_config(addr, timeout=0.5):
    """(version, [(ip or host, port)]) from `config get cluster` at host:port."""
    host, _, port = addr.rpartition(":")
    deadline = time.monotonic() + timeout
    with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as s:
        s.sendall(b"config get cluster\r\n")
        data = b""
        while True:
            head, sep, rest = data.partition(b"\r\n")
            if sep:
                parts = head.split()
                if len(parts) != 4 or parts[:2] != [b"CONFIG", b"cluster"]:
                    raise ValueError(f"unexpected reply {head!r}")
                n = int(parts[3])
                if len(rest) >= n + 7:
                    if rest[n : n + 7] != b"\r\nEND\r\n":
                        raise ValueError("CONFIG reply not terminated by END")
                    return parse_payload(rest[:n])
            left = deadline - time.monotonic()
            if left <= 0 or len(data) > MAX_CONFIG_REPLY:
                raise TimeoutError(f"{addr}: no complete CONFIG reply")
            s.settimeout(left)
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError(f"{addr}: closed mid-reply")
            data += chunk


def parse_payload(payload):
    """`<version>\\n<host|ip|port ...>\\n` -> (version, [(ip or host, port)])."""
    lines = payload.decode().split("\n")
    version = int(lines[0])
    nodes = []
    for entry in (lines[1] if len(lines) > 1 else "").split():
        host, ip, port = entry.split("|")
        nodes.append((ip or host, int(port)))
    return version, nodes


def make_client(nodes, **overrides):
    """A HashClient over [(addr, port)] with RECOMMENDED (and `overrides`)."""
    return CountingHashClient(nodes, **dict(RECOMMENDED, **overrides))


class CountingHashClient(HashClient):
    """HashClient that counts the calls it answered without their node (pymemcache 4's
    `_run_cmd`/`_safely_run_func`: a failed or skipped call never runs `func`)."""

    def __init__(self, *args, **kwargs):
        self.unanswered = {}
        self._answered = False
        super().__init__(*args, **kwargs)

    def _safely_run_func(self, client, func, default_val, *args, **kwargs):
        def tracked(*a, **k):
            result = func(*a, **k)
            self._answered = True
            return result

        return super()._safely_run_func(client, tracked, default_val, *args, **kwargs)

    def _run_cmd(self, cmd, key, default_val, *args, **kwargs):
        self._answered = False
        result = super()._run_cmd(cmd, key, default_val, *args, **kwargs)
        if not self._answered:
            self.unanswered[cmd] = self.unanswered.get(cmd, 0) + 1
        return result


class Pool:
    """The current config and a HashClient over it, refreshed from the endpoints."""

    def __init__(self, endpoints, timeout):
        self.endpoints = endpoints
        self.timeout = timeout
        self.version, self.nodes, self.client = 0, [], None
        self.dead_misses = self.dropped_sets = 0

    def refresh(self):
        """Adopts a newer non-empty list from the first endpoint or node that answers."""
        known = [f"{h}:{p}" for h, p in self.nodes]
        for addr in self.endpoints + [a for a in known if a not in self.endpoints]:
            try:
                version, nodes = fetch_config(addr, self.timeout)
            except (OSError, ValueError):
                continue
            if nodes and version > self.version:
                self._retire()
                # default_noreply=False: a set reports what the server did, for the counts.
                self.version, self.nodes = version, nodes
                self.client = make_client(nodes, default_noreply=False)
            return True
        return False

    def _retire(self):
        if self.client is not None:
            self.dead_misses += self.client.unanswered.get("get", 0)
            self.dropped_sets += self.client.unanswered.get("set", 0)
            self.client.close()

    def counts(self):
        """(dead_misses, dropped_sets) so far, over every client built."""
        u = self.client.unanswered if self.client else {}
        return self.dead_misses + u.get("get", 0), self.dropped_sets + u.get("set", 0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--discover", required=True, help="HOST:PORT[,HOST:PORT...]")
    ap.add_argument("--duration", type=int, default=10, help="seconds")
    ap.add_argument("--keys", type=int, default=2000)
    ap.add_argument("--dist", choices=("zipf", "uniform"), default="zipf")
    ap.add_argument("--rate", type=float, default=500)
    ap.add_argument("--refresh-ms", type=int, default=500)
    a = ap.parse_args(argv)
    pool = Pool([e for e in a.discover.split(",") if e], RECOMMENDED["timeout"])
    if not pool.refresh():
        print("pool_client: no discovery endpoint answered", file=sys.stderr)
        return 2
    rng = random.Random(0x9E3779B9)
    keys, interval = max(a.keys, 1), 1.0 / max(a.rate, 1)
    total = dict(gets=0, hits=0, sets=0, errors=0)
    reported, last_counts = dict(total), pool.counts()
    start = time.monotonic()
    next_op, next_report, next_refresh = start, start + 1, start + a.refresh_ms / 1000
    t = 0
    # One report per second of the duration, the last at its end: `t` grows every second
    # and every call below is bounded by the client's timeouts.
    while t < a.duration:
        now = time.monotonic()
        if now >= next_refresh:
            pool.refresh()
            next_refresh = now + a.refresh_ms / 1000
            continue
        if now >= next_report:
            t += 1
            counts = pool.counts()
            d = {k: total[k] - reported[k] for k in total}
            print(
                f"t={t} gets={d['gets']} hits={d['hits']} sets={d['sets']} errors={d['errors']} "
                f"dead_misses={counts[0] - last_counts[0]} dropped_sets={counts[1] - last_counts[1]} "
                f"version={pool.version} nodes={len(pool.nodes)}",
                flush=True,
            )
            reported, last_counts = dict(total), counts
            next_report += 1
            continue
        if now < next_op:
            time.sleep(min(next_op, next_report, next_refresh) - now)
            continue
        next_op = max(next_op + interval, now - 1)
        u = rng.random()
        key = f"key:{min(int((u ** 3 if a.dist == 'zipf' else u) * keys), keys - 1)}"
        total["gets"] += 1
        try:
            hit = pool.client.get(key) is not None
        except Exception:
            total["errors"] += 1
            hit = False
        if hit:
            total["hits"] += 1
            continue
        total["sets"] += 1
        try:
            pool.client.set(key, VALUE)
        except Exception:
            total["errors"] += 1
    dead_misses, dropped_sets = pool.counts()
    print(
        f"total gets={total['gets']} hits={total['hits']} sets={total['sets']} "
        f"errors={total['errors']} dead_misses={dead_misses} dropped_sets={dropped_sets}",
        flush=True,
    )
    pool._retire()
    return 0


if __name__ == "__main__":
    sys.exit(main())
