"""pytest fixtures: start a ferrocache (or memcached) on an ephemeral loopback port.

FERROCACHE_BIN picks the binary (default target/release/ferrocache, then
target/debug/ferrocache). FERROCACHE_BIN=/usr/bin/memcached runs the same tests against
the real memcached.
"""

import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def server_bin() -> str:
    env = os.environ.get("FERROCACHE_BIN")
    if env:
        return env
    for p in (ROOT / "target/release/ferrocache", ROOT / "target/debug/ferrocache"):
        if p.exists():
            return str(p)
    pytest.fail("no ferrocache binary: run `cargo build --release` or set FERROCACHE_BIN")


PORT_FILE_ENV = "MEMCACHED_PORT_FILENAME"
START_TIMEOUT = 20.0


def read_port_file(path: Path) -> dict:
    """memcached's port file (`TCP INET: 11211` lines) -> {"TCP": port, "UDP": port}."""
    ports = {}
    for line in path.read_text().splitlines():
        kind, _, port = line.partition(": ")
        if port.strip().isdigit():
            ports.setdefault(kind.split()[0], int(port))
    return ports


class Server:
    """A server process on an ephemeral loopback port (`-p -1`), learnt from the port file
    it writes once listening (`MEMCACHED_PORT_FILENAME`), so no port is guessed and none
    can be lost to a race. With `unix_socket` it listens there only (`-s`: no TCP)."""

    def __init__(self, binary: str, args=(), unix_socket=None):
        self.binary = binary
        self.proc = None
        self.port = None
        self.unix_socket = str(unix_socket) if unix_socket else None
        self.log = tempfile.TemporaryFile()
        port_dir = tempfile.TemporaryDirectory(prefix="ferro-ports-")
        port_file = Path(port_dir.name) / "ports"
        if self.unix_socket:
            cmd = [binary, "-s", self.unix_socket, *args]
        else:
            cmd = [binary, "-p", "-1", "-l", "127.0.0.1", *args]
        if "memcached" in os.path.basename(binary) and os.geteuid() == 0:
            cmd += ["-u", "root"]
        env = dict(os.environ, **{PORT_FILE_ENV: str(port_file)})
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT, env=env
        )
        try:
            deadline = time.monotonic() + START_TIMEOUT
            port = None
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    if self.unix_socket is None and port is None:
                        port = read_port_file(port_file).get("TCP")
                        if port is None:
                            proc.kill()
                            proc.wait()
                            raise RuntimeError(f"{cmd}: the port file names no TCP port")
                    self._probe(port)
                    self.proc, self.port = proc, port
                    return
                except OSError:  # no port file yet, or not accepting yet
                    time.sleep(0.005)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
                raise RuntimeError(f"{cmd} did not accept connections within {START_TIMEOUT} s")
            self.log.seek(0)
            raise RuntimeError(f"{binary} failed to start: {self.log.read().decode(errors='replace')}")
        finally:
            port_dir.cleanup()

    def _probe(self, port):
        if self.unix_socket:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(1)
                s.connect(self.unix_socket)
        else:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.log.close()


@pytest.fixture(scope="module")
def unix_server(tmp_path_factory):
    """A server listening on a unix socket only (`-s`); `.unix_socket` is its path."""
    path = tmp_path_factory.mktemp("unix") / "mc.sock"
    s = Server(server_bin(), unix_socket=path)
    yield s
    s.stop()


@pytest.fixture(scope="module")
def server():
    s = Server(server_bin())
    yield s
    s.stop()


SASL_USER = "alice"
SASL_PASSWORD = "s3cret pass"


def is_memcached(binary: str) -> bool:
    return "memcached" in os.path.basename(binary)


@pytest.fixture(scope="module")
def sasl_server(tmp_path_factory):
    """ferrocache with `-S --sasl-pwdb` (user SASL_USER, password SASL_PASSWORD).

    Skipped against memcached: Debian's memcached -S needs Cyrus SASL configuration.
    """
    binary = server_bin()
    if is_memcached(binary):
        pytest.skip("memcached -S needs Cyrus SASL files; SASL is tested against ferrocache")
    pwdb = tmp_path_factory.mktemp("sasl") / "pwdb"
    pwdb.write_text(f"{SASL_USER}:{SASL_PASSWORD}\nbob:hunter2\n")
    s = Server(binary, ["-S", "--sasl-pwdb", str(pwdb)])
    yield s
    s.stop()
