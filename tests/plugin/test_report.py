"""Failure output: first line, per-request sections, call site, verbosity, short-summary category, secrets."""

from __future__ import annotations

import pytest

pytest.importorskip("openai")

APP = """
    def build_messages(history, question):
        system = "You are the support assistant of Acme. Answer politely and cite the order number. " * 20
        return [{"role": "system", "content": system}, *history, {"role": "user", "content": question}]

    def answer(client, history, question):
        try:
            messages = build_messages(history, question)
            return client.chat.completions.create(model="gpt-4o", max_tokens=512, messages=messages)
        except Exception:
            return None
"""

TEST = """
    import pytest
    from support_app import answer

    HISTORY = [{"role": "user", "content": "Earlier: my parcel is late. " * 200},
               {"role": "assistant", "content": "Sorry to hear that."}]

    @pytest.mark.token_budget(max_input_tokens=1_000, max_output_tokens=1_024)
    def test_support_answer_fits(openai_client):
        answer(openai_client, HISTORY, "Where is my order?")
"""


def test_failure_report_lists_limits_breakdown_and_call_site(inner: pytest.Pytester) -> None:
    inner.makepyfile(support_app=APP, test_support=TEST)
    result = inner.runpytest("-p", "no:cacheprovider", "-rf")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*_ test_support_answer_fits _*",
            "prompt 1,* tokens > budget 1,000 (gpt-4o, o200k_base, exact)",
            "",
            "request 1 of 1: openai.chat -> https://api.openai.com/v1/chat/completions",
            "  called at:  support_app.py:8 in answer",
            "  model:      gpt-4o, tokenizer o200k_base (exact)",
            "  limits:",
            "    input tokens * 1,*   limit 1,000  OVER",
            "    output cap (max_tokens) * 512   limit 1,024  ok",
            "    input + output cap * context window 128,000  ok",
            "  breakdown (largest first):",
            "*  messages[[]1] user",
            "*  messages[[]0] system",
            "*  overhead",
            "*= token budget problems =*",
            "BUDGET test_support.py::test_support_answer_fits - prompt 1,* tokens > budget 1,000 (gpt-4o, o200k_base, exact)",
            "*short test summary info*",
            "TOKEN BUDGET test_support.py::test_support_answer_fits - *",
        ]
    )
    # secrets never show up anywhere in the output
    assert "SECRET" not in result.stdout.str() and "Bearer" not in result.stdout.str()


def test_verbosity_controls_detail(inner: pytest.Pytester) -> None:
    inner.makepyfile(support_app=APP, test_support=TEST)
    quiet = inner.runpytest("-p", "no:cacheprovider", "-q")
    quiet.stdout.fnmatch_lines(["prompt 1,* tokens > budget 1,000*", "*called at:  support_app.py:8 in answer"])
    quiet.stdout.no_fnmatch_line("*breakdown*")
    inner.makepyfile(test_support=TEST.replace('HISTORY = [', 'HISTORY = [*[{"role": "user", "content": f"m{i}"} for i in range(10)], '))
    default = inner.runpytest("-p", "no:cacheprovider")
    default.stdout.fnmatch_lines(["*... 9 smaller parts (-v shows all)"])
    verbose = inner.runpytest("-p", "no:cacheprovider", "-v")
    verbose.stdout.no_fnmatch_line("*smaller parts*")
    verbose.stdout.fnmatch_lines(["*test_support.py::test_support_answer_fits TOKEN BUDGET*", "*messages[[]11] user"])


def test_test_failing_for_its_own_reason_keeps_traceback_and_gets_budget_section(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import pytest

        @pytest.mark.token_budget(max_input_tokens=10, max_output_tokens=100)
        def test_both(openai_client):
            openai_client.chat.completions.create(model="gpt-4o", max_tokens=50,
                                                  messages=[{"role": "user", "content": "many words " * 50}])
            assert 1 == 2, "own assertion"
        """
    )
    result = inner.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*AssertionError: own assertion*", "*- token budget -*", "prompt * tokens > budget 10 *"])


def test_unknown_model_and_unreadable_body_fail_without_crashing_the_session(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import pytest

        @pytest.mark.token_budget(max_input_tokens=100)
        def test_unknown_model(openai_client):
            openai_client.chat.completions.create(model="gpt-nonexistent", max_tokens=5,
                                                  messages=[{"role": "user", "content": "hi"}])

        @pytest.mark.token_budget(max_input_tokens=100)
        def test_unreadable_part(openai_client):
            try:
                openai_client.chat.completions.create(model="gpt-4o", max_tokens=5,
                    messages=[{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "hologram"}]}])
            except Exception:
                pass

        @pytest.mark.token_budget(max_input_tokens=100)
        def test_not_json(openai_client):
            openai_client._client.post("https://api.openai.com/v1/chat/completions", content=b"{not json")

        def test_after_them_all_is_fine():
            pass
        """
    )
    result = inner.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=3, passed=1)
    result.stdout.fnmatch_lines(["unknown model 'gpt-nonexistent'.*", "*tool.tokenbudget.aliases*"])
    result.stdout.fnmatch_lines(["request body messages[[]0].content[[]1]*"])
    result.stdout.fnmatch_lines(["*request body is not JSON*"])


def test_summary_of_heaviest_tests_and_requests(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        test_sizes="""
        import pytest

        @pytest.mark.token_budget(max_input_tokens=5000)
        @pytest.mark.parametrize("words", [10, 400, 50])
        def test_sizes(openai_client, words):
            messages = [{"role": "user", "content": "word " * words}]
            openai_client.chat.completions.create(model="gpt-4o-mini", max_tokens=20, messages=messages)
        """
    )
    result = inner.runpytest("-p", "no:cacheprovider", "--tokenbudget-summary=2")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines([
        "*= token budget summary =*",
        "heaviest tests (input tokens over all calls), top 2:",
        "*408 tokens    1 call   test_sizes.py::test_sizes[[]400]",
        "*58 tokens    1 call   test_sizes.py::test_sizes[[]50]",
        "",
        "heaviest requests, top 2:",
        "*in       20 out  gpt-4o-mini * test_sizes.py::test_sizes[[]400] [[]request 1]",
    ])
    quiet = inner.runpytest("-p", "no:cacheprovider", "--tokenbudget-summary=0", "-q")
    quiet.stdout.no_fnmatch_line("heaviest requests*")
    verbose = inner.runpytest("-p", "no:cacheprovider", "--tokenbudget-summary=1", "-v")
    verbose.stdout.fnmatch_lines(["*at test_sizes.py:7 in test_sizes; tokenizer o200k_base (exact)"])


def test_total_tokens_and_cost_budgets_over_all_calls(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import pytest

        M = [{"role": "user", "content": "Where is my order?"}]

        @pytest.mark.token_budget(max_total_tokens=1_000)
        def test_total(openai_client):
            for _ in range(3):
                openai_client.chat.completions.create(model="gpt-4o", max_tokens=400, messages=M)

        @pytest.mark.token_budget(max_cost_usd=0.01)
        def test_cost(openai_client):
            openai_client.chat.completions.create(model="gpt-4o", max_tokens=4_000, messages=M)
        """
    )
    result = inner.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["total 1,2* tokens (input + requested output) > budget 1,000 over 3 calls"])
    # 4,000 output tokens at gpt-4o's registry price ($10/M) are $0.04 on their own
    result.stdout.fnmatch_lines(["cost $0.04* (input + requested output) > budget $0.0100 over 1 call"])


def test_model_override_for_proxies_and_bodies_without_a_model(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import openai, pytest

        @pytest.mark.token_budget(model="gpt-4o-mini", max_input_tokens=100)
        def test_override(token_budget):
            proxy = openai.OpenAI(api_key="k", base_url="https://llm-proxy.internal/v1", max_retries=0)
            proxy.chat.completions.create(model="team-default", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
            proxy._client.post("https://llm-proxy.internal/v1/chat/completions",
                               json={"messages": [{"role": "user", "content": "no model field"}], "max_tokens": 5})
            assert [r.resolved_model for r in token_budget.requests] == ["gpt-4o-mini", "gpt-4o-mini"]
        """
    )
    inner.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_own_pytest_fail_keeps_message_and_blocked_requests_are_listed(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import pytest

        @pytest.mark.token_budget(max_input_tokens=10, max_output_tokens=100)
        def test_fails_itself(openai_client):
            try:
                openai_client._client.get("https://status.example.com/health")
            except Exception:
                pass
            openai_client.chat.completions.create(model="gpt-4o", max_tokens=50, messages=[{"role": "user", "content": "word " * 50}])
            pytest.fail("the test's own failure")
        """
    )
    result = inner.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "*Failed: the test's own failure*",
        "*- token budget -*",
        "prompt * tokens > budget 10 *",
        "also refused (not LLM requests, never sent): GET https://status.example.com/health",
    ])
