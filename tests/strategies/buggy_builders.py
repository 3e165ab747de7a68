"""Prompt builders with the bugs users ship, for the strategies to find (tests and
bench/bench_strategies.py). Each pairs a builder with the property it breaks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from hypothesis import strategies as st

from pytest_tokenbudget import count_messages
from pytest_tokenbudget import strategies as tbst
from pytest_tokenbudget._tokenizers import get_encoding

BUDGET_TOKENS = 4_000
MAX_HISTORY_CHARS = 12_000


def _text_of(message: dict[str, Any]) -> str:
    content = message.get("content") or ""
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, dict))


def trim_by_characters(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Keeps the newest messages up to 12,000 characters, "about 3,000 tokens" in English."""
    kept: list[dict[str, Any]] = []
    used = 0
    for message in reversed(history):
        used += len(_text_of(message))
        if used > MAX_HISTORY_CHARS:
            break
        kept.insert(0, message)
    return kept


def fits_budget(messages: list[dict[str, Any]]) -> bool:
    return count_messages(messages, "gpt-4o").input_tokens <= BUDGET_TOKENS


def last_ten(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The classic window: it can start on a tool result whose call it cut off."""
    return history[-10:]


def tool_pairs_intact(messages: list[dict[str, Any]]) -> bool:
    called = {call["id"] for message in messages for call in message.get("tool_calls") or ()}
    answered = {message["tool_call_id"] for message in messages if message["role"] == "tool"}
    return called == answered


def preview(text: str, limit: int = 40) -> str:
    """A preview cut at `limit` UTF-16 code units, as a JavaScript front end's `slice` would."""
    units = text.encode("utf-16-le", "surrogatepass")[: 2 * limit]
    return units.decode("utf-16-le", "surrogatepass")


def sendable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def naive_token_count(messages: list[dict[str, Any]]) -> int:
    """Counts with `encode()`, which refuses special-token strings that users can type."""
    encoding = get_encoding("cl100k_base")
    return sum(len(encoding.encode(_text_of(message))) for message in messages)


# --- each bug with the property test that finds it (tests/strategies/test_finds_bugs.py, the bench) ---


def _trimmed_history_fits(history: list[dict[str, Any]]) -> None:
    assert fits_budget(trim_by_characters(history))


def _window_keeps_pairs(history: list[dict[str, Any]]) -> None:
    assert tool_pairs_intact(last_ten(history))


def _preview_is_sendable(text: str) -> None:
    assert sendable(preview(text))


def _counting_never_raises(history: list[dict[str, Any]]) -> None:
    naive_token_count(history)


@dataclass(frozen=True)
class Hunt:
    """A property the buggy builder breaks, the default strategy that must find it, and what it raises."""

    name: str
    check: Callable[[Any], None]
    strategy: st.SearchStrategy[Any]
    raises: type[Exception] = AssertionError
    match: str | None = None


HUNTS = (
    Hunt("12,000-character trim vs 4,000 tokens", _trimmed_history_fits,
         tbst.chat_histories(max_messages=30, max_tokens_per_message=1_000, images=False)),
    Hunt("messages[-10:] cuts a tool pair", _window_keeps_pairs, tbst.chat_histories(max_messages=30, max_tokens_per_message=8)),
    Hunt("UTF-16 preview splits a surrogate pair", _preview_is_sendable, tbst.texts(min_tokens=10, max_tokens=200)),
    Hunt("encode() raises on <|endoftext|>", _counting_never_raises,
         tbst.chat_histories(max_messages=10, max_tokens_per_message=100, images=False), ValueError, "disallowed special token"),
)
