"""The runtime guard: the plugin's budgets in production. A guarded SDK client counts every request
with the same counting core and registry the tests use, judges it with the same `Budget`, and
refuses it before anything is sent. It hooks in through the SDKs' own extension points: an
`http_client` whose transport checks each request (openai), the client middleware (anthropic)."""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from . import _usage_log
from ._budget import Budget, BudgetExceeded, Violation
from ._errors import RequestBodyError, TokenBudgetError
from ._endpoints import classify_endpoint
from ._models import Registry
from ._requests import APIS, RequestCount, count_request

DEFAULT_CONTEXT_ALERT_SHARE = 0.9
DEFAULT_WINDOW_ALERT_SHARE = 0.9


@dataclass(frozen=True)
class Alert:
    """A request that fills `share` of the context window, or a window `share` used, for `key`."""

    kind: str  # "context_window" or "window"
    share: float
    key: str | None
    model: str
    message: str


class RequestRefused(BudgetExceeded):
    """A guarded request that breaks its budget; nothing was sent. `request` is its count, with
    the per-part `breakdown` that says where the tokens went."""

    def __init__(self, violations: list[Violation], request: RequestCount) -> None:
        self.request = request
        self.breakdown = request.breakdown
        super().__init__(violations)
        largest = ", ".join(f"{p.label} {p.tokens:,}" for p in request.largest_first()[:3])
        self.args = (f"{self.args[0]}\nlargest parts: {largest}",)


class UnsupportedClient(TokenBudgetError, TypeError):
    """guard() was given something it does not know how to guard."""


class Guard:
    """What every guarded client shares: count, judge, replace, consume the window, log, alert."""

    def __init__(self, budget: Budget, *, on_exceed: Any = "raise", window: Any = None,
                 key: str | Callable[[Mapping[str, Any]], str] | None = None, log: Any = None,
                 on_alert: Callable[[Alert], None] | None = None,
                 context_alert_share: float = DEFAULT_CONTEXT_ALERT_SHARE,
                 window_alert_share: float = DEFAULT_WINDOW_ALERT_SHARE,
                 registry: Registry | None = None) -> None:
        if not isinstance(budget, Budget):
            raise TypeError(f"guard() needs a pytest_tokenbudget.Budget, not {type(budget).__name__}")
        limits = [(f, getattr(budget, f)) for f in ("max_input_tokens", "max_output_tokens", "max_total_tokens",
                                                     "max_calls", "max_cost_usd")]
        zero = [f for f, value in limits if value is not None and value <= 0]
        if zero:
            raise ValueError(f"Budget.{zero[0]} is {getattr(budget, zero[0])!r}: a guard with it would refuse every "
                             "request; set a positive limit or leave it out")
        if on_exceed != "raise" and not callable(on_exceed):
            raise TypeError("on_exceed must be 'raise' or a callable (body, error) -> replacement body or None")
        if window is not None and not hasattr(window, "consume"):
            raise TypeError(f"window must be a MemoryWindow or RedisWindow, not {type(window).__name__}")
        for name, share in (("context_alert_share", context_alert_share), ("window_alert_share", window_alert_share)):
            if not 0 < share <= 1:
                raise ValueError(f"{name} must be a share between 0 and 1, not {share!r}")
        self.budget = budget
        self.on_exceed = on_exceed
        self.window = window
        self.key = key
        self.logger = _logger(log)
        self.on_alert = on_alert
        self.context_alert_share = context_alert_share
        self.window_alert_share = window_alert_share
        self.registry = registry or Registry.load()

    def admit(self, body: Any, api: str) -> tuple[Mapping[str, Any], RequestCount, str | None]:
        """The body to send, its count and its window key; RequestRefused when it may not go."""
        if not isinstance(body, Mapping):
            raise RequestBodyError("", f"the request body is not a JSON object ({type(body).__name__}); nothing was sent")
        count = count_request(body, api=api, registry=self.registry)
        violations = self.budget.check([count])
        if violations and self.on_exceed != "raise":
            replacement = self.on_exceed(body, RequestRefused(violations, count))
            if replacement is not None:
                body = replacement
                count = count_request(body, api=api, registry=self.registry)
                violations = self.budget.check([count])
        key = self._key(body)
        if violations:
            self._log_refusal(count, key, violations)
            raise RequestRefused(violations, count)
        share = (count.input_tokens + (count.max_output_tokens or 0)) / count.model.context_window
        if share >= self.context_alert_share:
            self._alert(Alert("context_window", share, key, count.model.id,
                              f"request fills {share:.0%} of {count.model.id}'s context window "
                              f"({count.input_tokens:,} input + {count.max_output_tokens or 0:,} output cap)"))
        if self.window is not None:
            self._consume(count, key)
        return body, count, key

    def _consume(self, count: RequestCount, key: str | None) -> None:
        # The window is charged the output cap, not the answer's length: it is all the request
        # may cost, and known before sending.
        tokens = count.input_tokens + (count.max_output_tokens or 0)
        decision = self.window.consume(key or "default", tokens, count.cost_usd or 0.0)
        if not decision.allowed:
            left = []
            if decision.tokens_left is not None:
                left.append(f"{max(0, int(decision.tokens_left)):,} tokens")
            if decision.cost_left_usd is not None:
                left.append(f"${max(0.0, decision.cost_left_usd):,.4f}")
            violation = Violation("window", tokens, decision.tokens_left or 0, 0,
                                  f"window for {key or 'default'!r} ({self.window.describe()}) has {' and '.join(left)} "
                                  f"left; this request needs {tokens:,} tokens (input + output cap)")
            self._log_refusal(count, key, [violation])
            raise RequestRefused([violation], count)
        if decision.used_share >= self.window_alert_share:
            self._alert(Alert("window", decision.used_share, key, count.model.id,
                              f"window for {key or 'default'!r} is {decision.used_share:.0%} used "
                              f"({self.window.describe()})"))

    def _key(self, body: Mapping[str, Any]) -> str | None:
        if callable(self.key):
            return str(self.key(body))
        return self.key

    def _alert(self, alert: Alert) -> None:
        if self.on_alert is not None:
            self.on_alert(alert)

    def _log_refusal(self, count: RequestCount, key: str | None, violations: list[Violation]) -> None:
        _usage_log.emit(self.logger, _usage_log.usage_record(
            count=count, key=key, reader=None, status=None, streamed=False,
            refused="; ".join(v.limit for v in violations)))

    def finished(self, count: RequestCount, key: str | None, reader: _usage_log.UsageReader, status: int,
                 streamed: bool) -> None:
        reader.finish()
        _usage_log.emit(self.logger, _usage_log.usage_record(count=count, key=key, reader=reader,
                                                             status=status, streamed=streamed))


def _logger(log: Any) -> logging.Logger | None:
    if log is False:
        return None
    if log is None:
        return logging.getLogger(_usage_log.DEFAULT_LOGGER)
    if isinstance(log, str):
        return logging.getLogger(log)
    if isinstance(log, logging.Logger):
        return log
    raise TypeError(f"log must be a logging.Logger, a logger name, None or False, not {type(log).__name__}")


def guard(client: Any, budget: Budget, *, on_exceed: Any = "raise", window: Any = None,
          key: str | Callable[[Mapping[str, Any]], str] | None = None, log: Any = None,
          on_alert: Callable[[Alert], None] | None = None,
          context_alert_share: float = DEFAULT_CONTEXT_ALERT_SHARE,
          window_alert_share: float = DEFAULT_WINDOW_ALERT_SHARE) -> Any:
    """A client like `client` whose every LLM request is counted and judged against `budget`
    before it is sent, and refused with RequestRefused (a BudgetExceeded) when it breaks it.

    - on_exceed: "raise", or a callable (body, error) returning a replacement body (a trimmed
      history, a cheaper model), which is counted and judged again, or None to refuse.
    - window: a MemoryWindow or RedisWindow charged each request's input and output cap, per key.
    - key: the window key, or a callable (body) -> key.
    - log: the usage log's logger (default `pytest_tokenbudget.usage`), a name, or False for none.
    - on_alert: called with an Alert when a request fills `context_alert_share` of the context
      window or a window is more than `window_alert_share` used.
    """
    state = Guard(budget, on_exceed=on_exceed, window=window, key=key, log=log, on_alert=on_alert,
                  context_alert_share=context_alert_share, window_alert_share=window_alert_share)
    module = type(client).__module__.split(".")[0]
    if module == "openai" and hasattr(client, "with_options"):
        return _guard_by_transport(client, state)
    if module == "anthropic" and hasattr(client, "with_options"):
        if hasattr(client, "middleware"):
            from ._guard_anthropic import guarded_middleware

            return client.with_options(middleware=[*client.middleware, guarded_middleware(client, state)])
        return _guard_by_transport(client, state)
    raise UnsupportedClient(
        f"cannot guard a {type(client).__module__}.{type(client).__name__}: guard() takes an openai OpenAI/"
        "AsyncOpenAI or anthropic Anthropic/AsyncAnthropic client (or their Azure/Bedrock variants)")


def api_for(method: str, url: str) -> str | None:
    endpoint = classify_endpoint(method, url)
    return endpoint.api if endpoint is not None and endpoint.api in APIS else None


def _guard_by_transport(client: Any, state: Guard) -> Any:
    from ._guard_transport import guarded_http_client

    # The client's own HTTP client keeps sending (its proxies, limits, mocks); ours only judges.
    inner = getattr(client, "_client", None)
    if inner is None or not hasattr(inner, "send"):
        raise UnsupportedClient(f"{type(client).__name__} has no HTTP client to send through")
    sdk = sys.modules[type(client).__module__.split(".")[0]]
    sdk_error = getattr(sdk, "OpenAIError", None) or getattr(sdk, "AnthropicError")
    return client.with_options(http_client=guarded_http_client(inner, state, sdk_error))


def parse_body(content: bytes) -> Any:
    try:
        return json.loads(content or b"null")
    except ValueError as error:
        raise RequestBodyError("", f"the request body is not JSON ({error}); nothing was sent") from None
