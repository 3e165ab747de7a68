"""pytest-tokenbudget: count the tokens an LLM request will be billed for, offline, with the
model's own tokenizer, and fail tests whose prompts outgrow their budget.

    >>> from pytest_tokenbudget import count_request
    >>> count_request({"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}).input_tokens
    8
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# The public names and the private module each lives in. They are imported on first use: pytest
# imports this package for every run, and `tokenbudget check` never needs the counting core.
_EXPORTS = {
    "Budget": "_budget",
    "BudgetExceeded": "_budget",
    "Violation": "_budget",
    "ConfigError": "_errors",
    "EncodingUnavailableError": "_errors",
    "RequestBodyError": "_errors",
    "TokenBudgetError": "_errors",
    "TokenBudgetWarning": "_errors",
    "UnknownModelError": "_errors",
    "FitError": "_fitting",
    "Alert": "_guard",
    "RequestRefused": "_guard",
    "UnsupportedClient": "_guard",
    "guard": "_guard",
    "MemoryWindow": "_windows",
    "RedisWindow": "_windows",
    "WindowDecision": "_windows",
    "WindowUnavailable": "_windows",
    "fit_messages": "_fitting",
    "image_size": "_images",
    "ModelInfo": "_models",
    "PromptPlan": "_planning",
    "Registry": "_models",
    "get_model": "_models",
    "Part": "_requests",
    "RequestCount": "_requests",
    "count_messages": "_requests",
    "count_request": "_requests",
    "count_tokens": "_requests",
}

__all__ = sorted([*_EXPORTS, "image_tokens"])

if TYPE_CHECKING:
    from ._budget import Budget, BudgetExceeded, Violation
    from ._errors import (
        ConfigError, EncodingUnavailableError, RequestBodyError, TokenBudgetError, TokenBudgetWarning, UnknownModelError,
    )
    from ._fitting import FitError, fit_messages
    from ._guard import Alert, RequestRefused, UnsupportedClient, guard
    from ._images import image_size
    from ._models import ModelInfo, Registry, get_model
    from ._planning import PromptPlan
    from ._requests import Part, RequestCount, count_messages, count_request, count_tokens
    from ._windows import MemoryWindow, RedisWindow, WindowDecision, WindowUnavailable


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pytest_tokenbudget' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


def image_tokens(width: int, height: int, model: str, detail: str = "high") -> int:
    """Tokens an image of `width` x `height` pixels costs in a prompt to `model`."""
    from ._images import tokens_for
    from ._models import Registry

    registry = Registry.load()
    info = registry.get(model)
    if not info.image_rule or info.image_rule not in registry.image_rules:
        raise ValueError(f"{info.id} does not accept images")
    return tokens_for(registry.image_rules[info.image_rule], width, height, detail)
