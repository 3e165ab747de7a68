"""Budgets: the limits a test or a call site declares, and the violations a set of counted
requests commits against them."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Iterable, Sequence

from ._errors import TokenBudgetError
from ._requests import RequestCount


@dataclass(frozen=True)
class Violation:
    """One limit broken. `request_index` is None for limits over all requests (total, calls, cost)."""

    limit: str
    actual: float
    allowed: float
    request_index: int | None
    message: str


@dataclass(frozen=True)
class Budget:
    """Limits on the requests a piece of code sends. Every limit is optional.

    - max_input_tokens: per request, the prompt as billed.
    - max_output_tokens: per request, the output cap the request sets must exist and not exceed it.
    - max_total_tokens: over all requests, input plus requested output.
    - max_calls: number of requests.
    - max_cost_usd: over all requests, input plus requested output at the registry's prices.
    - reserved_output_tokens: room to keep free in the context window for the answer when a
      request sets no cap of its own.
    - require_max_tokens: a request without an output cap is a violation.
    The context-window fit (input + output cap <= window) is always checked.
    """

    max_input_tokens: int | None = None
    max_output_tokens: int | None = None
    max_total_tokens: int | None = None
    max_calls: int | None = None
    max_cost_usd: float | None = None
    reserved_output_tokens: int | None = None
    require_max_tokens: bool = False

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name == "require_max_tokens":
                if not isinstance(value, bool):
                    raise TypeError(f"require_max_tokens must be True or False, not {value!r}")
                continue
            if value is None:
                continue
            if field.name == "max_cost_usd":
                if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
                    raise TypeError(f"max_cost_usd must be a number of dollars, not {value!r}")
            elif isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{field.name} must be a whole number, not {value!r}")
            if value < 0:
                raise ValueError(f"{field.name} must not be negative, got {value!r}")

    def check(self, requests: Iterable[RequestCount]) -> list[Violation]:
        """Every limit the requests break, per request first, then over all of them."""
        requests = list(requests)
        violations: list[Violation] = []
        for index, request in enumerate(requests):
            violations += self._check_request(index, request)
        violations += self._check_all(requests)
        return violations

    def enforce(self, requests: Iterable[RequestCount]) -> None:
        """Raise BudgetExceeded when `check` finds anything."""
        violations = self.check(requests)
        if violations:
            raise BudgetExceeded(violations)

    def _check_request(self, index: int, request: RequestCount) -> list[Violation]:
        found = []
        where = request.describe()
        cap = request.max_output_tokens
        if self.max_input_tokens is not None and request.input_tokens > self.max_input_tokens:
            found.append(Violation(
                "max_input_tokens", request.input_tokens, self.max_input_tokens, index,
                f"prompt {request.input_tokens:,} tokens > budget {self.max_input_tokens:,} ({where})"))
        if request.produces_output:
            if cap is None and (self.require_max_tokens or self.max_output_tokens is not None):
                found.append(Violation(
                    "require_max_tokens", math.inf, self.max_output_tokens or 0, index,
                    f"request sets no output cap (max_tokens) ({request.model.id}): "
                    "its answer may be as long as the model allows"))
            elif self.max_output_tokens is not None and cap is not None and cap > self.max_output_tokens:
                found.append(Violation(
                    "max_output_tokens", cap, self.max_output_tokens, index,
                    f"output cap {cap:,} tokens > budget {self.max_output_tokens:,} ({request.model.id})"))
        window = request.model.context_window
        reserved = cap if cap is not None else (self.reserved_output_tokens or 0)
        if request.produces_output and request.input_tokens + reserved > window:
            found.append(Violation(
                "context_window", request.input_tokens + reserved, window, index,
                f"prompt {request.input_tokens:,} + output cap {reserved:,} tokens > context window "
                f"{window:,} ({where})"))
        elif not request.produces_output and request.input_tokens > window:
            found.append(Violation(
                "context_window", request.input_tokens, window, index,
                f"input {request.input_tokens:,} tokens > context window {window:,} ({where})"))
        return found

    def _check_all(self, requests: Sequence[RequestCount]) -> list[Violation]:
        found = []
        if self.max_calls is not None and len(requests) > self.max_calls:
            found.append(Violation("max_calls", len(requests), self.max_calls, None,
                                   f"{_calls(len(requests))} > budget {self.max_calls}"))
        if self.max_total_tokens is not None:
            total = sum(r.input_tokens + (r.max_output_tokens or 0) for r in requests)
            if total > self.max_total_tokens:
                found.append(Violation("max_total_tokens", total, self.max_total_tokens, None,
                                       f"total {total:,} tokens (input + requested output) > budget "
                                       f"{self.max_total_tokens:,} over {_calls(len(requests))}"))
        if self.max_cost_usd is not None:
            costs = [r.cost_usd for r in requests]
            unpriced = sorted({r.model.id for r, c in zip(requests, costs) if c is None})
            cost = sum(c for c in costs if c is not None)
            if cost > self.max_cost_usd:
                found.append(Violation("max_cost_usd", cost, self.max_cost_usd, None,
                                       f"cost ${cost:,.4f} (input + requested output) > budget "
                                       f"${self.max_cost_usd:,.4f} over {_calls(len(requests))}"))
            if unpriced:
                found.append(Violation("max_cost_usd", math.nan, self.max_cost_usd, None,
                                       f"cannot check the cost budget: no price for {', '.join(unpriced)}; "
                                       "add input_price_per_mtok and output_price_per_mtok under "
                                       "[tool.tokenbudget.models.<name>]"))
        return found


def _calls(number: int) -> str:
    return "1 call" if number == 1 else f"{number:,} calls"


class BudgetExceeded(TokenBudgetError, AssertionError):
    """Raised by Budget.enforce; prints every violation, the first one as its headline."""

    def __init__(self, violations: Sequence[Violation]) -> None:
        self.violations = list(violations)
        lines = [v.message for v in self.violations]
        super().__init__("\n".join(lines))
