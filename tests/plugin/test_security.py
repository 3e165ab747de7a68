"""No secret in any captured object or report; no network connection with default settings."""

from __future__ import annotations

import pytest

pytest.importorskip("openai")
pytest.importorskip("anthropic")

SECRETS = ("sk-test-SECRET-openai-key", "sk-ant-SECRET-anthropic-key", "azure-SECRET-key", "query-SECRET")


def test_api_keys_never_reach_captured_objects_or_reports(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import pickle, pytest, openai

        @pytest.mark.token_budget(max_input_tokens=5, max_output_tokens=10)
        def test_leaky(openai_client, anthropic_client, token_budget):
            openai_client.chat.completions.create(model="gpt-4o", max_tokens=50, messages=[{"role": "user", "content": "hello there friend"}])
            anthropic_client.messages.create(model="claude-sonnet-4-5", max_tokens=50, messages=[{"role": "user", "content": "hello there friend"}])
            azure = openai.AzureOpenAI(api_key="azure-SECRET-key", api_version="2024-10-21", max_retries=0,
                                       azure_endpoint="https://contoso.openai.azure.com", azure_deployment="gpt-4o",
                                       default_query={"api-key": "query-SECRET"})
            azure.chat.completions.create(model="gpt-4o", max_tokens=50, messages=[{"role": "user", "content": "hi"}])
            dumped = repr(token_budget) + repr(token_budget.requests) + str([vars(r) for r in token_budget.requests])
            dumped += str(pickle.dumps([vars(r) for r in token_budget.requests]))
            for secret in ("sk-test-SECRET", "sk-ant-SECRET", "azure-SECRET", "query-SECRET", "Bearer", "x-api-key"):
                assert secret not in dumped, secret
            assert "api-key=***" in token_budget.requests[2].url
        """
    )
    result = inner.runpytest("-p", "no:cacheprovider", "-vv", "-rA", "--tokenbudget-summary=0", "--junitxml=report.xml")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["prompt * tokens > budget 5 (gpt-4o, o200k_base, exact)"])
    output = result.stdout.str() + (inner.path / "report.xml").read_text()
    for secret in SECRETS:
        assert secret not in output


def test_default_settings_make_zero_network_connections(inner: pytest.Pytester, network_guard) -> None:
    """Every SDK entry point, sync and async, under the socket guard: not one resolve or connect."""
    inner.makepyfile(
        """
        import asyncio, pytest

        M = [{"role": "user", "content": "hi"}]

        @pytest.mark.token_budget(max_output_tokens=100)
        def test_everything(openai_client, async_openai_client, anthropic_client, async_anthropic_client):
            openai_client.chat.completions.create(model="gpt-4o", max_tokens=5, messages=M)
            list(openai_client.chat.completions.create(model="gpt-4o", max_tokens=5, messages=M, stream=True))
            openai_client.responses.create(model="gpt-4o", input="hi", max_output_tokens=5)
            openai_client.embeddings.create(model="text-embedding-3-small", input="hi")
            anthropic_client.messages.create(model="claude-sonnet-4-5", max_tokens=5, messages=M)
            async def main():
                await async_openai_client.chat.completions.create(model="gpt-4o", max_tokens=5, messages=M)
                await async_anthropic_client.messages.create(model="claude-sonnet-4-5", max_tokens=5, messages=M)
            asyncio.run(main())
        """
    )
    inner.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    assert network_guard.attempts == []


def test_the_guard_does_catch_a_connection_when_the_plugin_is_off(inner: pytest.Pytester, network_guard) -> None:
    """The control experiment: without the plugin the same call does try to connect, and the guard sees it."""
    network_guard.expect_attempts = True
    inner.makepyfile(
        """
        import openai, pytest

        def test_unprotected(openai_client):
            with pytest.raises(openai.APIConnectionError):
                openai_client.chat.completions.create(model="gpt-4o", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
        """
    )
    inner.runpytest("-p", "no:cacheprovider", "-p", "no:tokenbudget").assert_outcomes(passed=1)
    assert any("api.openai.com" in attempt for attempt in network_guard.attempts)
