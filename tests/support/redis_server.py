"""Start and stop a real redis-server on a free loopback port (tests and benchmarks)."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

MISSING_MESSAGE = (
    "redis-server is not installed: run ./dev test (it installs it), "
    "or: sudo apt-get install -y redis-server"
)


class RedisServerMissing(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen[bytes]
    workdir: Path
    password: str | None = None
    extra_args: list[str] = field(default_factory=list)
    args: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def restart(self) -> None:
        """Starts the server again on the same port and directory (after SHUTDOWN SAVE it loads
        its data back; its script cache starts empty)."""
        self.process.wait(timeout=20)
        self.process = subprocess.Popen(
            self.args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            # Our own process must be the one answering: if another test run took the port
            # while it was free, the new server cannot bind and exits, and the PING below
            # would reach a stranger's server.
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"redis-server did not come back on {self.port}: {error}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(64).startswith((b"+PONG", b"-NOAUTH", b"-LOADING")):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not come back on port {self.port}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)


def start_redis_server(
    *,
    password: str | None = None,
    extra_args: list[str] | None = None,
    tls_args: Callable[[int], list[str]] | None = None,
    new_session: bool = False,
) -> RedisServer:
    """`tls_args(port)`: serve TLS only, on that port (see tests/support/tls.py).
    `new_session`: the server runs in a session of its own, so the kernel schedules it as a
    group of its own (autogroup) whose priority a bench can raise alone.

    The port is free when picked but another process (a parallel test worker, another run) may
    take it before the server binds: the server then exits, and a new port is tried."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RedisServerMissing(MISSING_MESSAGE)
    for _attempt in range(5):
        try:
            return _start_on(binary, free_port(), password, extra_args, tls_args, new_session)
        except _PortTaken:
            continue
    raise RuntimeError("redis-server could not bind a free port in 5 tries")


class _PortTaken(Exception):
    pass


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


def _answers_as(port: int, pid: int, password: str | None) -> bool:
    """Whether the server answering on the port is the process we started (and not another
    run's server that took the port first)."""
    with socket.create_connection(("127.0.0.1", port), timeout=0.5) as conn:
        auth = f"AUTH {password}\r\n".encode() if password else b""
        conn.sendall(auth + b"INFO server\r\n")
        reply = b""
        while (answered := re.search(rb"process_id:(\d+)\r\n", reply)) is None:
            chunk = conn.recv(65536)
            if not chunk:
                return False
            reply += chunk
    return int(answered.group(1)) == pid


def _start_on(
    binary: str,
    port: int,
    password: str | None,
    extra_args: list[str] | None,
    tls_args: Callable[[int], list[str]] | None,
    new_session: bool,
) -> RedisServer:
    workdir = Path(tempfile.mkdtemp(prefix="keyops-redis-"))
    listen = tls_args(port) if tls_args else ["--port", str(port)]
    args = [
        binary,
        *listen,
        "--bind", "127.0.0.1",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(workdir),
        "--daemonize", "no",
        "--loglevel", "warning",
        # SLOWLOG every call over 1 ms so benchmarks can read the longest ones back.
        "--slowlog-log-slower-than", "1000",
        "--slowlog-max-len", "1024",
    ]  # fmt: skip
    if password:
        args += ["--requirepass", password]
    args += extra_args or []
    process = subprocess.Popen(
        args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=new_session
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            error = process.stderr.read().decode() if process.stderr else ""
            shutil.rmtree(workdir, ignore_errors=True)
            if _listening(port):  # its log (stdout) is not kept: a listener says why
                raise _PortTaken(port)
            raise RuntimeError(f"redis-server exited at start: {error.strip()}")
        if tls_args is not None:
            # A TLS server: it is up once it accepts a TCP connection.
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return RedisServer(port, process, workdir, password, extra_args or [], args)
            except OSError:
                time.sleep(0.05)
                continue
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as conn:
                conn.sendall(b"PING\r\n")
                reply = conn.recv(64)
            if reply.startswith((b"+PONG", b"-NOAUTH")):
                if _answers_as(port, process.pid, password):
                    return RedisServer(port, process, workdir, password, extra_args or [], args)
                time.sleep(0.05)  # a stranger's server: ours exits once it fails to bind
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"redis-server did not answer on port {port} within 10 s")
