"""Our own core under the strategies: counting never raises and matches tiktoken on plain text,
a breakdown sums to its total, fit_messages fits and keeps tool calls with their results."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pytest_tokenbudget import FitError, count_messages, count_tokens, fit_messages
from pytest_tokenbudget import strategies as tbst
from pytest_tokenbudget._tokenizers import get_encoding

CHECKED = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                   suppress_health_check=[HealthCheck.too_slow])


@CHECKED
@given(tbst.texts(max_tokens=300, surrogates=True), st.sampled_from(["gpt-4o", "gpt-4", "claude-sonnet-4-5"]))
def test_counting_never_raises_and_is_tiktokens_for_openai_models(text, model):
    tokens = count_tokens(text, model)
    assert tokens >= 0
    if model.startswith("gpt"):
        encoding = get_encoding("o200k_base" if model == "gpt-4o" else "cl100k_base")
        assert tokens == len(encoding.encode(text, disallowed_special=()))


@CHECKED
@given(st.data())
def test_a_breakdown_sums_to_the_total(data):
    provider = data.draw(st.sampled_from(tbst.PROVIDERS))
    model = "gpt-4o" if provider == "openai" else "claude-sonnet-4-5"
    counted = count_messages(data.draw(tbst.chat_histories(provider, max_messages=10)), model)
    if counted.provenance != "recorded":
        assert sum(part.tokens for part in counted.breakdown) == counted.input_tokens


@CHECKED
@given(tbst.chat_histories(max_messages=20, max_tokens_per_message=100), st.integers(50, 2_000))
def test_fit_messages_fits_and_keeps_tool_pairs(history, limit):
    try:
        kept = fit_messages(history, "gpt-4o", max_input_tokens=limit)
    except FitError:
        return
    assert count_messages(kept, "gpt-4o").input_tokens <= limit
    called = {call["id"] for message in kept for call in message.get("tool_calls") or ()}
    assert called == {message["tool_call_id"] for message in kept if message["role"] == "tool"}
