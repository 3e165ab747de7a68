"""The plugin among pytest's own features and popular plugins."""

from __future__ import annotations

import pytest

pytest.importorskip("openai")

OVERSIZED_AND_FINE = """
    import pytest, openai

    CLIENT = openai.OpenAI(api_key="test-key", max_retries=0)  # created at import time

    @pytest.mark.token_budget(max_input_tokens=50, max_output_tokens=100)
    def test_fine():
        CLIENT.chat.completions.create(model="gpt-4o", max_tokens=10, messages=[{"role": "user", "content": "hi"}])

    @pytest.mark.token_budget(max_input_tokens=50, max_output_tokens=100)
    def test_oversized():
        CLIENT.chat.completions.create(model="gpt-4o", max_tokens=10, messages=[{"role": "user", "content": "hi " * 200}])
"""


def test_xdist_reports_failures_and_a_merged_summary(inner: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    inner.makepyfile(test_a=OVERSIZED_AND_FINE, test_b=OVERSIZED_AND_FINE.replace("hi ", "ho "))
    result = inner.runpytest("-p", "no:cacheprovider", "-n", "2", "--tokenbudget-summary=0")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(["*= token budget problems =*"])
    result.stdout.fnmatch_lines(["BUDGET test_?.py::test_oversized - prompt 20* tokens > budget 50 (gpt-4o, o200k_base, exact)"])
    result.stdout.fnmatch_lines(["heaviest tests (input tokens over all calls):"])
    summary = result.stdout.str().split("token budget summary")[1]
    for nodeid in ("test_a.py::test_fine", "test_a.py::test_oversized", "test_b.py::test_fine", "test_b.py::test_oversized"):
        assert nodeid in summary


def test_strict_markers_and_no_cacheprovider(inner: pytest.Pytester) -> None:
    inner.makepyfile(OVERSIZED_AND_FINE)
    result = inner.runpytest("-p", "no:cacheprovider", "--strict-markers")
    result.assert_outcomes(passed=1, failed=1)


INNER_HTTP = """
    import importlib
    FLAVORS = []
    for name in ("httpx2", "httpx"):
        try:
            FLAVORS.append(importlib.import_module(name))
        except ImportError:
            pass

    def patched():
        # The observation point: every SDK request passes through Client.send.
        return [getattr(m.Client.send, "__tokenbudget_original__", None) is not None
                or getattr(m.AsyncClient.send, "__tokenbudget_original__", None) is not None
                for m in FLAVORS]
"""


def test_disabled_plugin_patches_nothing(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        INNER_HTTP
        + """
    import pytest

    @pytest.mark.token_budget(max_input_tokens=1)
    def test_untouched():
        assert FLAVORS and not any(patched())
    """
    )
    result = inner.runpytest("-p", "no:cacheprovider", "-p", "no:tokenbudget", "-W", "ignore::pytest.PytestUnknownMarkWarning")
    result.assert_outcomes(passed=1)


def test_unbudgeted_tests_are_not_intercepted(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        INNER_HTTP
        + """
    import pytest

    def test_plain():
        assert FLAVORS and not any(patched())

    @pytest.mark.token_budget(max_input_tokens=1)
    def test_budgeted():
        assert all(patched())
    """
    )
    inner.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_session_capture_intercepts_and_counts_every_test(inner: pytest.Pytester) -> None:
    inner.makeini(
        """
        [pytest]
        tokenbudget_capture = session
        filterwarnings = ignore::DeprecationWarning
        """
    )
    inner.makepyfile(
        """
        import openai

        def test_plain():
            client = openai.OpenAI(api_key="test-key", max_retries=0)
            reply = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
            assert reply.choices[0].message.content  # no cap, no budget: nothing fails
        """
    )
    result = inner.runpytest("-p", "no:cacheprovider", "--tokenbudget-summary=5")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*tokens    1 call   test_session_capture*::test_plain"])


def test_async_tests_with_pytest_asyncio_and_anyio(inner: pytest.Pytester) -> None:
    pytest.importorskip("pytest_asyncio")
    pytest.importorskip("anyio")
    inner.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio
        @pytest.mark.token_budget(max_input_tokens=20, max_output_tokens=100)
        async def test_asyncio_over(async_openai_client):
            await async_openai_client.chat.completions.create(model="gpt-4o", max_tokens=10,
                messages=[{"role": "user", "content": "hi " * 100}])

        @pytest.mark.asyncio
        @pytest.mark.token_budget(max_input_tokens=200, max_output_tokens=100)
        async def test_asyncio_fine(async_anthropic_client, token_budget):
            await async_anthropic_client.messages.create(model="claude-sonnet-4-5", max_tokens=10,
                messages=[{"role": "user", "content": "hi"}])
            assert len(token_budget.requests) == 1

        @pytest.fixture
        def anyio_backend():
            return "asyncio"

        @pytest.mark.anyio
        @pytest.mark.token_budget(max_input_tokens=20, max_output_tokens=100)
        async def test_anyio_over(async_openai_client):
            stream = await async_openai_client.chat.completions.create(model="gpt-4o", max_tokens=10, stream=True,
                messages=[{"role": "user", "content": "hi " * 100}])
            async for _ in stream:
                pass
        """
    )
    result = inner.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["TOKEN BUDGET *test_asyncio_over*", "TOKEN BUDGET *test_anyio_over*"])


def test_xfail_accepts_a_budget_failure(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        OVERSIZED_AND_FINE.replace(
            "    @pytest.mark.token_budget(max_input_tokens=50, max_output_tokens=100)\n    def test_oversized",
            "    @pytest.mark.xfail(reason='demo', strict=True)\n"
            "    @pytest.mark.token_budget(max_input_tokens=50, max_output_tokens=100)\n    def test_oversized",
        )
    )
    inner.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1, xfailed=1)


def test_requests_in_fixtures_count_toward_the_budget(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import pytest

        @pytest.fixture
        def warmed(openai_client):
            openai_client.chat.completions.create(model="gpt-4o", max_tokens=5, messages=[{"role": "user", "content": "warm up"}])
            return openai_client

        @pytest.mark.token_budget(max_calls=1, max_output_tokens=10)
        def test_two_calls(warmed, token_budget):
            warmed.chat.completions.create(model="gpt-4o", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
            assert [r.phase for r in token_budget.requests] == ["setup", "call"]
        """
    )
    result = inner.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["2 calls > budget 1", "over the whole test: 2 calls, * input tokens, 10 requested output tokens"])


def test_an_http_library_first_imported_inside_a_test_is_intercepted(pytester: pytest.Pytester, monkeypatch) -> None:
    # The plugin imports none of httpx, httpcore, httpx2, httpcore2 itself: it patches each as its import
    # ends. A subprocess with no other plugins, so that nothing else imports them first.
    pytester.makepyfile(
        """
        import sys
        import pytest

        @pytest.mark.token_budget(max_input_tokens=50)
        def test_late_import(token_budget):
            assert not {"httpx", "httpcore", "httpx2", "httpcore2"} & set(sys.modules)
            import httpx2
            reply = httpx2.Client().post("https://api.openai.com/v1/chat/completions", json={
                "model": "gpt-4o", "max_tokens": 5, "messages": [{"role": "user", "content": "hi " * 100}]})
            assert reply.status_code == 200 and reply.json()["object"] == "chat.completion"
            [request] = token_budget.requests
            assert request.answered_by == "pytest-tokenbudget" and request.input_tokens > 50
        """
    )
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    result = pytester.runpytest_subprocess("-p", "pytest_tokenbudget.plugin", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*prompt 10* tokens > budget 50*", "*TOKEN BUDGET*"])
