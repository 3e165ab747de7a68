"""Shared setup for the plugin's tests.

Every test here runs under a socket guard: any attempt to resolve or connect to
a non-loopback address is recorded and refused, and the test fails. That is
how the suite proves no request leaves the machine, whatever the plugin does.
Inner pytest sessions (pytester, in-process) run under the same guard.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import textwrap
from typing import Any

import pytest

# litellm downloads its price table whenever it is imported (also from its exit
# handlers, after pytester has dropped it from sys.modules); keep it local.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"

# pytester's in-process runs forget every module first imported inside them, so
# each inner session would import these again (seconds each); importing them
# once here keeps the inner runs fast. httpcore/importlib_metadata must also be
# loaded once: re-imported copies break httpx's exception mapping and leave a
# stale metadata finder (installed by litellm's import) on sys.meta_path. PyYAML's C
# parser (loaded by vcrpy) cannot read anything once its Python half is re-imported.
for _heavy in ("hypothesis", "openai", "anthropic", "httpcore", "httpcore2", "importlib_metadata", "pytest_tokenbudget._requests",
               "yaml", "vcr"):
    try:
        __import__(_heavy)
    except ImportError:
        pass



def _is_loopback(host: Any) -> bool:
    if host in ("localhost", None, ""):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


class NetworkGuard:
    def __init__(self) -> None:
        self.attempts: list[str] = []


@pytest.fixture(autouse=True)
def network_guard(monkeypatch: pytest.MonkeyPatch) -> Any:
    guard = NetworkGuard()
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_loopback(host if not isinstance(host, bytes) else host.decode()):
            guard.attempts.append(f"resolve {host}")
            raise socket.gaierror(socket.EAI_NONAME, f"network guard: resolving {host} is not allowed in tests")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else None
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(host):
            guard.attempts.append(f"connect {address}")
            raise ConnectionRefusedError(f"network guard: connecting to {address} is not allowed in tests")
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else None
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(host):
            guard.attempts.append(f"connect {address}")
            return 111
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    yield guard
    if not getattr(guard, "expect_attempts", False):
        assert guard.attempts == [], f"a test tried to reach the network: {guard.attempts}"


# An inner conftest giving every inner test real SDK clients with default base URLs.
# max_retries=0 keeps a refused request from being retried (and from sleeping).
INNER_CONFTEST = '''
import pytest

@pytest.fixture
def openai_client():
    import openai
    return openai.OpenAI(api_key="sk-test-SECRET-openai-key", max_retries=0)

@pytest.fixture
def async_openai_client():
    import openai
    return openai.AsyncOpenAI(api_key="sk-test-SECRET-openai-key", max_retries=0)

@pytest.fixture
def anthropic_client():
    import anthropic
    return anthropic.Anthropic(api_key="sk-ant-SECRET-anthropic-key", max_retries=0)

@pytest.fixture
def async_anthropic_client():
    import anthropic
    return anthropic.AsyncAnthropic(api_key="sk-ant-SECRET-anthropic-key", max_retries=0)
'''


@pytest.fixture
def inner(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester project with SDK client fixtures and a warning-free config."""
    pytester.makeconftest(INNER_CONFTEST)
    pytester.makeini(
        textwrap.dedent(
            """
            [pytest]
            asyncio_default_fixture_loop_scope = function
            filterwarnings =
                ignore::DeprecationWarning
            """
        )
    )
    return pytester


def chat(n_words: int = 5, system: str = "You are a helpful support bot.") -> list[dict[str, str]]:
    return [{"role": "system", "content": system}, {"role": "user", "content": "order " * n_words}]
