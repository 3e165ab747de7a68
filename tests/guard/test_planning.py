"""The planner: fixed parts counted once, history and chunks fitted into what they leave."""

from __future__ import annotations

import pytest

from pytest_tokenbudget import FitError, PromptPlan, count_messages, count_tokens

SYSTEM = "You answer questions about orders. " * 20
EXAMPLES = [{"role": "user", "content": "Where is order 1?"}, {"role": "assistant", "content": "Shipped."}]


def test_fixed_parts_are_counted_once_and_what_is_left_is_shared():
    plan = PromptPlan("gpt-4o", reserve_output=1000, max_input_tokens=2000, system=SYSTEM, examples=EXAMPLES)
    assert plan.fixed_tokens == count_messages(EXAMPLES, "gpt-4o", system=SYSTEM).input_tokens
    assert plan.available == 2000 - plan.fixed_tokens

    chunks = [f"Document {n}: " + "policy text " * 30 for n in range(20)]
    kept = plan.fit_chunks(chunks, max_tokens=500)
    assert kept == chunks[:len(kept)] and 0 < len(kept) < len(chunks)
    assert count_tokens("\n\n".join(kept), "gpt-4o") <= 500
    assert count_tokens("\n\n".join(chunks[:len(kept) + 1]), "gpt-4o") > 500

    history = []
    for n in range(40):
        history += [{"role": "user", "content": f"q{n} " + "word " * 30}, {"role": "assistant", "content": "ok " * 10}]
    fitted = plan.fit_history(history, leave=500)
    assert fitted == history[len(history) - len(fitted):]
    assert count_messages([*EXAMPLES, *fitted], "gpt-4o", system=SYSTEM).input_tokens <= 1500


def test_fixed_parts_over_the_limit_are_a_clear_error():
    with pytest.raises(FitError, match="the system prompt, examples and tools alone need"):
        PromptPlan("gpt-4o", max_input_tokens=50, system=SYSTEM)
