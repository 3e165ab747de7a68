"""Windowed budgets: token buckets per key, in memory and in a real redis-server, with no overspend
when threads or processes race on one key."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time

import pytest

from pytest_tokenbudget import MemoryWindow, RedisWindow, WindowUnavailable


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_memory_window_refills_over_its_period_per_key():
    clock = FakeClock()
    window = MemoryWindow(max_tokens=1000, seconds=60, clock=clock)
    assert window.consume("a", 600).allowed
    refused = window.consume("a", 600)
    assert not refused.allowed and refused.tokens_left == 400
    assert window.consume("b", 600).allowed  # another key, another bucket
    clock.now = 30  # half the period refills half the capacity
    decision = window.consume("a", 800)
    assert decision.allowed and decision.tokens_left == pytest.approx(100)
    assert decision.used_share == pytest.approx(0.9)


def test_memory_window_cost_limit_and_both_limits_all_or_nothing():
    window = MemoryWindow(max_tokens=1000, max_cost_usd=0.01, seconds=60, clock=FakeClock())
    assert not window.consume("a", 10, cost_usd=0.02).allowed
    after = window.consume("a", 10, cost_usd=0.005)
    assert after.allowed and after.tokens_left == 990 and after.cost_left_usd == pytest.approx(0.005)


def test_threads_racing_on_one_key_never_overspend():
    window = MemoryWindow(max_tokens=10_000, seconds=3600)
    granted = []

    def worker():
        for _ in range(500):
            if window.consume("shared", 7).allowed:
                granted.append(7)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(granted) <= 10_000 and sum(granted) > 10_000 - 7


@pytest.mark.parametrize("kwargs, message", [
    ({}, "needs max_tokens, max_cost_usd or both"),
    ({"max_tokens": 0}, "max_tokens must be a positive"),
    ({"max_tokens": -3}, "max_tokens must be a positive"),
    ({"max_cost_usd": 0.0}, "max_cost_usd must be a positive"),
    ({"max_tokens": 10, "seconds": 0}, "seconds must be a positive"),
])
def test_bad_limits_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MemoryWindow(**kwargs)


def test_redis_window_checks_and_consumes_with_a_ttl(redis_client):
    window = RedisWindow(redis_client, max_tokens=1000, max_cost_usd=1.0, seconds=60, prefix="t:")
    first = window.consume("tenant", 600, cost_usd=0.1)
    assert first.allowed and first.tokens_left == 400 and first.cost_left_usd == pytest.approx(0.9)
    assert not window.consume("tenant", 600).allowed
    assert 0 < redis_client.pttl("t:tenant") <= 60_000  # idle keys expire once they would be full again
    assert window.consume("other", 600).allowed


def test_redis_window_refills_by_the_server_clock(redis_client):
    window = RedisWindow(redis_client, max_tokens=1000, seconds=0.5)
    assert window.consume("k", 1000).allowed
    assert not window.consume("k", 500).allowed
    time.sleep(0.6)
    assert window.consume("k", 900).allowed


HAMMER = """
import sys, redis
from pytest_tokenbudget import RedisWindow
client = redis.Redis(host="127.0.0.1", port=int(sys.argv[1]))
window = RedisWindow(client, max_tokens=5_000, seconds=3600, prefix="race:")
client.blpop("race:go")  # every worker starts at once
print(sum(13 for _ in range(200) if window.consume("one-key", 13).allowed))
"""


def test_processes_hammering_one_redis_key_cannot_together_overspend(redis_client, redis_server):
    workers = [subprocess.Popen([sys.executable, "-c", HAMMER, str(redis_server)], stdout=subprocess.PIPE, text=True)
               for _ in range(4)]
    try:
        deadline = time.monotonic() + 60
        while redis_client.info("clients")["blocked_clients"] < len(workers):
            assert time.monotonic() < deadline, "the workers never got ready"
            time.sleep(0.02)
        redis_client.rpush("race:go", *["go"] * len(workers))
        totals = [int(worker.communicate(timeout=60)[0]) for worker in workers]
    finally:
        for worker in workers:
            worker.kill() if worker.poll() is None else None
    # 4 x 200 x 13 = 10,400 tokens asked for; one process alone could take at most 2,600.
    assert sum(totals) <= 5_000 and sum(totals) > 5_000 - 13
    assert sum(1 for total in totals if total) >= 2


def test_unreachable_redis_fails_closed_by_default_and_open_when_asked(caplog, unused_port):
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    dead = redis.Redis(host="127.0.0.1", port=unused_port, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    closed = RedisWindow(dead, max_tokens=100)
    with pytest.raises(WindowUnavailable, match=r"Redis at 127\.0\.0\.1:\d+ is unreachable.*fail='open'"):
        closed.consume("k", 1)
    opened = RedisWindow(dead, max_tokens=100, fail="open")
    decision = opened.consume("k", 1)
    assert decision.allowed and decision.unavailable
    assert "not enforced" in caplog.text and "failing open" in caplog.text
    with pytest.raises(ValueError, match="fail must be 'closed' or 'open'"):
        RedisWindow(dead, max_tokens=100, fail="maybe")
    with pytest.raises(TypeError, match="needs a redis.Redis client"):
        RedisWindow("localhost:6379", max_tokens=100)


def test_importing_the_guard_does_not_import_pytest():
    code = textwrap.dedent("""
        import sys
        from pytest_tokenbudget import guard, fit_messages, MemoryWindow, RedisWindow, Budget
        from pytest_tokenbudget import _guard, _guard_transport, _guard_anthropic, _fitting, _windows, _usage_log
        assert callable(guard) and callable(fit_messages)
        print(sorted(m for m in sys.modules if m == "pytest" or m.startswith(("_pytest", "pluggy"))))
        # The guard shares the counting core with the plugin, not the plugin's interception.
        print(sorted(m for m in sys.modules if m.startswith("pytest_tokenbudget.") and
                     m.rpartition(".")[2] in ("plugin", "_intercept", "_capture")))
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["[]", "[]"]
