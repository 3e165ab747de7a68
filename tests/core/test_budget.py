import math

import pytest

from pytest_tokenbudget import Budget, BudgetExceeded, count_messages, count_request


def chat(content, model="gpt-4o", **extra):
    return count_request({"model": model, "messages": [{"role": "user", "content": content}], **extra})


def test_input_budget_headline_names_number_budget_model_tokenizer_provenance():
    request = chat("word " * 500, max_tokens=10)
    violations = Budget(max_input_tokens=100).check([request])
    assert [v.limit for v in violations] == ["max_input_tokens"]
    assert violations[0].message == f"prompt {request.input_tokens:,} tokens > budget 100 (gpt-4o, o200k_base, exact)"
    assert violations[0].request_index == 0


def test_output_cap_must_exist_and_fit():
    assert [v.limit for v in Budget(require_max_tokens=True).check([chat("hi")])] == ["require_max_tokens"]
    assert [v.limit for v in Budget(max_output_tokens=256).check([chat("hi", max_tokens=1024)])] == ["max_output_tokens"]
    assert Budget(max_output_tokens=256, require_max_tokens=True).check([chat("hi", max_tokens=200)]) == []


def test_context_window_fit_counts_the_output_cap():
    # gpt-4 has an 8,192-token window: a 7,000-token prompt fits, but not with 2,000 more to write.
    request = chat("word " * 7000, model="gpt-4", max_tokens=2000)
    assert request.input_tokens < 8192
    violations = Budget().check([request])
    assert [v.limit for v in violations] == ["context_window"]
    assert "context window 8,192" in violations[0].message


def test_reserved_output_applies_when_the_request_sets_no_cap():
    request = chat("word " * 7000, model="gpt-4")
    assert Budget().check([request]) == []
    assert [v.limit for v in Budget(reserved_output_tokens=2000).check([request])] == ["context_window"]


def test_limits_over_all_calls():
    requests = [chat("hello", max_tokens=100) for _ in range(3)]
    per_call = requests[0].input_tokens + 100
    violations = Budget(max_calls=2, max_total_tokens=2 * per_call, max_cost_usd=0.0001).check(requests)
    assert [v.limit for v in violations] == ["max_calls", "max_total_tokens", "max_cost_usd"]
    assert all(v.request_index is None for v in violations)
    expected_cost = 3 * (requests[0].input_tokens * 2.5 + 100 * 10.0) / 1e6
    assert math.isclose(violations[2].actual, expected_cost)


def test_cost_budget_on_an_unpriced_model_says_so():
    request = chat("hi", model="gpt-oss-20b", max_tokens=10)
    violations = Budget(max_cost_usd=1.0).check([request])
    assert len(violations) == 1 and "no price for gpt-oss-20b" in violations[0].message


def test_embeddings_need_no_output_cap():
    request = count_request({"model": "text-embedding-3-small", "input": "hello"})
    assert Budget(require_max_tokens=True, max_output_tokens=10).check([request]) == []


def test_enforce_raises_with_every_violation():
    with pytest.raises(BudgetExceeded) as caught:
        Budget(max_input_tokens=1, max_calls=0).enforce([chat("hello", max_tokens=5)])
    assert isinstance(caught.value, AssertionError)
    assert len(caught.value.violations) == 2
    assert str(caught.value).splitlines()[0].startswith("prompt ")


@pytest.mark.parametrize(
    "kwargs, error, words",
    [
        ({"max_input_tokens": -1}, ValueError, "must not be negative"),
        ({"max_input_tokens": "8k"}, TypeError, "whole number"),
        ({"max_input_tokens": 1.5}, TypeError, "whole number"),
        ({"max_calls": True}, TypeError, "whole number"),
        ({"max_cost_usd": "cheap"}, TypeError, "number of dollars"),
        ({"max_cost_usd": float("nan")}, TypeError, "number of dollars"),
        ({"require_max_tokens": "yes"}, TypeError, "True or False"),
    ],
)
def test_bad_limits_are_clear_errors(kwargs, error, words):
    with pytest.raises(error, match=words):
        Budget(**kwargs)


def test_count_messages_with_system_for_both_providers():
    openai = count_messages([{"role": "user", "content": "hi"}], "gpt-4o", system="Be brief.")
    assert openai.breakdown[0].label == "messages[0] system"
    claude = count_messages([{"role": "user", "content": "hi"}], "claude-3-haiku-20240307", system="Be brief.")
    assert claude.breakdown[0].label == "system"
