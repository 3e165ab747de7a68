"""fit_messages: the kept history always fits, keeps tool calls with their results, and drops the
oldest turns first, for both providers' message shapes."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_tokenbudget import FitError, count_messages, fit_messages

OPENAI = "gpt-4o"
CLAUDE = "claude-sonnet-4-5"
TOOLS = [{"type": "function", "function": {"name": "lookup", "description": "Look an order up.",
          "parameters": {"type": "object", "properties": {"order": {"type": "string"}}}}}]
CLAUDE_TOOLS = [{"name": "lookup", "description": "Look an order up.",
                 "input_schema": {"type": "object", "properties": {"order": {"type": "string"}}}}]

words = st.text(alphabet=st.sampled_from("abcdefghij klmnop.,?é中"), min_size=1, max_size=80)


@st.composite
def openai_history(draw):
    messages = []
    for turn in range(draw(st.integers(1, 12))):
        messages.append({"role": "user", "content": draw(words)})
        if draw(st.booleans()):
            calls = draw(st.integers(1, 2))
            ids = [f"call_{turn}_{n}" for n in range(calls)]
            messages.append({"role": "assistant", "content": None, "tool_calls": [
                {"id": i, "type": "function", "function": {"name": "lookup", "arguments": '{"order": "%s"}' % draw(words)}}
                for i in ids]})
            messages += [{"role": "tool", "tool_call_id": i, "content": draw(words)} for i in ids]
        messages.append({"role": "assistant", "content": draw(words)})
    return messages


@st.composite
def claude_history(draw):
    messages = []
    for turn in range(draw(st.integers(1, 12))):
        messages.append({"role": "user", "content": draw(words)})
        if draw(st.booleans()):
            tool_id = f"toolu_{turn}"
            messages.append({"role": "assistant", "content": [
                {"type": "text", "text": draw(words)},
                {"type": "tool_use", "id": tool_id, "name": "lookup", "input": {"order": draw(words)}}]})
            messages.append({"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": tool_id, "content": draw(words)}]})
        messages.append({"role": "assistant", "content": draw(words)})
    messages.append({"role": "user", "content": draw(words)})
    return messages


def tool_pairs_intact(kept, provider):
    """Every tool result answers a call that was kept, and every kept call has all its results."""
    calls, results = set(), set()
    for message in kept:
        if provider == "openai":
            calls |= {c["id"] for c in message.get("tool_calls") or ()}
            if message["role"] == "tool":
                results.add(message["tool_call_id"])
        elif isinstance(message["content"], list):
            calls |= {b["id"] for b in message["content"] if b["type"] == "tool_use"}
            results |= {b["tool_use_id"] for b in message["content"] if b["type"] == "tool_result"}
    return calls == results


def is_suffix_of(kept, messages):
    return kept == messages[len(messages) - len(kept):]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=openai_history(), limit=st.integers(60, 900), tools=st.booleans())
def test_openai_history_always_fits_and_keeps_tool_pairs(history, limit, tools):
    tools = TOOLS if tools else None
    try:
        kept = fit_messages(history, OPENAI, max_input_tokens=limit, system="Be brief.", tools=tools)
    except FitError as error:
        last_turn = max(i for i, m in enumerate(history) if m["role"] == "user")
        assert count_messages(history[last_turn:], OPENAI, system="Be brief.", tools=tools).input_tokens > limit
        assert error.needed > limit
        return
    assert count_messages(kept, OPENAI, system="Be brief.", tools=tools).input_tokens <= limit
    assert is_suffix_of(kept, history)
    assert kept[0]["role"] == "user" or kept == history
    assert tool_pairs_intact(kept, "openai")
    if kept != history:  # the turn before the kept ones would not have fitted
        starts = [i for i, m in enumerate(history) if m["role"] == "user"]
        previous = max(i for i in starts if i < len(history) - len(kept))
        assert count_messages(history[previous:], OPENAI, system="Be brief.", tools=tools).input_tokens > limit


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=claude_history(), limit=st.integers(40, 900), tools=st.booleans())
def test_claude_history_always_fits_and_keeps_tool_pairs(history, limit, tools):
    tools = CLAUDE_TOOLS if tools else None
    try:
        kept = fit_messages(history, CLAUDE, max_input_tokens=limit, system="Be brief.", tools=tools)
    except FitError:
        assert count_messages(history[-1:], CLAUDE, system="Be brief.", tools=tools).input_tokens > limit
        return
    assert count_messages(kept, CLAUDE, system="Be brief.", tools=tools).input_tokens <= limit
    assert is_suffix_of(kept, history)
    assert kept[0]["role"] == "user" and isinstance(kept[0]["content"], str)  # never a dangling tool_result
    assert tool_pairs_intact(kept, "anthropic")


def test_system_messages_in_the_history_stay_and_oldest_turns_go_first():
    history = [{"role": "system", "content": "You are a support bot."}]
    for n in range(30):
        history += [{"role": "user", "content": f"question {n} " + "word " * 40},
                    {"role": "assistant", "content": f"answer {n} " + "word " * 40}]
    kept = fit_messages(history, OPENAI, max_input_tokens=500)
    assert kept[0] == history[0]
    assert kept[1]["content"].startswith("question ") and kept[-1] == history[-1]
    assert count_messages(kept, OPENAI).input_tokens <= 500
    assert len(kept) < len(history)


def test_reserve_output_counts_against_the_context_window():
    history = [{"role": "user", "content": "word " * 3000}, {"role": "assistant", "content": "ok"},
               {"role": "user", "content": "and now?"}]
    assert fit_messages(history, OPENAI, max_input_tokens=10_000) == history
    # gpt-4o's window is 128k: reserving all but 100 tokens of it leaves room for the last turn only
    kept = fit_messages(history, OPENAI, max_input_tokens=10_000, reserve_output=128_000 - 100)
    assert kept == history[-1:]


def test_history_that_fits_is_returned_whole_but_a_leading_orphan_tool_result_goes():
    orphan = [{"role": "tool", "tool_call_id": "gone", "content": "42"},
              {"role": "user", "content": "thanks"}]
    assert fit_messages(orphan, OPENAI, max_input_tokens=1000) == orphan[1:]


def test_when_even_the_last_turn_does_not_fit_the_error_says_what_to_do():
    with pytest.raises(FitError, match="system prompt and the last user turn alone need .* over the limit of 20"):
        fit_messages([{"role": "user", "content": "word " * 100}], OPENAI, max_input_tokens=20, system="hi")


@pytest.mark.parametrize("kwargs, message", [
    ({"max_input_tokens": 0}, "max_input_tokens must be a positive"),
    ({"max_input_tokens": -5}, "max_input_tokens must be a positive"),
    ({"max_input_tokens": 10, "reserve_output": -1}, "reserve_output must be"),
])
def test_bad_limits_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        fit_messages([{"role": "user", "content": "hi"}], OPENAI, **kwargs)


def test_unknown_model_and_malformed_messages_are_clear_errors():
    from pytest_tokenbudget import UnknownModelError

    with pytest.raises(UnknownModelError, match="gpt-4oo"):
        fit_messages([{"role": "user", "content": "hi"}], "gpt-4oo", max_input_tokens=10)
    with pytest.raises(ValueError, match=r"messages\[1\] must be an object with a string role"):
        fit_messages([{"role": "user", "content": "hi"}, "hello"], OPENAI, max_input_tokens=10)
