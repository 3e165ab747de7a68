"""The runtime guard: the plugin's budgets in production. A guarded SDK client counts every request
with the same counting core and registry the tests use, judges it with the same `Budget`, and
refuses it before anything is sent. It hooks in through the SDKs' own extension points: an
`http_client` whose transport checks each request (openai), the client middleware (anthropic)."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import _usage_log
from ._budget import Budget, BudgetExceeded, Violation
from ._endpoints import classify_endpoint, mask_url
from ._errors import RequestBodyError, TokenBudgetError
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


@dataclass
class Admitted:
    """A request let through, and what its window was charged for it, until its answer is read."""

    body: Mapping[str, Any]
    count: RequestCount
    key: str | None
    url: str  # credentials in the query string masked
    charged_tokens: int = 0
    charged_cost_usd: float = 0.0

    @property
    def streamed(self) -> bool:
        return bool(self.body.get("stream"))


class RequestRefused(BudgetExceeded):
    """A guarded request that breaks its budget; nothing was sent. `request` is its count, with
    the per-part `breakdown` that says where the tokens went."""

    def __init__(self, violations: list[Violation], request: RequestCount) -> None:
        self.request = request
        self.breakdown = request.breakdown
        super().__init__(violations)
        largest = ", ".join(f"{p.label} {p.tokens:,}" for p in request.largest_first()[:3])
        self.args = (f"{self.args[0]}\nlargest parts: {largest}",)

    @staticmethod
    def found_in(error: BaseException) -> RequestRefused | None:
        """The refusal behind `error`, for libraries that wrap what their HTTP client raises in
        their own exception (litellm raises an InternalServerError caused by it), else None."""
        seen: set[int] = set()
        current: BaseException | None = error
        while current is not None and id(current) not in seen:
            if isinstance(current, RequestRefused):
                return current
            seen.add(id(current))
            current = current.__cause__ or current.__context__
        return None


class UnsupportedClient(TokenBudgetError, TypeError):
    """guard() was given something it does not know how to guard."""


class Guard:
    """What every guarded client shares: count, judge, replace, consume the window, log, alert."""

    def __init__(self, budget: Budget, *, on_exceed: Any = "raise", window: Any = None,
                 key: str | Callable[[Mapping[str, Any]], str] | None = None, log: Any = None,
                 on_alert: Callable[[Alert], None] | None = None,
                 context_alert_share: float = DEFAULT_CONTEXT_ALERT_SHARE,
                 window_alert_share: float = DEFAULT_WINDOW_ALERT_SHARE, log_prompts: bool = False,
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
        if window is not None and not (hasattr(window, "consume") and hasattr(window, "refund")):
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
        if not isinstance(log_prompts, bool):
            raise TypeError(f"log_prompts must be True or False, not {log_prompts!r}")
        self.log_prompts = log_prompts
        self.registry = registry or Registry.load()

    def admit(self, body: Any, api: str, url: str = "") -> Admitted:
        """The body to send, its count and window charge; RequestRefused when it may not go."""
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
        admitted = Admitted(body, count, self._key(body), mask_url(url))
        key = admitted.key
        if violations:
            self._log_refusal(admitted, violations)
            raise RequestRefused(violations, count)
        share = (count.input_tokens + (count.max_output_tokens or 0)) / count.model.context_window
        if share >= self.context_alert_share:
            self._alert(Alert("context_window", share, key, count.model.id,
                              f"request fills {share:.0%} of {count.model.id}'s context window "
                              f"({count.input_tokens:,} input + {count.max_output_tokens or 0:,} output cap)"))
        if self.window is not None:
            self._consume(admitted)
        return admitted

    def _consume(self, admitted: Admitted) -> None:
        # The window is charged the output cap, not the answer's length: it is all the request
        # may cost, and known before sending. What the answer did not use is refunded once its
        # reported usage is read.
        count, key = admitted.count, admitted.key
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
            self._log_refusal(admitted, [violation])
            raise RequestRefused([violation], count)
        if not decision.unavailable:
            admitted.charged_tokens, admitted.charged_cost_usd = tokens, count.cost_usd or 0.0
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

    def _log_refusal(self, admitted: Admitted, violations: list[Violation]) -> None:
        _usage_log.emit(self.logger, _usage_log.usage_record(
            admitted, reader=None, status=None, log_prompts=self.log_prompts,
            refused="; ".join(v.limit for v in violations)))

    def finished(self, admitted: Admitted, reader: _usage_log.UsageReader, status: int) -> None:
        """The answer has been read (or abandoned): refund the window, write the usage line."""
        reader.finish()
        refunded = self._refund(admitted, reader, status)
        _usage_log.emit(self.logger, _usage_log.usage_record(admitted, reader=reader, status=status,
                                                             log_prompts=self.log_prompts, refunded_tokens=refunded))

    def _refund(self, admitted: Admitted, reader: _usage_log.UsageReader, status: int) -> int:
        """Give the window back the output cap the answer did not use; returns the tokens given back."""
        cap = admitted.count.max_output_tokens
        if not admitted.charged_tokens or not cap:
            return 0
        used = reader.output_tokens
        if used is None:
            if status < 400:
                # No usage reported (a stream without usage, or closed early): the cap may have
                # been used, so the charge stands.
                return 0
            used = 0  # an error answer generated nothing
        unused = max(0, cap - used)
        if not unused:
            return 0
        model, input_tokens = admitted.count.model, admitted.count.input_tokens
        cost_used = model.cost_usd(input_tokens, min(used, cap)) or 0.0
        cost_back = max(0.0, admitted.charged_cost_usd - cost_used)
        return unused if self.window.refund(admitted.key or "default", unused, cost_back) else 0


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
          window_alert_share: float = DEFAULT_WINDOW_ALERT_SHARE, log_prompts: bool = False) -> Any:
    """A client like `client` whose every LLM request is counted and judged against `budget`
    before it is sent, and refused with RequestRefused (a BudgetExceeded) when it breaks it.

    - on_exceed: "raise", or a callable (body, error) returning a replacement body (a trimmed
      history, a cheaper model), which is counted and judged again, or None to refuse.
    - window: a MemoryWindow or RedisWindow charged each request's input and output cap, per key;
      the part of the cap the answer did not use (its reported usage) is refunded.
    - key: the window key, or a callable (body) -> key.
    - log: the usage log's logger (default `pytest_tokenbudget.usage`), a name, or False for none.
    - log_prompts: also log each request's prompt (system, messages, input, tools); credentials
      (headers, secret query parameters, other body fields) never are.
    - on_alert: called with an Alert when a request fills `context_alert_share` of the context
      window or a window is more than `window_alert_share` used.
    """
    state = Guard(budget, on_exceed=on_exceed, window=window, key=key, log=log, on_alert=on_alert,
                  context_alert_share=context_alert_share, window_alert_share=window_alert_share,
                  log_prompts=log_prompts)
    module = type(client).__module__.split(".")[0]
    if module in ("httpx", "httpx2") and hasattr(client, "send"):
        # A bare HTTP client, for what takes one: litellm's `client_session` / `aclient_session`
        # or its handlers' `client=`, an SDK's `http_client=`.
        from ._guard_transport import guarded_http_client

        sdk_errors = tuple(getattr(sys.modules[name], error) for name, error in _SDK_ERRORS if name in sys.modules)
        return guarded_http_client(client, state, sdk_errors)
    if module == "openai" and hasattr(client, "with_options"):
        return _guard_by_transport(client, state)
    if module == "anthropic" and hasattr(client, "with_options"):
        if hasattr(client, "middleware"):
            from ._guard_anthropic import guarded_middleware

            return client.with_options(middleware=[*client.middleware, guarded_middleware(client, state)])
        return _guard_by_transport(client, state)
    raise UnsupportedClient(
        f"cannot guard a {type(client).__module__}.{type(client).__name__}: guard() takes an openai OpenAI/"
        "AsyncOpenAI or anthropic Anthropic/AsyncAnthropic client (or their Azure/Bedrock variants), or an "
        "httpx/httpx2 Client/AsyncClient (for litellm: litellm.client_session = guard(httpx.Client(), budget))")


# The SDKs' base errors: a refusal is raised as one of them too, so that an SDK sending through a
# guarded HTTP client lets it through as it is instead of wrapping it as a connection error to retry.
_SDK_ERRORS = (("openai", "OpenAIError"), ("anthropic", "AnthropicError"))


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
    return client.with_options(http_client=guarded_http_client(inner, state, (sdk_error,)))


def parse_body(content: bytes) -> Any:
    try:
        return json.loads(content or b"null")
    except ValueError as error:
        raise RequestBodyError("", f"the request body is not JSON ({error}); nothing was sent") from None
