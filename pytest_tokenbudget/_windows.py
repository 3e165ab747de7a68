"""Windowed budgets: per key (user, tenant, feature) limits on tokens and dollars over time, as token
buckets that refill their whole capacity once per period. One store keeps the buckets in this
process; the Redis store shares them between every process and machine of an app, checking and
consuming in one atomic script so that concurrent requests cannot overspend together."""

from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

from ._errors import TokenBudgetError

log = logging.getLogger("pytest_tokenbudget.window")


@dataclass(frozen=True)
class WindowDecision:
    """The answer to one consume: whether it was allowed and how full the key's buckets now are."""

    allowed: bool
    key: str
    tokens_left: float | None  # None when the window has no token limit
    cost_left_usd: float | None
    used_share: float  # 0..1, the fullest of the key's buckets after this request
    unavailable: bool = False  # the store could not be reached and the window failed open


class WindowUnavailable(TokenBudgetError):
    """The window's store (Redis) cannot be reached and the window is set to fail closed."""


class _Limits:
    def __init__(self, max_tokens: int | None, max_cost_usd: float | None, seconds: float) -> None:
        if max_tokens is None and max_cost_usd is None:
            raise ValueError("a window needs max_tokens, max_cost_usd or both")
        if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens <= 0):
            raise ValueError(f"max_tokens must be a positive whole number, not {max_tokens!r}")
        if max_cost_usd is not None and (isinstance(max_cost_usd, bool) or not isinstance(max_cost_usd, (int, float))
                                         or not max_cost_usd > 0 or math.isinf(max_cost_usd)):
            raise ValueError(f"max_cost_usd must be a positive number of dollars, not {max_cost_usd!r}")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
            raise ValueError(f"seconds must be a positive number, not {seconds!r}")
        self.max_tokens = max_tokens
        self.max_cost_usd = None if max_cost_usd is None else float(max_cost_usd)
        self.seconds = float(seconds)

    def decision(self, allowed: bool, key: str, tokens_left: float | None, cost_left: float | None,
                 unavailable: bool = False) -> WindowDecision:
        shares = []
        if self.max_tokens is not None and tokens_left is not None:
            shares.append(1 - tokens_left / self.max_tokens)
        if self.max_cost_usd is not None and cost_left is not None:
            shares.append(1 - cost_left / self.max_cost_usd)
        return WindowDecision(allowed, key, tokens_left, cost_left, max(shares, default=0.0), unavailable)

    def describe(self) -> str:
        limits = []
        if self.max_tokens is not None:
            limits.append(f"{self.max_tokens:,} tokens")
        if self.max_cost_usd is not None:
            limits.append(f"${self.max_cost_usd:,.4f}")
        return f"{' and '.join(limits)} per {self.seconds:g} s"


class MemoryWindow(_Limits):
    """Buckets in this process's memory: thread-safe, and safe from asyncio (nothing awaits)."""

    def __init__(self, *, max_tokens: int | None = None, max_cost_usd: float | None = None,
                 seconds: float = 60.0, clock: Any = time.monotonic) -> None:
        super().__init__(max_tokens, max_cost_usd, seconds)
        self._clock = clock
        self._buckets: dict[str, list[float]] = {}  # key -> [last refill, tokens left, dollars left]
        self._lock = threading.Lock()

    def consume(self, key: str, tokens: int, cost_usd: float = 0.0) -> WindowDecision:
        with self._lock:
            bucket = self._refilled(key)
            allowed = (self.max_tokens is None or tokens <= bucket[1]) and \
                      (self.max_cost_usd is None or cost_usd <= bucket[2])
            if allowed:
                bucket[1] -= tokens
                bucket[2] -= cost_usd
            return self.decision(allowed, key, bucket[1] if self.max_tokens is not None else None,
                                 bucket[2] if self.max_cost_usd is not None else None)

    def refund(self, key: str, tokens: int, cost_usd: float = 0.0) -> bool:
        """Give back part of a charge that was not used; a bucket never fills past its limit."""
        with self._lock:
            bucket = self._refilled(key)
            bucket[1] = min(float(self.max_tokens or 0), bucket[1] + tokens)
            bucket[2] = min(self.max_cost_usd or 0.0, bucket[2] + cost_usd)
        return True

    def _refilled(self, key: str) -> list[float]:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = [now, float(self.max_tokens or 0), self.max_cost_usd or 0.0]
        elapsed = max(0.0, now - bucket[0])
        bucket[0] = now
        if self.max_tokens is not None:
            bucket[1] = min(self.max_tokens, bucket[1] + elapsed * self.max_tokens / self.seconds)
        if self.max_cost_usd is not None:
            bucket[2] = min(self.max_cost_usd, bucket[2] + elapsed * self.max_cost_usd / self.seconds)
        return bucket


# Refill, check every limit, consume all or nothing, and set the TTL, in one step: Redis runs a
# script atomically, so processes racing on one key see each other's consumption. The clock is the
# server's, so machines with skewed clocks still share one window. A limit below zero is absent.
# A refund is a consume of negative amounts: always allowed, and capped at the limit.
_CONSUME_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local period = tonumber(ARGV[1])
local caps = {tonumber(ARGV[2]), tonumber(ARGV[4])}
local want = {tonumber(ARGV[3]), tonumber(ARGV[5])}
local state = redis.call('HMGET', KEYS[1], 'ts', 'tokens', 'cost')
local last = tonumber(state[1]) or now
local elapsed = math.max(0, now - last)
local levels = {-1, -1}
local allowed = 1
for i = 1, 2 do
  if caps[i] >= 0 then
    local level = tonumber(state[i + 1]) or caps[i]
    levels[i] = math.min(caps[i], level + elapsed * caps[i] / period)
    if want[i] > levels[i] then allowed = 0 end
  end
end
if allowed == 1 then
  for i = 1, 2 do
    if caps[i] >= 0 then levels[i] = math.min(caps[i], levels[i] - want[i]) end
  end
end
redis.call('HSET', KEYS[1], 'ts', now, 'tokens', string.format('%.17g', levels[1]), 'cost', string.format('%.17g', levels[2]))
redis.call('PEXPIRE', KEYS[1], period)
return {allowed, string.format('%.17g', levels[1]), string.format('%.17g', levels[2])}
"""


class RedisWindow(_Limits):
    """Buckets in Redis, shared by every process using the same server and prefix.

    A key's bucket expires once it would have refilled completely, so idle keys cost nothing.
    When Redis cannot be reached, `fail="closed"` (the default) refuses with WindowUnavailable;
    `fail="open"` lets the request through and logs a warning on the `pytest_tokenbudget.window`
    logger for every request it could not account.
    """

    def __init__(self, redis: Any, *, max_tokens: int | None = None, max_cost_usd: float | None = None,
                 seconds: float = 60.0, prefix: str = "tokenbudget:window:", fail: str = "closed") -> None:
        super().__init__(max_tokens, max_cost_usd, seconds)
        if fail not in ("closed", "open"):
            raise ValueError(f"fail must be 'closed' or 'open', not {fail!r}")
        if not hasattr(redis, "register_script"):
            raise TypeError(f"RedisWindow needs a redis.Redis client (pip install redis), not {type(redis).__name__}")
        self._redis = redis
        self._script = redis.register_script(_CONSUME_SCRIPT)
        self.prefix = prefix
        self.fail = fail

    def consume(self, key: str, tokens: int, cost_usd: float = 0.0) -> WindowDecision:
        import redis as redis_module

        try:
            allowed, tokens_left, cost_left = self._run(key, tokens, cost_usd)
        except (redis_module.ConnectionError, redis_module.TimeoutError) as error:
            where = _describe_connection(self._redis)
            if self.fail == "open":
                log.warning("token window for %r not enforced: Redis at %s unreachable (%s); failing open as configured",
                            key, where, error)
                return self.decision(True, key, None, None, unavailable=True)
            raise WindowUnavailable(
                f"cannot check the token window for {key!r}: Redis at {where} is unreachable ({error}). "
                "Start Redis or fix the client's address; pass fail='open' to RedisWindow to let requests "
                "through unaccounted while it is down") from None
        return self.decision(bool(int(allowed)), key,
                             None if self.max_tokens is None else float(tokens_left),
                             None if self.max_cost_usd is None else float(cost_left))

    def refund(self, key: str, tokens: int, cost_usd: float = 0.0) -> bool:
        """Give back part of a charge that was not used, in the same atomic script. It runs after
        the answer, so an unreachable Redis never fails it: the refund is lost, with a warning."""
        import redis as redis_module

        try:
            self._run(key, -tokens, -cost_usd)
            return True
        except (redis_module.ConnectionError, redis_module.TimeoutError) as error:
            log.warning("refund of %d unused tokens to the window for %r lost: Redis at %s unreachable (%s)",
                        tokens, key, _describe_connection(self._redis), error)
            return False

    def _run(self, key: str, tokens: int, cost_usd: float) -> list[Any]:
        args = [int(self.seconds * 1000),
                -1 if self.max_tokens is None else self.max_tokens, tokens,
                -1 if self.max_cost_usd is None else repr(self.max_cost_usd), repr(float(cost_usd))]
        return self._script(keys=[self.prefix + key], args=args)


def _describe_connection(client: Any) -> str:
    try:
        kwargs = client.connection_pool.connection_kwargs
        return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}"
    except AttributeError:
        return repr(client)
