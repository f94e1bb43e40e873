#!/usr/bin/env python3
"""Hostile clients: a node's memory stays bounded by -m whatever clients send (issue 9).

Each attack runs against a freshly started server, `-m 64 -t 2 -c 20000` on a free loopback
port (-c lowered to RLIMIT_NOFILE if that is lower): the binary under test (--server, default
target/release/ferrocache) and, with --compare, Debian's memcached 1.6.18 for reference. The
attack's values are preloaded first (VmRSS then is printed as base_MiB). While it runs:

* a sampler thread reads VmHWM / VmRSS from /proc/PID/status every 20 ms (so the last
  figures survive the server dying);
* a well-behaved client on its own connection does `set wb<n>` + `get wb<n>` + `get wb_pre`
  (`wb_pre` is set before the attack) every 20 ms and checks every answer byte for byte.

Attacks, with their connections (full / --quick) and allowed RSS per connection:

  amplify30k     1 conn, 1 MiB. A 1,000,000-byte value `big`; ONE line `get big big ...`
                 with 30,000 keys (~120 KB, a 30 GB reply); not read for 3 s, then read at
                 64 KB per 10 ms for 5 s, then closed. An error reply or a close is
                 acceptable (recorded); the server must live on.
  amplify1k      1 conn, 1 MiB. The same with 1,000 keys, read at full speed by a
                 well-behaved client: the reply must be exactly 1,000 `VALUE big 0 1000000`
                 blocks and END.
  noread         40 / 40 conns, 16 KiB. 100 values v0..v99 of 500,000 bytes; each
                 connection sends `get v0 .. v99` twice and never reads; held 5 s.
  trickle        1,000 / 200 conns, 16 KiB. Each starts `set t<i> 0 0 1000000` and sends
                 6.4 KB of the value every 100 ms (~64 KB/s) for 5 s without finishing it.
  idle           10,000 / 2,000 conns, 2 KiB. Connections that send nothing; then each
                 sends `version` and reads the reply. VmRSS growth per connection is
                 reported for both phases.
  partial_lines  4,000 / 1,000 conns, 4 KiB. Each sends 2,047 bytes of a `get` line without
                 its newline; held 3 s.

An attack PASSes (judged for the --server binary only; --compare rows are informative and
show their verdict in parentheses) when
  * peak RSS (VmHWM, absolute) <= 70.4 MiB (-m 64 plus 10%) + connections x the allowed
    RSS per connection (PER_CONN_KIB, overridden by --per-conn-kib ATTACK=KIB),
  * for idle and partial_lines, the VmRSS growth per connection is within that allowance
    too (the absolute bound alone would hide it with --quick's few connections),
  * the server still runs afterwards and answers `version` on a new connection,
  * the well-behaved client got only right answers: no wrong reply, no timeout, no
    connection failure, at most OOM_ALLOWED `SERVER_ERROR out of memory storing object`
    replies to its sets,
  * the attack's own checks hold: every connection opened, the preload stored, amplify1k's
    reply complete and exact.

amplify30k runs the server under RLIMIT_AS 4 GiB (whatever the binary): a server that tries
to build the 30 GB reply in memory has its allocation fail at once (a Rust program aborts
with SIGABRT, which the suite reports as a FAIL) instead of driving the machine into the OOM
killer. memcached stays far below that limit.

The script raises its own RLIMIT_NOFILE (inherited by the server) to 30,000 when allowed,
else to the hard limit, and scales the connection counts down, saying so, if they would not
fit. Every loop is bounded in time, every socket has a timeout and is closed, and the server
is killed in a `finally`. Python 3 standard library only.

Exit status: 0 every judged attack PASSed, 1 one FAILed, 2 setup error (binary missing,
server did not start).
"""

import argparse
import itertools
import json
import os
import re
import resource
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SERVER = ROOT / "target/release/ferrocache"
MEMCACHED = "/usr/bin/memcached"
HOST = "127.0.0.1"

MEM_MB = 64
SERVER_MAXCONNS = 20_000  # -c, lowered to RLIMIT_NOFILE when that is lower
SERVER_ARGS = ["-m", str(MEM_MB), "-t", "2"]
BASE_BOUND_KIB = MEM_MB * 1024 * 1.10  # 70.4 MiB

# Allowed RSS per attack connection, KiB (override: --per-conn-kib ATTACK=KIB).
PER_CONN_KIB = {
    "amplify30k": 1024,
    "amplify1k": 1024,
    "noread": 16,
    "trickle": 16,
    "idle": 2,
    "partial_lines": 4,
}
FULL_CONNS = {
    "amplify30k": 1,
    "amplify1k": 1,
    "noread": 40,
    "trickle": 1000,
    "idle": 10_000,
    "partial_lines": 4000,
}
QUICK_CONNS = {**FULL_CONNS, "trickle": 200, "idle": 2000, "partial_lines": 1000}

WANT_NOFILE = 30_000
FD_RESERVE = 100  # fds kept for the script itself: control, well-behaved client, pipes
AS_LIMIT = 4 << 30
AS_LIMITED = {"amplify30k"}

SOCK_TIMEOUT = 5.0
CONNECT_DEADLINE = 60.0  # to open one attack's connections
MAX_CONNECT_FAILURES = 20
START_DEADLINE = 5.0
DEATH_WAIT = 3.0
SAMPLE_INTERVAL = 0.02
SAMPLER_MAX_SECONDS = 300.0
WB_INTERVAL = 0.02
WB_MAX_SECONDS = 300.0
WB_VALUE_LEN = 100
OOM_ALLOWED = 3
OOM_REPLY = b"SERVER_ERROR out of memory storing object"
EXAMPLES_KEPT = 3
MAX_REPLY_LINE = 4096  # for the lines TextClient reads (values are read by length)
MAX_VALUE_LEN = 1 << 20
NOISE_LINE = re.compile(r"\s+\d+: |\s+at |note: |stack backtrace:")  # Rust panic output

BIG_LEN = 1_000_000
AMPLIFY_KEYS = {"amplify30k": 30_000, "amplify1k": 1000}
AMPLIFY_PAUSE = 3.0
AMPLIFY_SLOW_SECONDS = 5.0
AMPLIFY_SLOW_CHUNK = 64 * 1024
AMPLIFY_SLOW_GAP = 0.01
AMPLIFY_FAST_DEADLINE = 60.0
NOREAD_KEYS = 100
NOREAD_VALUE_LEN = 500_000
NOREAD_HOLD = 5.0
TRICKLE_VALUE_LEN = 1_000_000
TRICKLE_CHUNK = 6400
TRICKLE_TICK = 0.1
TRICKLE_SECONDS = 5.0
PARTIAL_LINE = b"get " + b"a" * 2043  # 2,047 bytes, no newline
PARTIAL_HOLD = 3.0
SETTLE_DEADLINE = 10.0
VERSION_DEADLINE = 20.0


class SetupError(Exception):
    """The suite could not run (no binary, the server did not start)."""


class ProtocolError(Exception):
    """A reply that does not parse as what was asked for."""


def mib(kib):
    return kib / 1024


def value_for(key, size):
    """A deterministic value of `size` bytes for `key`."""
    unit = f"{key}:0123456789abcdef|".encode()
    return (unit * (size // len(unit) + 1))[:size]


WB_PRE_VALUE = value_for("wb_pre", WB_VALUE_LEN)


def get_line(keys):
    return b"get " + " ".join(keys).encode() + b"\r\n"


# ---------------------------------------------------------------------------------------
# Limits


def raise_nofile():
    """Raise RLIMIT_NOFILE to WANT_NOFILE (hard limit permitting); return the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= WANT_NOFILE:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (WANT_NOFILE, max(hard, WANT_NOFILE)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def child_limits(as_limit):
    """preexec_fn for the server: RLIMIT_NOFILE as ours, RLIMIT_AS when asked."""

    def apply():
        raise_nofile()
        if as_limit:
            resource.setrlimit(resource.RLIMIT_AS, (as_limit, as_limit))

    return apply


def server_maxconns():
    return min(SERVER_MAXCONNS, raise_nofile())


def planned_conns(name, quick):
    """(connections for the attack, note when scaled down to fit the fd limit)."""
    want = (QUICK_CONNS if quick else FULL_CONNS)[name]
    budget = server_maxconns() - FD_RESERVE
    if want <= budget:
        return want, None
    return budget, f"scaled {want} -> {budget} connections: RLIMIT_NOFILE is {raise_nofile()}"


# ---------------------------------------------------------------------------------------
# Client side


class TextClient:
    """A blocking text-protocol connection with a receive buffer. Every read has a deadline
    (SOCK_TIMEOUT from the call unless given), so a server trickling bytes cannot hold it."""

    def __init__(self, port, timeout=SOCK_TIMEOUT):
        self.timeout = timeout
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.buf = bytearray()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def _deadline(self, deadline):
        return deadline if deadline is not None else time.monotonic() + self.timeout

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("reply not complete in time")
        self.sock.settimeout(min(left, self.timeout))
        chunk = self.sock.recv(1 << 18)
        if not chunk:
            raise ConnectionError("closed by the server")
        self.buf += chunk

    def readline(self, deadline=None):
        deadline = self._deadline(deadline)
        while (end := self.buf.find(b"\r\n")) < 0:
            if len(self.buf) > MAX_REPLY_LINE:
                raise ProtocolError(f"no end of line in {len(self.buf)} bytes")
            self._fill(deadline)
        line = bytes(self.buf[:end])
        del self.buf[: end + 2]
        return line

    def readexact(self, n, deadline=None):
        deadline = self._deadline(deadline)
        while len(self.buf) < n:
            self._fill(deadline)
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def command(self, line):
        self.send(line)
        return self.readline()

    def store(self, key, value):
        return self.command(b"set %s 0 0 %d\r\n%s\r\n" % (key.encode(), len(value), value))

    def get(self, key):
        """The value, or None on a miss; ProtocolError on anything else."""
        self.send(get_line([key]))
        header = self.readline()
        if header == b"END":
            return None
        parts = header.split()
        if len(parts) != 4 or parts[:2] != [b"VALUE", key.encode()] or not parts[3].isdigit():
            raise ProtocolError(f"get {key}: {header[:80]!r}")
        if int(parts[3]) > MAX_VALUE_LEN:
            raise ProtocolError(f"get {key}: {header[:80]!r} (too long)")
        data = self.readexact(int(parts[3]) + 2)
        end = self.readline()
        if data[-2:] != b"\r\n" or end != b"END":
            raise ProtocolError(f"get {key}: bad data block or {end[:80]!r} for END")
        return data[:-2]

    def stats(self):
        self.send(b"stats\r\n")
        stats = {}
        deadline = time.monotonic() + self.timeout
        while (line := self.readline(deadline)) != b"END":
            parts = line.decode(errors="replace").split(" ", 2)
            if len(parts) != 3 or parts[0] != "STAT":
                raise ProtocolError(f"stats: {line[:80]!r}")
            stats[parts[1]] = parts[2]
        return stats


def answers_version(port):
    try:
        with TextClient(port) as c:
            return c.command(b"version\r\n").startswith(b"VERSION ")
    except (OSError, ProtocolError):
        return False


def open_conns(port, n, outcome):
    """Open up to n connections (bounded in time and failures); a shortfall is a problem."""
    socks, failures, first_error = [], 0, None
    deadline = time.monotonic() + CONNECT_DEADLINE
    try:
        while len(socks) < n and failures < MAX_CONNECT_FAILURES:
            if time.monotonic() > deadline:
                first_error = first_error or "deadline"
                break
            try:
                socks.append(socket.create_connection((HOST, port), timeout=SOCK_TIMEOUT))
            except OSError as e:
                failures += 1
                first_error = first_error or e
    except BaseException:
        close_all(socks)
        raise
    outcome.connected = len(socks)
    if len(socks) < n:
        outcome.problems.append(f"opened {len(socks)}/{n} connections ({first_error})")
    return socks


def close_all(socks):
    for s in socks:
        s.close()


def send_each(socks, payloads, outcome):
    """sendall each payload on its socket; failures are noted (a server may drop abusive
    clients)."""
    failed, first_error = 0, None
    for s, data in zip(socks, payloads):
        try:
            s.sendall(data)
        except OSError as e:
            failed += 1
            first_error = first_error or e
    if failed:
        outcome.notes.append(f"send failed on {failed}/{len(socks)} connections ({first_error})")


def closed_by_server(socks):
    """How many of the sockets the server has closed (EOF or reset), without blocking or
    consuming anything."""
    closed = 0
    for s in socks:
        try:
            s.setblocking(False)
            if s.recv(1, socket.MSG_PEEK) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
    return closed


def preload(port, items):
    """Set each (key, value); return the problems (anything but STORED)."""
    problems = []
    try:
        with TextClient(port, timeout=10) as c:
            for key, value in items:
                reply = c.store(key, value)
                if reply != b"STORED":
                    problems.append(f"preload: set {key} answered {reply[:80]!r}")
    except (OSError, ProtocolError) as e:
        problems.append(f"preload failed: {e!r}")
    return problems


# ---------------------------------------------------------------------------------------
# The server


class Server:
    """A server child on an ephemeral loopback port; `stop()` kills it (idempotent)."""

    def __init__(self, binary, as_limit=None):
        self.binary = str(binary)
        self.as_limit = as_limit
        self.proc = None
        self.port = None
        self.log = tempfile.TemporaryFile()

    def command(self, port):
        cmd = [self.binary, *SERVER_ARGS, "-c", str(server_maxconns()), "-p", str(port), "-l", HOST]
        if is_memcached(self.binary) and os.geteuid() == 0:
            cmd += ["-u", "root"]
        return cmd

    def start(self):
        """Starts on an ephemeral port (`-p -1`), read from the port file the server writes
        once listening (`MEMCACHED_PORT_FILENAME`, memcached's mechanism): no port guessed,
        no race to retry."""
        self.log.seek(0)
        self.log.truncate()
        with tempfile.TemporaryDirectory(prefix="ferro-ports-") as d:
            port_file = Path(d) / "ports"
            proc = subprocess.Popen(
                self.command(-1),
                stdin=subprocess.DEVNULL,
                stdout=self.log,
                stderr=subprocess.STDOUT,
                env=dict(os.environ, MEMCACHED_PORT_FILENAME=str(port_file)),
                preexec_fn=child_limits(self.as_limit),
            )
            port = wait_port_file(proc, port_file)
        if port is not None and wait_ready(proc, port):
            self.proc, self.port = proc, port
            return
        kill(proc)
        raise SetupError(f"{self.command(-1)} did not start: {self.log_tail()}")

    def status(self):
        """{'VmRSS': KiB, 'VmHWM': KiB}, or {} once the process is gone."""
        try:
            text = Path(f"/proc/{self.proc.pid}/status").read_text()
        except OSError:
            return {}
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        if "VmHWM" not in fields:  # a zombie has no memory lines
            return {}
        return {k: int(fields[k].split()[0]) for k in ("VmRSS", "VmHWM")}

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def what_happened(self):
        """For a server that stopped answering: how it ended (waiting a little for a dying
        process to finish), and its last words."""
        try:
            code = self.proc.wait(timeout=DEATH_WAIT)
        except subprocess.TimeoutExpired:
            code = None
        if code is None:
            how = "still running but not answering `version`"
        elif code < 0:
            how = f"killed by {signal.Signals(-code).name}"
        else:
            how = f"exited {code}"
        return f"{how}: {self.log_tail(1)}"

    def log_tail(self, lines=3):
        """The server's last output lines, backtrace frames and notes left out."""
        self.log.seek(0)
        text = self.log.read().decode(errors="replace").splitlines()
        kept = [line for line in text if line.strip() and not NOISE_LINE.match(line)]
        return " | ".join(kept[-lines:]) or "(no output)"

    def stop(self):
        if self.proc is not None:
            kill(self.proc)
        self.log.close()


def is_memcached(binary):
    return "memcached" in os.path.basename(str(binary))


def wait_port_file(proc, path):
    """The TCP port from memcached's port file (`TCP INET: 11211`), or None if the server
    exits or writes none within START_DEADLINE."""
    deadline = time.monotonic() + START_DEADLINE
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            text = path.read_text()
        except OSError:
            time.sleep(0.005)
            continue
        for line in text.splitlines():
            kind, _, port = line.partition(": ")
            if kind.startswith("TCP") and port.strip().isdigit():
                return int(port)
        return None
    return None


def wait_ready(proc, port):
    deadline = time.monotonic() + START_DEADLINE
    while time.monotonic() < deadline and proc.poll() is None:
        if answers_version(port):
            return True
        time.sleep(0.02)
    return False


def kill(proc):
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


# ---------------------------------------------------------------------------------------
# Threads running alongside an attack


class Sampler(threading.Thread):
    """Keeps the server's largest VmHWM seen (the last figure survives its death)."""

    def __init__(self, server):
        super().__init__(daemon=True)
        self.server = server
        self.hwm_kib = 0
        self.done = threading.Event()

    def sample(self):
        status = self.server.status()
        if status:
            self.hwm_kib = max(self.hwm_kib, status["VmHWM"])

    def run(self):
        deadline = time.monotonic() + SAMPLER_MAX_SECONDS
        self.sample()
        while not self.done.wait(SAMPLE_INTERVAL) and time.monotonic() < deadline:
            self.sample()

    def finish(self):
        self.done.set()
        self.join(timeout=5)
        self.sample()


class WellBehaved(threading.Thread):
    """set wb<n> / get wb<n> / get wb_pre every WB_INTERVAL on its own connection. A wrong or
    unparseable reply counts as `wrong`, a timeout or connection failure as `errors`; either
    drops the connection (the stream may be out of step) and the next round reconnects."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port = port
        self.counts = {"ok": 0, "wrong": 0, "oom": 0, "errors": 0}
        self.examples = []
        self.done = threading.Event()

    def record(self, what, example=None):
        self.counts[what] += 1
        if example and len(self.examples) < EXAMPLES_KEPT:
            self.examples.append(f"well-behaved client, {what}: {example}")

    def run(self):
        deadline = time.monotonic() + WB_MAX_SECONDS
        client, n = None, 0
        while not self.done.is_set() and time.monotonic() < deadline:
            try:
                client = client or TextClient(self.port)
                self.round(client, n)
            except ProtocolError as e:
                self.record("wrong", str(e))
                client = close_client(client)
            except OSError as e:
                self.record("errors", repr(e))
                client = close_client(client)
            n += 1
            self.done.wait(WB_INTERVAL)
        close_client(client)

    def round(self, client, n):
        key = f"wb{n}"
        value = value_for(key, WB_VALUE_LEN)
        reply = client.store(key, value)
        if reply == OOM_REPLY:
            self.record("oom")
        elif reply != b"STORED":
            raise ProtocolError(f"set {key}: {reply[:80]!r}")
        else:
            self.expect(client, key, value)
        self.expect(client, "wb_pre", WB_PRE_VALUE)

    def expect(self, client, key, value):
        got = client.get(key)
        if got == value:
            self.record("ok")
        else:
            self.record("wrong", f"get {key}: {'miss' if got is None else got[:40]!r}")

    def finish(self):
        self.done.set()
        self.join(timeout=2 * SOCK_TIMEOUT)


def close_client(client):
    if client is not None:
        client.close()
    return None


# ---------------------------------------------------------------------------------------
# Attacks: each takes (server, conns) and returns an Outcome


@dataclass
class Outcome:
    connected: int = 0
    problems: list = field(default_factory=list)  # each makes the attack FAIL
    notes: list = field(default_factory=list)  # informative
    figures: dict = field(default_factory=dict)


def attack_amplify30k(server, conns):
    out = Outcome()
    line = get_line(["big"] * AMPLIFY_KEYS["amplify30k"])
    with TextClient(server.port, timeout=10) as c:
        out.connected = 1
        try:
            c.send(line)
        except OSError as e:
            out.notes.append(f"sending the {len(line)}-byte line failed: {e!r}")
            return out
        time.sleep(AMPLIFY_PAUSE)
        received, first, ending = slow_read(c.sock)
    out.figures.update(line_bytes=len(line), reply_bytes_read=received, read_end=ending)
    out.notes.append(
        f"{len(line)}-byte line; read {received / 1e6:.1f} MB slowly, then {ending}; "
        f"reply starts {first!r}"
    )
    return out


def slow_read(sock):
    """Read AMPLIFY_SLOW_CHUNK per AMPLIFY_SLOW_GAP for AMPLIFY_SLOW_SECONDS at most.
    Returns (bytes read, first 24 bytes, how it ended)."""
    received, first = 0, b""
    deadline = time.monotonic() + AMPLIFY_SLOW_SECONDS
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(min(left, SOCK_TIMEOUT))
        try:
            chunk = sock.recv(AMPLIFY_SLOW_CHUNK)
        except socket.timeout:
            return received, first, "no more data (timeout)"
        except OSError as e:
            return received, first, f"error {e!r}"
        if not chunk:
            return received, first, "closed by the server"
        first = first or chunk[:24]
        received += len(chunk)
        time.sleep(AMPLIFY_SLOW_GAP)
    return received, first, f"closed by the client after {AMPLIFY_SLOW_SECONDS:.0f} s"


def attack_amplify1k(server, conns):
    out = Outcome()
    keys = AMPLIFY_KEYS["amplify1k"]
    with TextClient(server.port, timeout=10) as c:
        out.connected = 1
        started = time.monotonic()
        c.send(get_line(["big"] * keys))
        error = check_amplified(c, keys, value_for("big", BIG_LEN))
        seconds = time.monotonic() - started
    if error:
        out.problems.append(f"reply not exact: {error}")
    else:
        out.notes.append(f"complete, exact reply of {keys} x 1 MB read in {seconds:.1f} s")
    out.figures["read_seconds"] = round(seconds, 2)
    return out


def check_amplified(client, keys, value):
    """None when the reply is exactly `keys` VALUE blocks of `value` then END; else what
    went wrong."""
    header = b"VALUE big 0 %d" % len(value)
    block = value + b"\r\n"
    deadline = time.monotonic() + AMPLIFY_FAST_DEADLINE
    try:
        for i in range(keys):
            line = client.readline(deadline)
            if line != header:
                return f"block {i}: {line[:80]!r}"
            if client.readexact(len(block), deadline) != block:
                return f"block {i}: value differs"
        end = client.readline(deadline)
    except (OSError, ProtocolError) as e:
        return f"{e!r} in the middle of the reply"
    return None if end == b"END" else f"{end[:80]!r} instead of END"


def attack_noread(server, conns):
    out = Outcome()
    line = get_line([f"v{i}" for i in range(NOREAD_KEYS)])
    socks = open_conns(server.port, conns, out)
    try:
        send_each(socks, itertools.repeat(line * 2), out)
        time.sleep(NOREAD_HOLD)
        note_closed(out, socks)
    finally:
        close_all(socks)
    return out


def note_closed(out, socks):
    closed = closed_by_server(socks)
    out.figures["closed_by_server"] = closed
    if closed:
        out.notes.append(f"the server closed {closed}/{len(socks)} connections")


def attack_trickle(server, conns):
    out = Outcome()
    socks = open_conns(server.port, conns, out)
    try:
        headers = (b"set t%d 0 0 %d\r\n" % (i, TRICKLE_VALUE_LEN) for i in range(len(socks)))
        send_each(socks, headers, out)
        sent, replies, closed = trickle(socks)
    finally:
        close_all(socks)
    out.figures.update(value_bytes_sent=sent, replies=replies, closed_by_server=closed)
    out.notes.append(
        f"{sent / 1e6:.0f} MB of unfinished values sent; replies {replies or 'none'}; "
        f"closed by the server: {closed}"
    )
    return out


def trickle(socks):
    """Send TRICKLE_CHUNK to every open socket each TRICKLE_TICK for TRICKLE_SECONDS (never
    completing a value), draining replies in between. Returns (bytes sent, {reply: count},
    connections the server closed)."""
    chunk = b"x" * TRICKLE_CHUNK
    cap = TRICKLE_VALUE_LEN - TRICKLE_CHUNK  # stay short of a complete value
    sent = {s: 0 for s in socks}
    replies, closed = {}, set()
    with selectors.DefaultSelector() as sel:
        for s in socks:
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, bytearray())
        end = time.monotonic() + TRICKLE_SECONDS
        while (now := time.monotonic()) < end:
            for s in sent:
                if s not in closed and sent[s] < cap:
                    sent[s] += send_some(s, chunk, closed)
            drain(sel, min(now + TRICKLE_TICK, end), replies, closed)
    return sum(sent.values()), replies, len(closed)


def send_some(sock, data, closed):
    try:
        return sock.send(data)
    except BlockingIOError:
        return 0
    except OSError:
        closed.add(sock)
        return 0


def drain(sel, until, replies, closed):
    """Read what the servers sent until `until`, counting complete reply lines."""
    while (left := until - time.monotonic()) > 0:
        for key, _ in sel.select(timeout=left):
            try:
                data = key.fileobj.recv(1 << 16)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                closed.add(key.fileobj)
                sel.unregister(key.fileobj)
                continue
            key.data.extend(data)
            count_lines(key.data, replies)


def count_lines(buf, replies):
    while (end := buf.find(b"\r\n")) >= 0:
        line = bytes(buf[:end]).decode(errors="replace")[:60]
        replies[line] = replies.get(line, 0) + 1
        del buf[: end + 2]


def attack_idle(server, conns):
    out = Outcome()
    with TextClient(server.port) as ctl:
        expected = int(ctl.stats().get("curr_connections", 0))
        before = rss_kib(server)
        socks = open_conns(server.port, conns, out)
        try:
            settle(ctl, expected + len(socks), out)
            idle = rss_kib(server)
            send_each(socks, itertools.repeat(b"version\r\n"), out)
            answered = read_versions(socks)
            time.sleep(0.2)
            after = rss_kib(server)
        finally:
            close_all(socks)
    if answered < len(socks):
        out.problems.append(f"only {answered}/{len(socks)} connections answered `version`")
    report_per_conn(out, len(socks), idle - before, after - before)
    return out


def rss_kib(server):
    return server.status().get("VmRSS", 0)


def settle(ctl, target, out):
    """Wait until the server counts `target` connections (it accepted them all)."""
    deadline = time.monotonic() + SETTLE_DEADLINE
    current = 0
    while time.monotonic() < deadline:
        current = int(ctl.stats().get("curr_connections", 0))
        if current >= target:
            time.sleep(0.2)
            return
        time.sleep(0.05)
    out.notes.append(f"curr_connections {current} < {target} after {SETTLE_DEADLINE:.0f} s")


def read_versions(socks):
    """How many sockets got a `VERSION ...` line back within VERSION_DEADLINE."""
    answered = 0
    with selectors.DefaultSelector() as sel:
        for s in socks:
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, bytearray())
        deadline = time.monotonic() + VERSION_DEADLINE
        while sel.get_map() and (left := deadline - time.monotonic()) > 0:
            for key, _ in sel.select(timeout=left):
                if read_reply_line(key):
                    answered += key.data.startswith(b"VERSION ")
                    sel.unregister(key.fileobj)
    return answered


def read_reply_line(key):
    """Read into key.data; True when a line is complete or the socket is finished."""
    try:
        data = key.fileobj.recv(4096)
    except BlockingIOError:
        return False
    except OSError:
        return True
    key.data.extend(data)
    return not data or b"\r\n" in key.data


def report_per_conn(out, n, idle_kib, version_kib):
    if not n:
        return
    idle_b, version_b = idle_kib * 1024 / n, version_kib * 1024 / n
    out.figures.update(rss_per_conn_idle_b=round(idle_b), rss_per_conn_version_b=round(version_b))
    out.notes.append(f"VmRSS per connection: {idle_b:.0f} B idle, {version_b:.0f} B after version")


def attack_partial_lines(server, conns):
    out = Outcome()
    before = rss_kib(server)
    socks = open_conns(server.port, conns, out)
    try:
        send_each(socks, itertools.repeat(PARTIAL_LINE), out)
        time.sleep(PARTIAL_HOLD)
        held = rss_kib(server)
        note_closed(out, socks)
    finally:
        close_all(socks)
    per_conn_b = (held - before) * 1024 / max(len(socks), 1)
    out.figures.update(rss_per_conn_b=round(per_conn_b))
    out.notes.append(f"VmRSS per connection holding its partial line: {per_conn_b:.0f} B")
    return out


ATTACKS = {
    "amplify30k": attack_amplify30k,
    "amplify1k": attack_amplify1k,
    "noread": attack_noread,
    "trickle": attack_trickle,
    "idle": attack_idle,
    "partial_lines": attack_partial_lines,
}


def preload_items(name):
    items = [("wb_pre", WB_PRE_VALUE)]
    if name.startswith("amplify"):
        items.append(("big", value_for("big", BIG_LEN)))
    if name == "noread":
        items += [(f"v{i}", value_for(f"v{i}", NOREAD_VALUE_LEN)) for i in range(NOREAD_KEYS)]
    return items


# ---------------------------------------------------------------------------------------
# Running and judging


@dataclass
class Row:
    attack: str
    server: str
    binary: str
    conns: int
    baseline_mib: float
    hwm_mib: float
    alive: bool
    wb: dict
    reasons: list  # why it fails: the attack's problems, then judge()'s
    notes: list
    figures: dict
    judged: bool = True
    bound_mib: float = 0.0
    verdict: str = ""


def run_attack(name, binary, judged=True, quick=False, per_conn_kib=None):
    """Start a fresh server, run attack `name` on it and judge the result; the server is
    killed whatever happens."""
    conns, scale_note = planned_conns(name, quick)
    server = Server(binary, AS_LIMIT if name in AS_LIMITED else None)
    try:
        server.start()
        row = measure(name, server, conns)
    finally:
        server.stop()
    row.judged = judged
    allowance_kib = (per_conn_kib or PER_CONN_KIB)[name]
    row.bound_mib = round(mib(BASE_BOUND_KIB + conns * allowance_kib), 1)
    # The absolute bound hides a per-connection cost when few connections are used
    # (--quick): the growth per connection is held to the allowance too.
    for figure in ("rss_per_conn_idle_b", "rss_per_conn_version_b", "rss_per_conn_b"):
        got = row.figures.get(figure)
        if got is not None and got > allowance_kib * 1024:
            row.reasons.append(f"{figure} {got} B > {allowance_kib} KiB per connection")
    if scale_note:
        row.notes.insert(0, scale_note)
    judge(row)
    return row


def measure(name, server, conns):
    """Preload, then run the attack with the sampler and the well-behaved client alongside."""
    problems = preload(server.port, preload_items(name))
    baseline = rss_kib(server)
    sampler, wb = Sampler(server), WellBehaved(server.port)
    sampler.start()
    wb.start()
    try:
        outcome = guarded(ATTACKS[name], server, conns)
    finally:
        wb.finish()
        sampler.finish()
    alive = server.running() and answers_version(server.port)
    death = [] if alive else [server.what_happened()]
    return Row(
        attack=name,
        server="memcached" if is_memcached(server.binary) else os.path.basename(server.binary),
        binary=server.binary,
        conns=conns,
        baseline_mib=round(mib(baseline), 1),
        hwm_mib=round(mib(sampler.hwm_kib), 1),
        alive=alive,
        wb=dict(wb.counts),
        reasons=problems + outcome.problems,
        notes=death + outcome.notes + wb.examples,
        figures={"connected": outcome.connected, **outcome.figures},
    )


def guarded(attack, server, conns):
    """Run the attack; a socket error it did not expect is a problem, not a crash."""
    try:
        return attack(server, conns)
    except (OSError, ProtocolError) as e:
        return Outcome(problems=[f"attack aborted: {e!r}"])


def judge(row):
    reasons = row.reasons
    if row.hwm_mib > row.bound_mib:
        reasons.append(f"VmHWM {row.hwm_mib} MiB > bound {row.bound_mib} MiB")
    if not row.alive:
        reasons.append("server not alive (or not answering `version`) after the attack")
    wb = row.wb
    if wb["wrong"] or wb["errors"]:
        reasons.append(f"well-behaved client: {wb['wrong']} wrong, {wb['errors']} errors")
    if wb["oom"] > OOM_ALLOWED:
        reasons.append(f"well-behaved client: {wb['oom']} out-of-memory replies to its sets")
    if not wb["ok"]:
        reasons.append("well-behaved client: no correct answer at all")
    verdict = "FAIL" if reasons else "PASS"
    row.verdict = verdict if row.judged else f"({verdict})"


HEADER = (
    f"{'attack':<14}{'server':<16}{'conns':>6}{'base_MiB':>10}{'VmHWM_MiB':>11}"
    f"{'bound_MiB':>11}{'alive':>7}  {'wb ok/wrong/oom/err':<22}verdict"
)


def format_row(row):
    wb = "/".join(str(row.wb[k]) for k in ("ok", "wrong", "oom", "errors"))
    line = (
        f"{row.attack:<14}{row.server:<16}{row.conns:>6}{row.baseline_mib:>10.1f}"
        f"{row.hwm_mib:>11.1f}{row.bound_mib:>11.1f}{'yes' if row.alive else 'NO':>7}  "
        f"{wb:<22}{row.verdict}"
    )
    details = [f"    why: {r}" for r in row.reasons] + [f"    note: {n}" for n in row.notes]
    return "\n".join([line, *details])


# ---------------------------------------------------------------------------------------
# Command line


def per_conn_overrides(pairs):
    table = dict(PER_CONN_KIB)
    for pair in pairs or ():
        name, _, kib = pair.partition("=")
        try:
            if name not in table:
                raise ValueError(name)
            table[name] = float(kib)
        except ValueError:
            raise argparse.ArgumentTypeError(f"--per-conn-kib {pair}: want ATTACK=KIB") from None
    return table


def attack_list(text):
    names = [n for n in text.split(",") if n]
    unknown = [n for n in names if n not in ATTACKS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown attacks {unknown}; known: {list(ATTACKS)}")
    return names


def parse_args(argv):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]),
    )
    p.add_argument("--server", default=str(DEFAULT_SERVER), help="binary under test (judged)")
    p.add_argument("--compare", action="store_true", help=f"also run each attack on {MEMCACHED}")
    p.add_argument("--memcached", default=MEMCACHED, help="memcached binary for --compare")
    p.add_argument("--attacks", type=attack_list, default=list(ATTACKS), help="comma-separated")
    p.add_argument("--quick", action="store_true", help="fewer connections (CI)")
    p.add_argument("--json", metavar="FILE", help="write the results as JSON")
    p.add_argument(
        "--per-conn-kib", action="append", metavar="ATTACK=KIB", help="override PER_CONN_KIB"
    )
    args = p.parse_args(argv)
    try:
        args.per_conn_kib = per_conn_overrides(args.per_conn_kib)
    except argparse.ArgumentTypeError as e:
        p.error(str(e))
    return args


def servers_to_run(args):
    servers = [(args.server, True)] + ([(args.memcached, False)] if args.compare else [])
    for binary, _ in servers:
        if not os.access(binary, os.X_OK):
            raise SetupError(f"{binary} is not an executable (cargo build --release?)")
    return servers


def print_preamble(args):
    nofile = raise_nofile()
    print(
        f"hostile clients: servers {' '.join(SERVER_ARGS)} -c {server_maxconns()}; bound = "
        f"{mib(BASE_BOUND_KIB):.1f} MiB + conns x per-conn KiB {args.per_conn_kib}; "
        f"{'quick' if args.quick else 'full'} counts"
    )
    if nofile < WANT_NOFILE:
        print(f"RLIMIT_NOFILE: {WANT_NOFILE} not allowed, using {nofile}")
    print("verdicts in parentheses are informative (not judged)")
    print(HEADER, flush=True)


def write_json(args, rows):
    doc = {
        "quick": args.quick,
        "nofile": raise_nofile(),
        "base_bound_mib": round(mib(BASE_BOUND_KIB), 1),
        "per_conn_kib": args.per_conn_kib,
        "rows": [asdict(r) for r in rows],
    }
    Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")


def main(argv=None):
    args = parse_args(argv)
    rows = []
    try:
        servers = servers_to_run(args)
        print_preamble(args)
        for name in args.attacks:
            for binary, judged in servers:
                row = run_attack(name, binary, judged, args.quick, args.per_conn_kib)
                rows.append(row)
                print(format_row(row), flush=True)
    except SetupError as e:
        print(f"setup error: {e}", file=sys.stderr)
        return 2
    if args.json:
        write_json(args, rows)
    failed = [r.attack for r in rows if r.judged and r.verdict == "FAIL"]
    print(f"FAILED: {', '.join(failed)}" if failed else "all judged attacks PASSED")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
