"""Token-exact history fitting: the sliding window over a conversation that keeps what must stay
(system prompt, the last user turn, tool calls with their results) and drops the oldest turns
until the whole request, counted as the provider bills it, fits."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ._errors import TokenBudgetError
from ._models import Registry
from ._requests import count_messages

# Roles a chat history pins in place: instructions, never history to drop.
_PINNED_ROLES = frozenset({"system", "developer"})


class FitError(TokenBudgetError, ValueError):
    """Even the smallest request (system prompt, tools and the last user turn) is over the limit."""

    def __init__(self, needed: int, limit: int, model: str, what: str) -> None:
        self.needed = needed
        self.limit = limit
        super().__init__(
            f"{what} alone need {needed:,} tokens ({model}), over the limit of {limit:,}: shorten the "
            "system prompt or the last message, drop tools, or raise max_input_tokens")


def fit_messages(
    messages: Sequence[Mapping[str, Any]],
    model: str,
    *,
    max_input_tokens: int | None = None,
    reserve_output: int = 0,
    system: Any = None,
    tools: Sequence[Mapping[str, Any]] | None = None,
    registry: Registry | None = None,
) -> list[Mapping[str, Any]]:
    """The messages to send, in order, so that the request (system, tools, kept messages) needs at
    most `max_input_tokens` and leaves `reserve_output` tokens of the context window for the answer.

    Oldest turns go first. A turn starts at a user message that is not a tool result, so an
    assistant tool call is never separated from its results and the kept history never starts
    with a dangling tool result. System and developer messages are always kept. Works on both
    OpenAI chat messages and Anthropic messages (pass Anthropic's system prompt as `system`).
    """
    registry = registry or Registry.load()
    info = registry.get(model)
    limit = fit_limit(info.context_window, max_input_tokens, reserve_output)
    messages = list(messages)
    if not messages:
        return []
    pinned = [i for i, m in enumerate(messages) if _role(m, i) in _PINNED_ROLES]
    starts = turn_starts(messages)
    if not starts:
        starts = [0]  # no user turn to cut at: the history is kept or refused whole

    def count(start: int) -> int:
        kept = _kept(messages, pinned, start)
        return count_messages(kept, model, tools=tools, system=system, registry=registry).input_tokens

    whole = count_messages(messages, model, tools=tools, system=system, registry=registry)
    first = _first_unpinned(messages, pinned)
    if whole.input_tokens <= limit and not (first < len(messages) and _is_tool_result(messages[first])):
        return messages
    # One count of the whole request gives every message's share; the window is then chosen on
    # those shares (rounded down, so never too short) and confirmed with an exact count, moving
    # forward a turn when what the shares cannot see (a recorded count) puts it over.
    shares = _message_shares(whole, messages, model, tools, system, registry)
    suffix = [0] * (len(messages) + 1)
    for index in range(len(messages) - 1, -1, -1):
        suffix[index] = suffix[index + 1] + (0 if index in pinned else shares[index])
    fixed = whole.input_tokens - suffix[0]
    for position, start in enumerate(starts):
        if fixed + suffix[start] > limit and position < len(starts) - 1:
            continue
        exact = count(start)
        if exact <= limit:
            return _kept(messages, pinned, start)
        if position == len(starts) - 1:
            raise FitError(exact, limit, info.id, _minimum_description(system, tools, pinned))
    raise AssertionError("unreachable")  # pragma: no cover


def fit_limit(context_window: int, max_input_tokens: int | None, reserve_output: int) -> int:
    """The input tokens a request may use: its own limit, and the window less the reserved answer."""
    if max_input_tokens is not None and (isinstance(max_input_tokens, bool) or not isinstance(max_input_tokens, int) or max_input_tokens <= 0):
        raise ValueError(f"max_input_tokens must be a positive whole number, not {max_input_tokens!r}")
    if isinstance(reserve_output, bool) or not isinstance(reserve_output, int) or reserve_output < 0:
        raise ValueError(f"reserve_output must be a whole number of tokens >= 0, not {reserve_output!r}")
    window = context_window - reserve_output
    return window if max_input_tokens is None else min(max_input_tokens, window)


def turn_starts(messages: Sequence[Mapping[str, Any]]) -> list[int]:
    """Indexes where a turn begins: user messages that are not (only) tool results."""
    return [i for i, m in enumerate(messages) if _role(m, i) == "user" and not _is_tool_result(m)]


def _role(message: Any, index: int) -> str:
    if not isinstance(message, Mapping) or not isinstance(message.get("role"), str):
        raise ValueError(f"messages[{index}] must be an object with a string role, not {message!r}")
    return message["role"]


def _is_tool_result(message: Mapping[str, Any]) -> bool:
    if message.get("role") == "tool":
        return True
    content = message.get("content")
    # Anthropic sends tool results as blocks of a user message; OpenAI as role "tool" messages.
    return isinstance(content, list) and any(
        isinstance(block, Mapping) and block.get("type") == "tool_result" for block in content)


def _first_unpinned(messages: Sequence[Mapping[str, Any]], pinned: list[int]) -> int:
    return next((i for i in range(len(messages)) if i not in pinned), len(messages))


def _kept(messages: Sequence[Mapping[str, Any]], pinned: list[int], start: int) -> list[Mapping[str, Any]]:
    pinned_set = set(pinned)
    return [m for i, m in enumerate(messages) if i >= start or i in pinned_set]


def _message_shares(whole: Any, messages: list[Mapping[str, Any]], model: str, tools: Any, system: Any,
                    registry: Registry) -> list[int]:
    """Each message's tokens in `whole`: its breakdown part plus an equal slice of the framing."""
    offset = 1 if system is not None and whole.model.provider != "anthropic" else 0
    parts: dict[int, int] = {}
    for part in whole.breakdown:
        label = part.label
        if label.startswith("messages[") and " " in label:
            index = int(label[len("messages["):label.index("]")]) - offset
            if 0 <= index < len(messages):
                parts[index] = part.tokens
    empty = count_messages([], model, tools=tools, system=system, registry=registry).input_tokens
    framing = max(0, whole.input_tokens - empty - sum(parts.values()))
    per_message = framing / len(messages)
    return [parts.get(i, 0) + int(per_message) for i in range(len(messages))]


def _minimum_description(system: Any, tools: Any, pinned: list[int]) -> str:
    what = ["the last user turn"]
    if system is not None or pinned:
        what.insert(0, "the system prompt")
    if tools:
        what.append("the tools")
    return what[0] if len(what) == 1 else ", ".join(what[:-1]) + " and " + what[-1]
