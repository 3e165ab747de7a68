"""Prompt building: the code whose growth the budgets watch."""

from __future__ import annotations

import json
from typing import Any

SYSTEM_PROMPT = (
    "You are Ada, the support assistant of Acme Outdoor. Answer in at most three sentences, "
    "always quote the order number you talk about, never promise refunds (hand those to a human), "
    "and call lookup_order before saying anything about an order's status."
)

LOOKUP_ORDER = {
    "name": "lookup_order",
    "description": "Find an order by its number and return its status and items.",
    "parameters": {
        "type": "object",
        "properties": {"order_id": {"type": "string", "description": "The order number, e.g. A-1042"}},
        "required": ["order_id"],
    },
}

# The number of past messages kept: the main lever on prompt size.
HISTORY_WINDOW = 6


def openai_messages(history: list[dict[str, Any]], question: str) -> list[dict[str, Any]]:
    recent = history[-HISTORY_WINDOW:]
    return [{"role": "system", "content": SYSTEM_PROMPT}, *recent, {"role": "user", "content": question}]


def fit_openai_messages(messages: list[dict[str, Any]], model: str, max_tokens: int) -> list[dict[str, Any]]:
    """The newest turns that fit `max_tokens` with the tools, keeping tool calls with their results."""
    from pytest_tokenbudget import fit_messages

    return list(fit_messages(messages, model, max_input_tokens=max_tokens, tools=openai_tools()))


def openai_tools() -> list[dict[str, Any]]:
    return [{"type": "function", "function": LOOKUP_ORDER}]


def anthropic_messages(history: list[dict[str, Any]], question: str) -> list[dict[str, Any]]:
    recent = history[-HISTORY_WINDOW:]
    return [*recent, {"role": "user", "content": question}]


def anthropic_tools() -> list[dict[str, Any]]:
    return [{"name": LOOKUP_ORDER["name"], "description": LOOKUP_ORDER["description"],
             "input_schema": LOOKUP_ORDER["parameters"]}]


def tool_arguments(raw: str) -> dict[str, Any]:
    return json.loads(raw or "{}")
