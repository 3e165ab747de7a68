"""The ``token_budget`` marker: parsing, validation and merging with configured defaults.

Precedence, lowest first: ``[tool.tokenbudget.budget]`` in pyproject.toml, the
``tokenbudget_*`` ini options, then markers from the module (``pytestmark``),
the class, and the function. Each key is taken from the nearest place that
sets it, so a module can set ``max_calls`` and a test tighten only
``max_input_tokens``.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, fields
from typing import Any, Iterable, Mapping

__all__ = ["BudgetSpec", "MarkerError", "LIMIT_KEYS", "INI_KEYS", "parse_spec", "spec_from_sources"]

MARKER_NAME = "token_budget"

# Limits that are counts of tokens or calls: non-negative integers.
_INT_LIMITS = ("max_input_tokens", "max_output_tokens", "max_total_tokens", "max_calls")
LIMIT_KEYS = (*_INT_LIMITS, "max_cost_usd")
_FLAG_KEYS = ("require_max_tokens", "require_requests")
ALL_KEYS = (*LIMIT_KEYS, "model", *_FLAG_KEYS, "baseline_tolerance")
# ini option name for each key; pytest reads them from [tool.pytest.ini_options] or pytest.ini.
INI_KEYS = {key: f"tokenbudget_{key}" for key in ALL_KEYS}

MARKER_HELP = (
    "token_budget(*, max_input_tokens=None, max_output_tokens=None, max_total_tokens=None, max_calls=None, "
    "max_cost_usd=None, model=None, require_max_tokens=True, require_requests=False, baseline_tolerance=None): fail "
    "the test when an LLM request it makes exceeds these limits (requests are counted whoever answers them; those "
    "that would leave the machine are answered locally). require_requests=True also fails it when it makes none. "
    "baseline_tolerance ('5%' or a number of tokens) is how much a prompt may grow over its baseline entry."
)


class MarkerError(ValueError):
    """A bad marker or configured default; the message names where and what."""


@dataclass(frozen=True)
class BudgetSpec:
    max_input_tokens: int | None = None
    max_output_tokens: int | None = None
    max_total_tokens: int | None = None
    max_calls: int | None = None
    max_cost_usd: float | None = None
    model: str | None = None
    require_max_tokens: bool = True
    # A budgeted test that sends nothing proves nothing (often the SDK was mocked away).
    require_requests: bool = False
    # How much a prompt may grow over its baseline entry (a _baseline.Tolerance); None: the configured default.
    baseline_tolerance: Any = None

    def limits(self) -> dict[str, Any]:
        """The numeric limits that are set, by name, in declaration order."""
        return {key: getattr(self, key) for key in LIMIT_KEYS if getattr(self, key) is not None}

    def budget_kwargs(self) -> dict[str, Any]:
        return {**{key: getattr(self, key) for key in LIMIT_KEYS}, "require_max_tokens": self.require_max_tokens}


def parse_spec(values: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Validate one source of settings; returns only the keys it sets.

    ``where`` names the source in error messages ("marker on tests/test_x.py::test_y").
    """
    parsed: dict[str, Any] = {}
    for key, value in values.items():
        if key not in ALL_KEYS:
            close = difflib.get_close_matches(key, ALL_KEYS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known: {', '.join(ALL_KEYS)})"
            raise MarkerError(f"{where}: unknown argument {key!r}{hint}")
        parsed[key] = _validate(key, value, where)
    return parsed


def _validate(key: str, value: Any, where: str) -> Any:
    if value is None:
        return None
    if key == "model":
        if not isinstance(value, str) or not value.strip():
            raise MarkerError(f"{where}: model must be a model name string, got {value!r}")
        return value.strip()
    if key == "baseline_tolerance":
        from ._baseline import parse_tolerance

        try:
            return parse_tolerance(value)
        except ValueError as error:
            raise MarkerError(f"{where}: baseline_tolerance: {error}") from None
    if key in _FLAG_KEYS:
        if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.strip().lower() in ("true", "1", "yes")
        if not isinstance(value, bool):
            raise MarkerError(f"{where}: {key} must be True or False, got {value!r}")
        return value
    # Numbers may come from ini files as strings, and users write 8_000 there too.
    if isinstance(value, str):
        text = value.strip().replace("_", "").replace(",", "")
        try:
            value = int(text) if key in _INT_LIMITS else float(text)
        except ValueError:
            raise MarkerError(f"{where}: {key} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise MarkerError(f"{where}: {key} must be a number, got {value!r}")
    if key in _INT_LIMITS:
        if isinstance(value, float):
            if not value.is_integer():
                raise MarkerError(f"{where}: {key} must be a whole number, got {value!r}")
            value = int(value)
    elif not math.isfinite(value):
        raise MarkerError(f"{where}: {key} must be a finite number, got {value!r}")
    if value < 0:
        raise MarkerError(f"{where}: {key} must not be negative, got {value!r}")
    return value


def spec_from_sources(sources: Iterable[tuple[str, Mapping[str, Any], tuple[Any, ...]]]) -> BudgetSpec:
    """Merge sources given farthest first: (where, keyword values, positional args)."""
    merged: dict[str, Any] = {}
    for where, values, args in sources:
        if args:
            raise MarkerError(
                f"{where}: token_budget takes keyword arguments only, got positional {args!r} "
                "(write e.g. token_budget(max_input_tokens=8000))"
            )
        merged.update(parse_spec(values, where))
    known = {field.name for field in fields(BudgetSpec)}
    return BudgetSpec(**{key: value for key, value in merged.items() if key in known and value is not None})
