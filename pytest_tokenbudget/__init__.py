"""pytest-tokenbudget: count the tokens an LLM request will be billed for, offline, with the
model's own tokenizer, and fail tests whose prompts outgrow their budget.

    >>> from pytest_tokenbudget import count_request
    >>> count_request({"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}).input_tokens
    8
"""

from ._budget import Budget, BudgetExceeded, Violation
from ._errors import (
    ConfigError,
    EncodingUnavailableError,
    RequestBodyError,
    TokenBudgetError,
    UnknownModelError,
)
from ._images import image_size
from ._models import ModelInfo, Registry, get_model
from ._requests import Part, RequestCount, count_messages, count_request, count_tokens

__all__ = [
    "Budget",
    "BudgetExceeded",
    "ConfigError",
    "EncodingUnavailableError",
    "ModelInfo",
    "Part",
    "Registry",
    "RequestBodyError",
    "RequestCount",
    "TokenBudgetError",
    "UnknownModelError",
    "Violation",
    "count_messages",
    "count_request",
    "count_tokens",
    "get_model",
    "image_size",
    "image_tokens",
]


def image_tokens(width: int, height: int, model: str, detail: str = "high") -> int:
    """Tokens an image of `width` x `height` pixels costs in a prompt to `model`."""
    from ._images import tokens_for

    registry = Registry.load()
    info = registry.get(model)
    if not info.image_rule or info.image_rule not in registry.image_rules:
        raise ValueError(f"{info.id} does not accept images")
    return tokens_for(registry.image_rules[info.image_rule], width, height, detail)
