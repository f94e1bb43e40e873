#!/usr/bin/env python3
"""RSS per idle TLS connection: ferrocache -Z against memcached -Z.

For each server (alternating, ROUNDS times): start it with -Z and -c 10240 on a free port,
read its RSS (/proc/PID/status VmRSS), open N TLS connections from this process (each
completes its handshake and one `mn` round trip, then idles), read the RSS again, and report
(after - before) / N. The open-file limit is raised inside this process only (to its hard
limit) and the servers raise their own for -c.

usage: scripts/tls_idle_rss.py [-n 10000] [--rounds 1] [--servers "memcached ferrocache"]
       [--pki DIR]   (certificates from scripts/tls-test-certs.sh, made if missing)
"""

import argparse
import os
import resource
import selectors
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BINS = {
    "memcached": os.environ.get("MEMCACHED_BIN", "/usr/bin/memcached"),
    "ferrocache": os.environ.get("FERRO_BIN", str(ROOT / "target/release/ferrocache")),
}


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(name, pki, port):
    cmd = [BINS[name], "-p", str(port), "-l", "127.0.0.1", "-U", "0", "-c", "10240", "-t", "4",
           "-Z", "-o", f"ssl_chain_cert={pki}/server.crt,ssl_key={pki}/server.key"]
    if name == "memcached" and os.geteuid() == 0:
        cmd += ["-u", "root"]
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    log.seek(0)
    sys.exit(f"{name} did not start: {log.read().decode(errors='replace')}")


def open_idle(port, n, ctx, timeout=120.0):
    """n TLS connections, handshakes done in parallel (non-blocking), one `mn` each."""
    sel = selectors.DefaultSelector()
    conns, done = [], 0
    deadline = time.monotonic() + timeout
    pending = {}
    for _ in range(n):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", port))
        t = ctx.wrap_socket(s, server_hostname="localhost", do_handshake_on_connect=False)
        conns.append(t)
        pending[t] = "hs"
        sel.register(t, selectors.EVENT_READ | selectors.EVENT_WRITE)
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1):
            t = key.fileobj
            state = pending.get(t)
            try:
                if state == "hs":
                    t.do_handshake()
                    t.send(b"mn\r\n")
                    pending[t] = "mn"
                    sel.modify(t, selectors.EVENT_READ)
                elif state == "mn":
                    if t.recv(64).startswith(b"MN"):
                        del pending[t]
                        sel.unregister(t)
                        done += 1
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError, InterruptedError):
                pass
    if pending:
        raise RuntimeError(f"only {done} of {n} connections ready within {timeout} s")
    return conns


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--servers", default="memcached ferrocache")
    ap.add_argument("--pki", default="/tmp/ferro-bench-tls")
    a = ap.parse_args()
    pki = Path(a.pki)
    if not (pki / "server.crt").exists():
        subprocess.run(["bash", str(ROOT / "scripts/tls-test-certs.sh"), str(pki)], check=True)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, a.n + 1024)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    print(f"{'server':<11} {'round':>5} {'conns':>6} {'rss_before_kib':>14} {'rss_after_kib':>13} {'bytes/conn':>10}")
    for r in range(1, a.rounds + 1):
        for name in a.servers.split():
            port = free_port()
            proc = start(name, pki, port)
            try:
                time.sleep(0.3)
                before = rss_kib(proc.pid)
                conns = open_idle(port, a.n, ctx)
                time.sleep(1.0)
                after = rss_kib(proc.pid)
                print(f"{name:<11} {r:>5} {len(conns):>6} {before:>14} {after:>13} "
                      f"{(after - before) * 1024 / len(conns):>10.0f}", flush=True)
                for c in conns:
                    c.close()
            finally:
                # The server is stopped whatever happened (by its pid: ours).
                proc.kill()
                proc.wait()


if __name__ == "__main__":
    main()
