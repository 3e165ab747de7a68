"""A budgeted test in which the plugin saw no LLM request: a warning naming it, or a failure with require_requests."""

from __future__ import annotations

import pytest

pytest.importorskip("openai")

PATCHED_SDK = """
    from unittest import mock
    import openai, pytest

    def summarise(client, text):
        reply = client.chat.completions.create(model="gpt-4o", max_tokens=10, messages=[{"role": "user", "content": text}])
        return reply.choices[0].message.content

    @pytest.mark.token_budget(max_input_tokens=1000)
    def test_patched_sdk():
        client = openai.OpenAI(api_key="k", max_retries=0)
        with mock.patch.object(client.chat.completions, "create") as create:
            create.return_value.choices = [mock.Mock(message=mock.Mock(content="from the mock"))]
            assert summarise(client, "hello " * 3000) == "from the mock"

    @pytest.mark.token_budget(max_input_tokens=1000)
    def test_counted():
        client = openai.OpenAI(api_key="k", max_retries=0)
        assert summarise(client, "hi")

    @pytest.mark.token_budget(max_input_tokens=1000, require_requests=REQUIRE)
    def test_patched_and_required():
        client = openai.OpenAI(api_key="k", max_retries=0)
        with mock.patch.object(client.chat.completions, "create") as create:
            create.return_value.choices = [mock.Mock(message=mock.Mock(content="from the mock"))]
            assert summarise(client, "hi") == "from the mock"
"""


def test_an_sdk_patched_with_unittest_mock_is_reported_by_name(inner: pytest.Pytester) -> None:
    inner.makepyfile(PATCHED_SDK.replace("REQUIRE", "False"))
    result = inner.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, warnings=2)
    result.stdout.fnmatch_lines([
        "*warnings summary*",
        "*::test_patched_sdk*",
        "*TokenBudgetWarning: *::test_patched_sdk is budgeted but pytest-tokenbudget saw no LLM request*",
    ])
    result.stdout.no_fnmatch_line("*test_counted is budgeted*")


def test_require_requests_makes_it_a_budget_failure(inner: pytest.Pytester) -> None:
    inner.makepyfile(PATCHED_SDK.replace("REQUIRE", "True"))
    result = inner.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1, warnings=1)
    result.stdout.fnmatch_lines(["no LLM request seen: *test_patched_and_required is budgeted*(require_requests=True)"])
    result.stdout.fnmatch_lines(["TOKEN BUDGET *::test_patched_and_required"])


@pytest.mark.parametrize("where", ["ini", "pyproject"])
def test_require_requests_from_configuration(inner: pytest.Pytester, where: str) -> None:
    if where == "ini":
        inner.makeini("""
            [pytest]
            tokenbudget_require_requests = true
            filterwarnings = ignore::DeprecationWarning
            """)
    else:
        inner.makepyprojecttoml("""
            [tool.tokenbudget.budget]
            require_requests = true
            """)
    inner.makepyfile(PATCHED_SDK.replace(", require_requests=REQUIRE", ""))
    result = inner.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=2)


def test_a_bad_require_requests_value_names_where_and_what(inner: pytest.Pytester) -> None:
    inner.makepyfile(PATCHED_SDK.replace("REQUIRE", "'sometimes'"))
    result = inner.runpytest("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*token_budget marker on *test_patched_and_required: require_requests must be True or False, got 'sometimes'*"])
