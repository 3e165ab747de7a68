"""Fixtures shared by the test suite (tests/), the examples (examples/) and the benchmarks (bench/)."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from typing import Iterator

import pytest

REDIS_MISSING = "needs redis-server: apt-get install redis-server (Debian package `redis-server`)"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def loopback_redis_server() -> Iterator[int]:
    """A throw-away redis-server (no persistence) on a free 127.0.0.1 port; yields the port once it
    answers PING. FileNotFoundError names the Debian package when the binary is not installed."""
    import redis

    binary = shutil.which("redis-server")
    if binary is None:
        raise FileNotFoundError(REDIS_MISSING)
    port = free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(host="127.0.0.1", port=port)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not answer on 127.0.0.1:{port} "
                                       f"(exit code {process.poll()})") from None
                time.sleep(0.05)
        yield port
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[int]:
    """A real redis-server on a free loopback port for the whole session; yields the port.
    Tests using it are skipped, with the package to install, when redis-server or the redis
    client is missing."""
    if shutil.which("redis-server") is None:
        pytest.skip(REDIS_MISSING)
    pytest.importorskip("redis", reason="needs the redis client: pip install redis")
    with loopback_redis_server() as port:
        yield port


@pytest.fixture
def redis_client(redis_server: int) -> Iterator[object]:
    """A redis.Redis client of `redis_server`, on an emptied database."""
    import redis

    client = redis.Redis(host="127.0.0.1", port=redis_server)
    client.flushall()
    yield client
    client.close()


@pytest.fixture
def unused_port() -> int:
    """A loopback port nothing listens on."""
    return free_port()
