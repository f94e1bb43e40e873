#!/usr/bin/env python3
"""Fault suite for a ferrocache pool: every node is its own host.

Each node runs in its own network namespace with its own address; a bridge inside a
dedicated "switch" namespace connects them, and a client namespace holds the pollers'
sockets and the client workloads. Faults are injected with signals (kill -9, SIGSTOP /
SIGCONT) and with nft rules *inside the node namespaces* (partition, packet loss). The host's
own interfaces and nft tables are never touched: every veth is created inside the switch
namespace with its peer moved straight into a node namespace.

    sudo python3 scripts/pool_faults.py [--quick] [--scenarios kill9,sigstop,partition,loss,auth]
                                        [--server PATH] [--keep-logs DIR] [--legacy-flags]
    sudo python3 scripts/pool_faults.py --cleanup     # remove leftovers of earlier runs

Scenarios (each starts a fresh 5-node pool and waits until all 5 serve the same list):

- kill9: kill -9 node3. Time until every survivor serves a list without it (target: fail
  timeout + 2 sync intervals), the version step on each survivor (exactly +1, and no further
  bump), then node3 restarted with --cluster-join rejoins.
- sigstop: SIGSTOP node4 for 30 s (--quick: 10 s), then SIGCONT. Time to delist (same target
  as kill9) and time from SIGCONT until all 5 list it again (same bound).
- partition: nft drop rules between {node1,node2} and {node3,node4,node5} for 20 s (--quick:
  12 s). The side of 3 delists the 2 (same target as kill9), the side of 2 keeps its 5-node
  list and reports isolated, and after healing all 5 agree within 2 sync intervals.
- loss: 10% random input drop (nft numgen) in every node namespace for 60 s (--quick: 20 s).
  Nodes delisted meanwhile (target 0).
- auth: an anonymous `config set cluster` is refused (CLIENT_ERROR unauthenticated) and
  changes nothing; a 6th node joining with the wrong secret exits non-zero within 15 s with
  a message naming the secret.

During kill9, sigstop, partition and loss, two client workloads run in the client namespace:
ferrocache::client (benches/pool_client.rs) and pymemcache's HashClient
(scripts/pool_client.py), both discovering the pool with `config get cluster`. Reported:
errors (target 0 for ferrocache::client) and hit ratios before, during and after the fault.
A client tool that does not exist yet is reported as "client tool missing" (SKIP).

Every wait has a deadline, the whole run is bounded (6 minutes, --quick 3 minutes), and
namespaces and processes are removed on exit, on a failed check, on Ctrl-C and on SIGTERM.
Exit status: 0 when every check passed, 1 when one failed, 2 when the suite could not run.
Python 3 standard library only; needs root, iproute2 and nft.
"""

import argparse
import atexit
import ctypes
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUBNET = "10.231.0"  # every run has its own switch namespace, so runs never clash
PORT = 11211
CLIENT_HOST = 100
NODES = 5
SYNC = 1  # --cluster-sync-interval
FAIL_TIMEOUT = 3  # --cluster-fail-timeout
NS_RE = re.compile(r"^fc(\d+)-(n\d+|c|sw)$")
FAULT_TABLE = "fcfault"

now = time.monotonic


def say(msg=""):
    print(msg, flush=True)


class SuiteError(Exception):
    """The suite itself could not run (not a failed check)."""


class RunTimeout(Exception):
    """The whole run exceeded its time bound."""


# ---------------------------------------------------------------- processes and namespaces


def run(cmd, input=None, check=True, timeout=30):
    r = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise SuiteError(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.strip()}")
    return r


def ip(*args, check=True):
    return run(["ip", *args], check=check)


def netns_list():
    r = ip("netns", "list", check=False)
    return [line.split()[0] for line in r.stdout.splitlines() if line.strip()]


def netns_pids(ns):
    r = ip("netns", "pids", ns, check=False)
    return [int(p) for p in r.stdout.split() if p.isdigit()]


def kill_pid(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def remove_namespaces(names):
    """SIGKILL whatever still runs in the namespaces, then delete them."""
    for ns in names:
        for pid in netns_pids(ns):
            if pid != os.getpid():
                kill_pid(pid)
    for ns in names:
        for _ in range(20):
            if ip("netns", "del", ns, check=False).returncode == 0 or ns not in netns_list():
                break
            time.sleep(0.1)


_libc = ctypes.CDLL(None, use_errno=True)
_CLONE_NEWNET = 0x40000000
_setns_lock = threading.Lock()


def _setns(fd):
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"setns: {os.strerror(e)}")


def socket_in_ns(ns):
    """A TCP socket created in network namespace `ns` (only the calling thread switches,
    and switches back before returning; the socket keeps its namespace)."""
    with _setns_lock:
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        try:
            target = os.open(f"/run/netns/{ns}", os.O_RDONLY)
            try:
                _setns(target)
                try:
                    return socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                finally:
                    _setns(own)
            finally:
                os.close(target)
        finally:
            os.close(own)


def connect_in_ns(ns, addr, timeout):
    s = socket_in_ns(ns)
    try:
        s.settimeout(timeout)
        s.connect((addr, PORT))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s
    except BaseException:
        s.close()
        raise


def read_reply(s, ends=(b"END\r\n",), limit=1 << 20):
    buf = b""
    while True:
        if any(buf.endswith(e) for e in ends):
            return buf
        if buf.startswith((b"ERROR", b"CLIENT_ERROR", b"SERVER_ERROR")) and buf.endswith(b"\r\n"):
            return buf
        if len(buf) > limit:
            raise ValueError("reply too long")
        chunk = s.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk


def request(ns, addr, payload, ends=(b"END\r\n",), timeout=2.0):
    with connect_in_ns(ns, addr, timeout) as s:
        s.sendall(payload)
        return read_reply(s, ends)


def parse_config(reply):
    """(version, frozenset of 'host|ip|port') from a `config get cluster` reply."""
    m = re.match(rb"CONFIG cluster \d+ (\d+)\r\n", reply)
    if not m:
        raise ValueError(f"unexpected reply {reply[:60]!r}")
    n = int(m.group(1))
    payload = reply[m.end() : m.end() + n].decode()
    lines = payload.split("\n")
    return int(lines[0]), frozenset(lines[1].split()) if len(lines) > 1 else frozenset()


def tcp_probe(ns, addr, timeout=1.0):
    try:
        connect_in_ns(ns, addr, timeout).close()
        return True
    except OSError:
        return False


class Net:
    """The switch namespace with a bridge, node namespaces n1..n6 and a client namespace."""

    def __init__(self, run_id, members):
        self.prefix = f"fc{run_id}-"
        self.switch = self.prefix + "sw"
        self.client = self.prefix + "c"
        self.members = members  # node indexes
        self.created = []

    def ns(self, i):
        return f"{self.prefix}n{i}"

    @staticmethod
    def addr(i):
        return f"{SUBNET}.{i}"

    def _add(self, ns):
        ip("netns", "add", ns)
        self.created.append(ns)
        ip("-n", ns, "link", "set", "lo", "up")

    def create(self):
        self._add(self.switch)
        ip("-n", self.switch, "link", "add", "br0", "type", "bridge", "stp_state", "0")
        ip("-n", self.switch, "link", "set", "br0", "up")
        hosts = [(self.ns(i), i, f"p{i}") for i in self.members]
        hosts.append((self.client, CLIENT_HOST, "pc"))
        for ns, host, port in hosts:
            self._add(ns)
            # The veth is made inside the switch namespace and its peer goes straight into
            # the host's namespace: the root namespace never holds either end.
            ip("-n", self.switch, "link", "add", port, "type", "veth", "peer", "name", "eth0",
               "netns", ns)
            ip("-n", self.switch, "link", "set", port, "master", "br0", "up")
            ip("-n", ns, "addr", "add", f"{self.addr(host)}/24", "dev", "eth0")
            ip("-n", ns, "link", "set", "eth0", "up")

    def destroy(self):
        remove_namespaces(list(reversed(self.created)))
        self.created = []

    def nft(self, i, script):
        run(["ip", "netns", "exec", self.ns(i), "nft", "-f", "-"], input=script)

    def clear_faults(self, i):
        run(["ip", "netns", "exec", self.ns(i), "nft", "delete", "table", "inet", FAULT_TABLE],
            check=False)

    def fault_counters(self, i):
        """Packets dropped so far by the fault rules in node i's namespace."""
        r = run(["ip", "netns", "exec", self.ns(i), "nft", "list", "table", "inet", FAULT_TABLE],
                check=False)
        return sum(int(n) for n in re.findall(r"counter packets (\d+)", r.stdout))


def leftover_namespaces():
    """Namespaces of earlier runs whose process is gone."""
    out = []
    for ns in netns_list():
        m = NS_RE.match(ns)
        if not m:
            continue
        pid = int(m.group(1))
        if pid != os.getpid() and _alive_suite(pid):
            continue
        out.append(ns)
    return out


def _alive_suite(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"pool_faults" in f.read()
    except OSError:
        return False


# ---------------------------------------------------------------- cleanup registry


class Cleanup:
    def __init__(self):
        self.procs = []
        self.net = None
        self.done = False
        self.lock = threading.Lock()

    def track(self, proc):
        self.procs.append(proc)
        return proc

    def run(self):
        with self.lock:
            if self.done:
                return
            self.done = True
        old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            for p in self.procs:
                if p.poll() is None:
                    kill_pid(p.pid)
            for p in self.procs:
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
            if self.net is not None:
                self.net.destroy()
        finally:
            for s, h in old.items():
                signal.signal(s, h)


CLEANUP = Cleanup()


# ---------------------------------------------------------------- nodes and the pool


def entry(i):
    return f"node{i}|{Net.addr(i)}|{PORT}"


def full_list(members):
    return frozenset(entry(i) for i in members)


class Node:
    def __init__(self, ctx, i, log_path):
        self.ctx, self.i, self.log_path = ctx, i, log_path
        self.proc = None
        self.started = None

    def start(self, secret_file, join=True, extra=()):
        a = Net.addr(self.i)
        cmd = [self.ctx.server, "-p", str(PORT), "-l", a, "-U", "0", "-u", "root",
               "--cluster-advertise", entry(self.i), "--cluster-sync-interval", str(SYNC)]
        if self.ctx.legacy:
            cmd += ["--cluster-admin"]  # the current binary joins by pushing `config set`
        else:
            cmd += ["--cluster-secret-file", secret_file, "--cluster-fail-timeout",
                    str(FAIL_TIMEOUT)]
        if join:
            cmd += ["--cluster-join", f"{Net.addr(1)}:{PORT}"]
        cmd += [a for a in extra if not (self.ctx.legacy and a == "--cluster-admin")]
        logf = open(self.log_path, "ab")
        logf.write(f"# {' '.join(cmd)}\n".encode())
        logf.flush()
        self.proc = CLEANUP.track(subprocess.Popen(
            ["ip", "netns", "exec", self.ctx.net.ns(self.i), *cmd], stdout=logf,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True))
        logf.close()
        self.started = now()
        return self

    def signal(self, sig):
        if self.proc is not None and self.proc.poll() is None:
            kill_pid(self.proc.pid, sig)

    def kill(self):
        if self.proc is not None:
            self.signal(signal.SIGKILL)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def answers(self, timeout=0.5):
        try:
            parse_config(request(self.ctx.net.client, Net.addr(self.i),
                                 b"config get cluster\r\n", timeout=timeout))
            return True
        except (OSError, ValueError):
            return False

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""


def wait_for(pred, timeout, step=0.1):
    """Polls pred() until it is true or `timeout` seconds pass; returns the time taken or
    None."""
    t0 = now()
    while True:
        if pred():
            return now() - t0
        if now() - t0 >= timeout:
            return None
        time.sleep(step)


class Pool:
    def __init__(self, ctx, logdir, members=range(1, NODES + 1), extra=None):
        self.ctx = ctx
        self.extra = extra or {}  # node index -> more flags
        self.members = list(members)
        self.logdir = logdir
        self.nodes = {i: Node(ctx, i, os.path.join(logdir, f"node{i}.log")) for i in self.members}

    def start(self):
        """Starts node1 (the seed) then the others one by one; returns whether each answered
        `config get cluster` (10 s each at most)."""
        for i in self.members:
            n = self.nodes[i].start(self.ctx.secret_file, join=(i != 1),
                                    extra=self.extra.get(i, ()))
            if wait_for(lambda: n.proc.poll() is not None or n.answers(), 10) is None \
                    or n.proc.poll() is not None:
                return f"node{i} did not answer (exit {n.proc.poll()}); log: " + \
                    " | ".join(n.log_text().strip().splitlines()[-3:])
        return None

    def restart(self, i):
        self.nodes[i].kill()
        self.nodes[i].start(self.ctx.secret_file, join=(i != 1), extra=self.extra.get(i, ()))

    def stop(self):
        for n in self.nodes.values():
            n.kill()


def one_config(ctx, i, timeout=1.0):
    try:
        return parse_config(request(ctx.net.client, Net.addr(i), b"config get cluster\r\n",
                                    timeout=timeout))
    except (OSError, ValueError):
        return None


def fmt_cfg(c):
    if c is None:
        return "no answer"
    return f"v{c[0]} " + ",".join(sorted(e.split("|")[0] for e in c[1]))


def configs(ctx, members):
    return "; ".join(f"node{i}: {fmt_cfg(one_config(ctx, i))}" for i in members)


def agree(ctx, members, expect):
    """All `members` serve the same version and the list `expect`; returns the version."""
    seen = [one_config(ctx, i) for i in members]
    if any(c is None or c[1] != expect for c in seen):
        return None
    versions = {c[0] for c in seen}
    return versions.pop() if len(versions) == 1 else None


# ---------------------------------------------------------------- the poller


class Poller:
    """Polls every node's `config get cluster` every 100 ms from the client namespace over a
    kept-alive connection (reconnecting after any error) and keeps every answer."""

    def __init__(self, ctx, members, interval=0.1, timeout=1.0):
        self.ctx, self.members = ctx, list(members)
        self.interval, self.timeout = interval, timeout
        self.samples = {i: [] for i in self.members}  # (t, version, nodes) or (t, None, err)
        self.stop_flag = threading.Event()
        self.threads = []

    def start(self):
        for i in self.members:
            t = threading.Thread(target=self._loop, args=(i,), daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(timeout=3)

    def _loop(self, i):
        s = None
        while not self.stop_flag.is_set():
            t0 = now()
            try:
                if s is None:
                    s = connect_in_ns(self.ctx.net.client, Net.addr(i), self.timeout)
                s.sendall(b"config get cluster\r\n")
                v, nodes = parse_config(read_reply(s))
                self.samples[i].append((now(), v, nodes))
            except (OSError, ValueError) as e:
                self.samples[i].append((now(), None, str(e) or type(e).__name__))
                if s is not None:
                    s.close()
                    s = None
            self.stop_flag.wait(max(0.0, self.interval - (now() - t0)))
        if s is not None:
            s.close()

    def ok(self, i, since=0.0, until=float("inf")):
        return [x for x in list(self.samples[i]) if x[1] is not None and since <= x[0] < until]

    def latest(self, i, since=0.0):
        ok = self.ok(i, since)
        return ok[-1] if ok else None

    def first(self, i, since, pred):
        for x in self.ok(i, since):
            if pred(x):
                return x
        return None

    def all_latest(self, members, since, pred):
        for i in members:
            x = self.latest(i, since)
            if x is None or not pred(x):
                return False
        return True

    def wait_all(self, members, since, pred, timeout):
        """Waits until the newest answer of every member since `since` satisfies pred;
        returns the time (since `since`) at which the last member first satisfied it, or
        None on timeout."""
        if wait_for(lambda: self.all_latest(members, since, pred), timeout) is None:
            return None
        firsts = [self.first(i, since, pred) for i in members]
        return max(x[0] for x in firsts) - since

    def wait_agree(self, members, since, expect, timeout):
        """Waits until the newest answers of all members since `since` are the list `expect`
        at one version; returns the seconds from `since` until then, or None."""

        def agreed():
            xs = [self.latest(i, since) for i in members]
            return all(x is not None and x[2] == expect for x in xs) and \
                len({x[1] for x in xs}) == 1

        if wait_for(agreed, max(0.0, since + timeout - now()), step=0.05) is None:
            return None
        return now() - since

    def errors(self, i, since, until):
        return sum(1 for x in list(self.samples[i]) if x[1] is None and since <= x[0] < until)


# ---------------------------------------------------------------- client workloads

LINE_RE = re.compile(r"(\w+)=(\d+)")


class ClientRun:
    def __init__(self, ctx, name, argv, log_path):
        self.ctx, self.name, self.argv, self.log_path = ctx, name, argv, log_path
        self.lines = []  # (t received, {field: n})
        self.total = None
        self.proc = None
        self.reader = None
        self.stopped_by_us = False

    def start(self):
        self.log = open(self.log_path, "w")
        self.proc = CLEANUP.track(subprocess.Popen(
            ["ip", "netns", "exec", self.ctx.net.client, *self.argv], stdout=subprocess.PIPE,
            stderr=self.log, stdin=subprocess.DEVNULL, text=True, start_new_session=True))
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        return self

    def _read(self):
        for line in self.proc.stdout:
            self.log.write(line)
            self.log.flush()
            fields = {k: int(v) for k, v in LINE_RE.findall(line)}
            if line.startswith("total"):
                self.total = fields
            elif "gets" in fields:
                self.lines.append((now(), fields))

    def stop(self):
        if self.proc.poll() is None:
            self.stopped_by_us = True
            kill_pid(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                kill_pid(self.proc.pid)
                self.proc.wait(timeout=5)
        self.reader.join(timeout=3)
        self.log.close()

    def per_second(self):
        """Per-interval counts (cumulative lines are turned into differences)."""
        rows = list(self.lines)
        keys = ("gets", "hits", "errors")
        cumulative = len(rows) > 2 and all(
            rows[k][1].get(f, 0) >= rows[k - 1][1].get(f, 0) for k in range(1, len(rows))
            for f in keys)
        if cumulative and self.total and sum(r[1].get("gets", 0) for r in rows) > \
                1.5 * max(1, self.total.get("gets", 0)):
            out, prev = [], {f: 0 for f in keys}
            for t, r in rows:
                out.append((t, {f: r.get(f, 0) - prev[f] for f in keys}))
                prev = {f: r.get(f, 0) for f in keys}
            return out
        return rows

    def window(self, start, end):
        g = h = e = 0
        for t, r in self.per_second():
            mid = t - 0.5  # a line reports the second before it was printed
            if start <= mid < end:
                g += r.get("gets", 0)
                h += r.get("hits", 0)
                e += r.get("errors", 0)
        return g, h, e


class Workload:
    """Both client tools, run in the client namespace while a fault happens."""

    def __init__(self, ctx, sc, logdir, duration):
        self.ctx, self.sc = ctx, sc
        self.runs = []
        self.t_start = now()
        self.marks = {}
        discover = ",".join(f"{Net.addr(i)}:{PORT}" for i in range(1, NODES + 1))
        common = ["--discover", discover, "--duration", str(int(duration)), "--keys",
                  str(ctx.args.keys), "--rate", str(ctx.args.rate)]
        for name, argv in ctx.client_tools:
            if argv is None:
                continue
            self.runs.append(ClientRun(ctx, name, argv + common,
                                       os.path.join(logdir, f"client-{name}.log")).start())

    def mark(self, name, t=None):
        self.marks[name] = now() if t is None else t

    def finish(self):
        t_end = now()
        for r in self.runs:
            r.stop()
        sc = self.sc
        for name, argv in self.ctx.client_tools:
            if argv is None:
                sc.check(f"client {name}", None, "client tool missing")
        fault, heal = self.marks.get("fault", t_end), self.marks.get("heal", t_end)
        phases = [("before", self.t_start + 1.0, fault), ("during", fault, heal),
                  ("after", heal, t_end + 1.0)]
        for r in self.runs:
            stats = [r.window(a, b) for _, a, b in phases]
            errors = [e for _, _, e in stats]
            ratios = [f"{h / g:.2f}" if g else "-" for g, h, _ in stats]
            gets = [str(g) for g, _, _ in stats]
            total_err = r.total.get("errors") if r.total else sum(errors)
            sc.figure(f"{r.name}: gets before/during/after", "/".join(gets), "")
            sc.figure(f"{r.name}: errors before/during/after", "/".join(map(str, errors)),
                      "0" if r.name == "ferrocache::client" else "")
            sc.figure(f"{r.name}: hit ratio before/during/after", "/".join(ratios), "")
            rc = r.proc.returncode
            ran = bool(r.lines)
            if r.name == "ferrocache::client":
                sc.check(f"{r.name}: no request raised an error", ran and total_err == 0,
                         f"{total_err} errors" if ran else f"no output (exit {rc})")
            else:
                sc.check(f"{r.name}: ran during the fault", ran,
                         f"{total_err} errors" if ran else f"no output (exit {rc})")
            if not r.stopped_by_us and rc not in (0, None):
                sc.check(f"{r.name}: exit status", False, f"exit {rc}")


# ---------------------------------------------------------------- results


class Scenario:
    def __init__(self, name, title):
        self.name, self.title = name, title
        self.figures = []
        self.checks = []

    def figure(self, label, value, target):
        self.figures.append((label, value, target))

    def check(self, what, ok, detail=""):
        self.checks.append((what, ok, detail))
        word = {True: "PASS", False: "FAIL", None: "SKIP"}[ok]
        say(f"  {word} {self.name}: {what}" + (f" ({detail})" if detail else ""))

    def failed(self):
        return any(ok is False for _, ok, _ in self.checks)

    def table(self):
        if not self.figures:
            return
        w = max(len(f[0]) for f in self.figures)
        wv = max(len(str(f[1])) for f in self.figures)
        say(f"  {'figure':<{w}}  {'value':<{wv}}  target")
        for label, value, target in self.figures:
            say(f"  {label:<{w}}  {str(value):<{wv}}  {target}")


def secs(x):
    return "-" if x is None else f"{x:.1f} s"


# ---------------------------------------------------------------- scenarios


class Ctx:
    pass


def fresh_pool(ctx, sc, logdir, extra=None):
    pool = ctx.pool = Pool(ctx, logdir, extra=extra)
    t0 = now()
    err = pool.start()
    if err:
        sc.check("pool of 5 nodes starts", False, err)
        return pool, None
    expect = full_list(pool.members)
    took = wait_for(lambda: agree(ctx, pool.members, expect) is not None, ctx.converge_timeout,
                    step=0.2)
    v = agree(ctx, pool.members, expect) if took is not None else None
    sc.check("pool of 5 nodes starts and all serve the same 5-node list", v is not None,
             f"version {v} after {now() - t0:.1f} s" if v is not None else
             f"not within {ctx.converge_timeout} s: " + configs(ctx, pool.members))
    return pool, v


def delist_target():
    return FAIL_TIMEOUT + 2 * SYNC


def sc_kill9(ctx, sc, logdir):
    pool, v0 = fresh_pool(ctx, sc, logdir)
    if v0 is None:
        return pool
    victim, survivors = 3, [1, 2, 4, 5]
    gone = entry(victim)
    poller = ctx.poller = Poller(ctx, pool.members).start()
    wl = ctx.workload = Workload(ctx, sc, logdir, ctx.pre + ctx.settle + ctx.post + 5)
    time.sleep(ctx.pre)
    t_fault = now()
    wl.mark("fault", t_fault)
    pool.nodes[victim].signal(signal.SIGKILL)
    took = poller.wait_all(survivors, t_fault, lambda x: gone not in x[2], ctx.settle)
    wl.mark("heal")
    rc = pool.nodes[victim].proc.poll()
    sc.check(f"node{victim} killed (exit by SIGKILL, stops answering)",
             rc == -signal.SIGKILL and not pool.nodes[victim].answers(),
             f"exit {rc}, failed polls since {poller.errors(victim, t_fault, now())}")
    sc.figure(f"kill -9 node{victim} -> every survivor lists without it", secs(took),
              f"<= {delist_target():.1f} s")
    sc.check(f"survivors delist node{victim} within fail timeout + 2 sync intervals",
             took is not None and took <= delist_target(), secs(took))
    steps = []
    for i in survivors:
        x = poller.first(i, t_fault, lambda x: gone not in x[2])
        steps.append(None if x is None else x[1] - v0)
    sc.figure("version step on survivors (n1,n2,n4,n5)",
              ",".join("-" if s is None else f"{s:+d}" for s in steps), "+1 each")
    sc.check("version step is exactly +1 on every survivor", all(s == 1 for s in steps),
             ",".join(map(str, steps)))
    time.sleep(ctx.post)
    final = [poller.latest(i) for i in survivors]
    finals = [None if x is None else x[1] - v0 for x in final]
    sc.check("no further version bump after the delisting", all(s == 1 for s in finals),
             "final steps " + ",".join(map(str, finals)))
    wl.finish()
    # A restarted node with --cluster-join comes back.
    t_restart = now()
    pool.restart(victim)
    expect = full_list(pool.members)
    took = poller.wait_all(pool.members, t_restart, lambda x: x[2] == expect, ctx.settle)
    sc.figure(f"restart node{victim} -> all 5 list it", secs(took), "")
    if steps and all(s is None for s in steps):
        sc.check(f"restarted node{victim} rejoins", False,
                 "not measured: the node was never delisted")
    else:
        sc.check(f"restarted node{victim} rejoins", took is not None, secs(took))
    return pool


def proc_state(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("State:"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "gone"


def sc_sigstop(ctx, sc, logdir):
    pool, v0 = fresh_pool(ctx, sc, logdir)
    if v0 is None:
        return pool
    victim, others = 4, [1, 2, 3, 5]
    gone = entry(victim)
    expect = full_list(pool.members)
    poller = ctx.poller = Poller(ctx, pool.members).start()
    wl = ctx.workload = Workload(ctx, sc, logdir,
                                 ctx.pre + ctx.stop_for + ctx.settle + ctx.post + 5)
    time.sleep(ctx.pre)
    t_stop = now()
    wl.mark("fault", t_stop)
    pool.nodes[victim].signal(signal.SIGSTOP)
    time.sleep(0.3)
    state = proc_state(pool.nodes[victim].proc.pid)
    sc.check(f"node{victim} stopped (state T, stops answering)",
             state.startswith("T") and not pool.nodes[victim].answers(), state)
    delist = poller.wait_all(others, t_stop, lambda x: gone not in x[2], ctx.stop_for)
    time.sleep(max(0.0, t_stop + ctx.stop_for - now()))
    t_cont = now()
    pool.nodes[victim].signal(signal.SIGCONT)
    relist = poller.wait_agree(pool.members, t_cont, expect, ctx.settle)
    wl.mark("heal")
    sc.figure(f"SIGSTOP node{victim} -> others list without it", secs(delist),
              f"<= {delist_target():.1f} s")
    sc.figure(f"SIGCONT after {ctx.stop_for} s -> all 5 list it again", secs(relist),
              f"<= {delist_target():.1f} s")
    vs = sorted({x[1] for i in pool.members for x in [poller.latest(i)] if x})
    sc.figure("versions served at the end", ",".join(map(str, vs)), f"from {v0}")
    sc.check(f"others delist the stopped node{victim} within fail timeout + 2 sync intervals",
             delist is not None and delist <= delist_target(), secs(delist))
    if delist is None:
        sc.check(f"node{victim} relisted after SIGCONT", False,
                 "not measured: the node was never delisted")
    else:
        sc.check(f"node{victim} relisted after SIGCONT within fail timeout + 2 sync intervals",
                 relist is not None and relist <= delist_target(), secs(relist))
    time.sleep(ctx.post)
    wl.finish()
    return pool


def partition_rules(own, other):
    others = ", ".join(Net.addr(i) for i in other)
    return (f"table inet {FAULT_TABLE} {{\n"
            f"  chain in {{ type filter hook input priority 0; policy accept;\n"
            f"    iifname \"eth0\" ip saddr {{ {others} }} counter drop\n  }}\n"
            f"  chain out {{ type filter hook output priority 0; policy accept;\n"
            f"    oifname \"eth0\" ip daddr {{ {others} }} counter drop\n  }}\n"
            f"}}\n")


def stats_cluster(ctx, i):
    try:
        text = request(ctx.net.client, Net.addr(i), b"stats cluster\r\n").decode(errors="replace")
    except (OSError, ValueError) as e:
        return {"error": str(e)}
    out = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "STAT":
            out[parts[1]] = " ".join(parts[2:])
    return out


def sc_partition(ctx, sc, logdir):
    pool, v0 = fresh_pool(ctx, sc, logdir)
    if v0 is None:
        return pool
    small, big = [1, 2], [3, 4, 5]
    expect = full_list(pool.members)
    big_list = full_list(big)
    poller = ctx.poller = Poller(ctx, pool.members).start()
    wl = ctx.workload = Workload(ctx, sc, logdir,
                                 ctx.pre + ctx.partition_for + ctx.settle + ctx.post + 5)
    time.sleep(ctx.pre)
    t_fault = now()
    wl.mark("fault", t_fault)
    for i in small:
        ctx.net.nft(i, partition_rules(i, big))
    for i in big:
        ctx.net.nft(i, partition_rules(i, small))
    # The partition is in effect: node1 cannot reach node3, each side reaches itself, the
    # client namespace reaches everyone.
    probes = {
        "node1->node3 blocked": not tcp_probe(ctx.net.ns(1), Net.addr(3)),
        "node4->node2 blocked": not tcp_probe(ctx.net.ns(4), Net.addr(2)),
        "node1->node2 open": tcp_probe(ctx.net.ns(1), Net.addr(2)),
        "node3->node5 open": tcp_probe(ctx.net.ns(3), Net.addr(5)),
        "client->node1,node3 open": tcp_probe(ctx.net.client, Net.addr(1))
        and tcp_probe(ctx.net.client, Net.addr(3)),
    }
    sc.check("partition in effect (TCP probes)", all(probes.values()),
             ", ".join(k for k, ok in probes.items() if not ok) or "all as expected")
    delist = poller.wait_all(big, t_fault, lambda x: x[2] == big_list, ctx.partition_for - 1)
    time.sleep(max(0.0, t_fault + ctx.partition_for - 1.5 - now()))
    isolated = {i: stats_cluster(ctx, i).get("cluster_isolated") for i in small}
    time.sleep(max(0.0, t_fault + ctx.partition_for - now()))
    t_heal = now()
    for i in pool.members:
        ctx.net.clear_faults(i)
    kept = [x for i in small for x in poller.ok(i, t_fault, t_heal)]
    changed = [x for x in kept if x[2] != expect or x[1] != v0]
    heal = poller.wait_agree(pool.members, t_heal, expect, ctx.settle)
    wl.mark("heal")
    sc.figure("partition -> side of 3 lists only itself", secs(delist),
              f"<= {delist_target():.1f} s")
    sc.figure("side of 2: answers that changed / answers", f"{len(changed)}/{len(kept)}", "0/n")
    sc.figure("side of 2: stats cluster_isolated (n1,n2)",
              ",".join(str(isolated[i]) for i in small), "1,1")
    sc.figure("heal -> all 5 agree on the 5-node list", secs(heal), f"<= {2 * SYNC:.1f} s")
    sc.check("side of 3 delists the side of 2 within fail timeout + 2 sync intervals",
             delist is not None and delist <= delist_target(), secs(delist))
    sc.check("side of 2 keeps its list", bool(kept) and not changed,
             f"{len(changed)} of {len(kept)} answers differed" if kept else "no answers")
    logs_isolated = all("isolated" in pool.nodes[i].log_text() for i in small)
    sc.check("side of 2 reports isolated (stats cluster_isolated 1, log 'isolated')",
             all(isolated[i] == "1" for i in small) and logs_isolated,
             f"stats {isolated}, log {'yes' if logs_isolated else 'no'}")
    sc.check("after healing all 5 agree within 2 sync intervals",
             heal is not None and heal <= 2 * SYNC, secs(heal))
    time.sleep(ctx.post)
    wl.finish()
    return pool


def loss_rules():
    return (f"table inet {FAULT_TABLE} {{\n"
            f"  chain in {{ type filter hook input priority 0; policy accept;\n"
            f"    iifname \"eth0\" numgen random mod 10 == 0 counter drop\n  }}\n"
            f"}}\n")


def sc_loss(ctx, sc, logdir):
    pool, v0 = fresh_pool(ctx, sc, logdir)
    if v0 is None:
        return pool
    expect = full_list(pool.members)
    poller = ctx.poller = Poller(ctx, pool.members, timeout=2.0).start()
    wl = ctx.workload = Workload(ctx, sc, logdir,
                                 ctx.pre + ctx.loss_for + ctx.settle + ctx.post + 5)
    time.sleep(ctx.pre)
    t_fault = now()
    wl.mark("fault", t_fault)
    for i in pool.members:
        ctx.net.nft(i, loss_rules())
    time.sleep(ctx.loss_for)
    dropped = {i: ctx.net.fault_counters(i) for i in pool.members}
    t_heal = now()
    for i in pool.members:
        ctx.net.clear_faults(i)
    wl.mark("heal", t_heal)
    # Lists served during the loss and up to 2 sync intervals after it.
    time.sleep(2 * SYNC)
    window = [x for i in pool.members for x in poller.ok(i, t_fault, now())]
    delisted = sorted(set().union(*[expect - x[2] for x in window])) if window else []
    versions = sorted({x[1] for x in window})
    polls_failed = sum(poller.errors(i, t_fault, t_heal) for i in pool.members)
    settle = poller.wait_all(pool.members, t_heal, lambda x: x[2] == expect, ctx.settle)
    sc.figure(f"nodes delisted during {ctx.loss_for} s of 10% loss", len(delisted), "0")
    sc.figure("versions served meanwhile", ",".join(map(str, versions)), f"{v0}")
    sc.figure("packets dropped by the loss rules (n1..n5)",
              ",".join(str(dropped[i]) for i in pool.members), "> 0")
    sc.figure("config polls that failed (timeouts)", polls_failed, "")
    sc.check("loss rules in effect (nft counters)", all(d > 0 for d in dropped.values()),
             ",".join(str(dropped[i]) for i in pool.members))
    sc.check("no node delisted under 10% loss", not delisted,
             ", ".join(d.split("|")[0] for d in delisted) or f"{len(window)} answers")
    sc.check("all 5 list all 5 after the loss", settle is not None, secs(settle))
    time.sleep(ctx.post)
    wl.finish()
    return pool


def sc_auth(ctx, sc, logdir):
    # node5 also runs with --cluster-admin (operator config set|delete allowed, but only
    # when authenticated).
    admin = 5
    pool, v0 = fresh_pool(ctx, sc, logdir, extra={admin: ["--cluster-admin"]})
    if v0 is None:
        return pool
    expect = full_list(pool.members)
    evil = f"{v0 + 100}\nevil|{SUBNET}.99|{PORT}\n".encode()

    def anonymous_set(i):
        try:
            return request(ctx.net.client, Net.addr(i),
                           b"config set cluster 0 %d\r\n" % len(evil) + evil + b"\r\n",
                           ends=(b"\r\n",)).decode(errors="replace").strip()
        except (OSError, ValueError) as e:
            return f"(no reply: {e})"

    plain, with_admin = anonymous_set(1), anonymous_set(admin)
    sc.figure("anonymous config set cluster, node1", plain, "CLIENT_ERROR ...")
    sc.figure(f"anonymous config set cluster, node{admin} (--cluster-admin)", with_admin,
              "CLIENT_ERROR unauthenticated")
    sc.check("anonymous config set cluster refused by a pool node", plain.startswith(
        "CLIENT_ERROR"), plain)
    sc.check(f"anonymous config set cluster refused by node{admin} with --cluster-admin "
             "(CLIENT_ERROR unauthenticated)", with_admin == "CLIENT_ERROR unauthenticated",
             with_admin)
    time.sleep(2 * SYNC + 0.5)
    unchanged = agree(ctx, pool.members, expect) == v0
    sc.check("the pool's list is unchanged after it", unchanged,
             configs(ctx, pool.members) if not unchanged else f"version {v0}")
    # A 6th node with the wrong secret.
    bad = os.path.join(ctx.tmp, "wrong-secret")
    with open(bad, "w") as f:
        f.write(secrets.token_hex(16) + "\n")
    os.chmod(bad, 0o600)
    n6 = Node(ctx, 6, os.path.join(logdir, "node6.log"))
    pool.nodes[6] = n6  # stopped with the pool
    saved, ctx.secret_file = ctx.secret_file, bad
    try:
        n6.start(bad, join=True)
    finally:
        ctx.secret_file = saved
    took = wait_for(lambda: n6.proc.poll() is not None, 20)
    rc = n6.proc.poll()
    text = n6.log_text()
    said = [ln for ln in text.splitlines() if "secret" in ln.lower() and not ln.startswith("#")]
    sc.figure("node6 (wrong secret): exit status, time", f"{rc}, {secs(took)}",
              "non-zero, <= 16 s (~15 s)")
    sc.figure("node6 message", (said[-1][:70] if said else "-"), "names the secret")
    sc.check("a join with the wrong secret exits non-zero within ~15 s",
             rc not in (None, 0) and took is not None and took <= 16,
             f"exit {rc} after {secs(took)}")
    sc.check("its message names the secret", bool(said),
             said[-1][:120] if said else "no line with 'secret' in its output")
    v = agree(ctx, pool.members, expect)
    sc.check("the pool never lists node6", v is not None,
             f"version {v}" if v is not None else configs(ctx, pool.members))
    return pool


SCENARIOS = {
    "kill9": ("kill -9 one node", sc_kill9),
    "sigstop": ("SIGSTOP one node, then SIGCONT", sc_sigstop),
    "partition": ("partition 2 | 3, then heal", sc_partition),
    "loss": ("10% packet loss on every link", sc_loss),
    "auth": ("anonymous config set, wrong secret", sc_auth),
}


# ---------------------------------------------------------------- set-up and main


def find_client_tools(ctx):
    tools = []
    bench = os.path.join(ROOT, "benches", "pool_client.rs")
    if ctx.args.no_clients:
        return [("ferrocache::client", None), ("pymemcache", None)]
    if ctx.args.client_rust:
        tools.append(("ferrocache::client", [os.path.abspath(ctx.args.client_rust)]))
    elif not os.path.exists(bench):
        say("client tool missing: benches/pool_client.rs")
        tools.append(("ferrocache::client", None))
    else:
        say("== cargo bench --bench pool_client --no-run")
        r = subprocess.run(["cargo", "bench", "--bench", "pool_client", "--no-run",
                            "--message-format=json"], cwd=ROOT, capture_output=True, text=True)
        exe = re.findall(r'"executable":"([^"]*pool_client-[^"]*)"', r.stdout)
        if r.returncode != 0 or not exe:
            raise SuiteError("cargo bench --bench pool_client --no-run failed:\n"
                             + r.stderr[-2000:])
        tools.append(("ferrocache::client", [exe[-1]]))
    py = os.path.join(ROOT, ".venv", "bin", "python")
    script = os.path.abspath(ctx.args.client_py or os.path.join(ROOT, "scripts",
                                                                 "pool_client.py"))
    if ctx.args.client_py and not os.access(py, os.X_OK):
        py = sys.executable
    if not os.path.exists(script):
        say("client tool missing: scripts/pool_client.py")
        tools.append(("pymemcache", None))
    elif not os.access(py, os.X_OK):
        say("client tool missing: .venv/bin/python (run scripts/test.sh once)")
        tools.append(("pymemcache", None))
    else:
        tools.append(("pymemcache", [py, script]))
    return tools


def prepare_server(args):
    server = args.server or os.path.join(ROOT, "target", "release", "ferrocache")
    if not os.path.exists(server):
        if args.server:
            raise SuiteError(f"{server} not found")
        say("== cargo build --release")
        if subprocess.run(["cargo", "build", "--release"], cwd=ROOT).returncode != 0:
            raise SuiteError("cargo build --release failed")
    server = os.path.abspath(server)
    help_text = run([server, "--help"], check=False).stdout
    legacy = args.legacy_flags
    if not legacy and "--cluster-secret-file" not in help_text:
        say("NOTE: this ferrocache has no --cluster-secret-file/--cluster-fail-timeout; "
            "running with --legacy-flags (the checks that need them will fail)")
        legacy = True
    return server, legacy


def cleanup_mode():
    left = [ns for ns in netns_list() if NS_RE.match(ns)]
    busy = [ns for ns in left if _alive_suite(int(NS_RE.match(ns).group(1)))]
    stale = [ns for ns in left if ns not in busy]
    remove_namespaces(stale)
    say(f"removed {len(stale)} namespaces of earlier runs" +
        (f"; {len(busy)} belong to a run still going: {' '.join(busy)}" if busy else ""))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", help="ferrocache binary (default target/release/ferrocache, "
                    "built if missing)")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS),
                    help=f"comma separated, from {','.join(SCENARIOS)}")
    ap.add_argument("--quick", action="store_true", help="shorter faults (under 3 minutes)")
    ap.add_argument("--keep-logs", metavar="DIR", help="keep node and client logs in DIR")
    ap.add_argument("--legacy-flags", action="store_true",
                    help="start nodes without --cluster-secret-file/--cluster-fail-timeout "
                    "and with --cluster-admin (a daemon without the failure detector)")
    ap.add_argument("--cleanup", action="store_true",
                    help="remove namespaces (and their processes) left by earlier runs")
    ap.add_argument("--no-clients", action="store_true", help="run no client workload")
    ap.add_argument("--client-rust", metavar="EXE",
                    help="ferrocache::client load tool to run instead of building "
                    "benches/pool_client.rs")
    ap.add_argument("--client-py", metavar="SCRIPT",
                    help="pymemcache load tool instead of scripts/pool_client.py")
    ap.add_argument("--keys", type=int, default=1000, help="client workload keys")
    ap.add_argument("--rate", type=int, default=300, help="client requests per second")
    args = ap.parse_args()

    if os.geteuid() != 0:
        say("pool_faults.py: the fault suite needs root (it creates network namespaces, veth "
            "pairs and nft rules inside them); run it as root")
        return 2
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            say(f"pool_faults.py: `{tool}` not found (apt-get install iproute2 nftables)")
            return 2
    if args.cleanup:
        return cleanup_mode()
    names = [s for s in args.scenarios.split(",") if s]
    unknown = [s for s in names if s not in SCENARIOS]
    if unknown:
        say(f"unknown scenario(s) {','.join(unknown)}; known: {','.join(SCENARIOS)}")
        return 2

    stale = leftover_namespaces()
    if stale:
        say(f"removing {len(stale)} namespaces left by earlier runs")
        remove_namespaces(stale)

    ctx = Ctx()
    ctx.args = args
    ctx.poller = ctx.workload = None
    ctx.server, ctx.legacy = prepare_server(args)
    ctx.client_tools = find_client_tools(ctx)
    q = args.quick
    ctx.pre, ctx.post = (3, 3) if q else (5, 5)
    ctx.settle = 10 if q else 15  # longest wait for a convergence after a fault
    ctx.converge_timeout = 20
    ctx.stop_for = 10 if q else 30
    ctx.partition_for = 12 if q else 20
    ctx.loss_for = 20 if q else 60
    limit = 180 if q else 360

    ctx.tmp = tempfile.mkdtemp(prefix=f"pool_faults.{os.getpid()}.")
    ctx.secret_file = os.path.join(ctx.tmp, "secret")
    with open(ctx.secret_file, "w") as f:
        f.write(secrets.token_hex(16) + "\n")
    os.chmod(ctx.secret_file, 0o600)

    def on_signal(sig, _frame):
        raise SystemExit(128 + sig)

    def on_alarm(_sig, _frame):
        raise RunTimeout(f"the run exceeded its {limit} s bound")

    def on_int(_sig, _frame):
        raise KeyboardInterrupt

    # Explicitly: a background job of a non-interactive shell inherits SIGINT ignored.
    signal.signal(signal.SIGINT, on_int)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    signal.signal(signal.SIGALRM, on_alarm)
    atexit.register(CLEANUP.run)

    results = []
    t_run = now()
    signal.alarm(limit - 5)
    try:
        ctx.net = Net(os.getpid(), list(range(1, NODES + 2)))
        CLEANUP.net = ctx.net
        ctx.net.create()
        say(f"== network: switch {ctx.net.switch}, nodes {ctx.net.ns(1)}..{ctx.net.ns(6)} "
            f"({SUBNET}.1-6), client {ctx.net.client} ({SUBNET}.{CLIENT_HOST}); "
            f"sync interval {SYNC} s, fail timeout {FAIL_TIMEOUT} s"
            + (" (legacy flags)" if ctx.legacy else ""))
        for name in names:
            title, fn = SCENARIOS[name]
            sc = Scenario(name, title)
            results.append(sc)
            logdir = os.path.join(ctx.tmp, name)
            os.makedirs(logdir)
            say(f"\n== {name}: {title}")
            t0 = now()
            ctx.poller = ctx.workload = ctx.pool = None
            try:
                fn(ctx, sc, logdir)
            finally:
                pool = ctx.pool
                if ctx.workload is not None and any(r.proc.poll() is None
                                                    for r in ctx.workload.runs):
                    for r in ctx.workload.runs:
                        r.stop()
                if ctx.poller is not None:
                    ctx.poller.stop()
                if pool is not None:
                    pool.stop()
                for i in range(1, NODES + 2):
                    ctx.net.clear_faults(i)
            sc.table()
            if sc.failed() and pool is not None:
                for i, n in sorted(pool.nodes.items()):
                    tail = [ln for ln in n.log_text().splitlines() if not ln.startswith("#")]
                    if tail:
                        say(f"  node{i} log tail: " + " | ".join(tail[-3:])[:300])
            say(f"  ({now() - t0:.0f} s)")
    except RunTimeout as e:
        sc = Scenario("run", "time bound")
        results.append(sc)
        sc.check("the run stays within its time bound", False, str(e))
    finally:
        signal.alarm(0)
        CLEANUP.run()
        left = [ns for ns in netns_list() if ns.startswith(f"fc{os.getpid()}-")]
        if left:
            say(f"WARNING: namespaces still present after cleanup: {' '.join(left)}")
        if args.keep_logs:
            os.makedirs(args.keep_logs, exist_ok=True)
            shutil.copytree(ctx.tmp, args.keep_logs, dirs_exist_ok=True)
            say(f"logs kept in {args.keep_logs}")
        shutil.rmtree(ctx.tmp, ignore_errors=True)

    checks = [(sc.name, c) for sc in results for c in sc.checks]
    fails = [(n, c) for n, c in checks if c[1] is False]
    skips = [(n, c) for n, c in checks if c[1] is None]
    say(f"\n== {len(checks)} checks: {len(checks) - len(fails) - len(skips)} PASS, "
        f"{len(fails)} FAIL, {len(skips)} SKIP ({now() - t_run:.0f} s)")
    for n, (what, _, detail) in fails:
        say(f"FAIL {n}: {what}" + (f" ({detail})" if detail else ""))
    return 1 if fails else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SuiteError as e:
        say(f"pool_faults.py: {e}")
        sys.exit(2)
    except KeyboardInterrupt:
        say("\ninterrupted; cleaned up")
        sys.exit(130)
