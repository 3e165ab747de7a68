"""Libraries built on the SDKs: litellm (its own httpx and aiohttp transports) and LangChain chat models."""

from __future__ import annotations

import importlib.util

import pytest


def test_litellm_sync_async_and_streaming(inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    # litellm downloads its price table at import unless told not to, so the variable
    # must be set before anything imports it (importorskip would).
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    if importlib.util.find_spec("litellm") is None:
        pytest.skip("litellm is not installed")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    inner.makepyfile(
        """
        import asyncio, pytest

        M = [{"role": "user", "content": "Where is my order?"}]

        @pytest.mark.token_budget(max_input_tokens=500, max_output_tokens=100)
        def test_litellm(token_budget):
            import litellm  # imported inside the test on purpose: its transports get patched on import
            assert litellm.completion(model="gpt-4o", messages=M, max_tokens=20).choices[0].message.content
            assert litellm.completion(model="anthropic/claude-sonnet-4-5", messages=M, max_tokens=20).choices[0].message.content
            async def main():
                await litellm.acompletion(model="gpt-4o", messages=M, max_tokens=20)
                await litellm.acompletion(model="anthropic/claude-sonnet-4-5", messages=M, max_tokens=20)
                stream = await litellm.acompletion(model="anthropic/claude-sonnet-4-5", messages=M, max_tokens=20, stream=True)
                return [chunk async for chunk in stream]
            assert asyncio.run(main())
            assert [r.api for r in token_budget.requests] == ["openai.chat", "anthropic.messages"] * 2 + ["anthropic.messages"]
            assert all("test_litellm" in r.call_site for r in token_budget.requests[:2])

        @pytest.mark.token_budget(max_input_tokens=10, max_output_tokens=100)
        def test_litellm_oversized():
            import litellm
            litellm.completion(model="gpt-4o", messages=[{"role": "user", "content": "long " * 100}], max_tokens=20)
        """
    )
    result = inner.runpytest("-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["prompt 10* tokens > budget 10 (gpt-4o, o200k_base, exact)"])


def test_langchain_chat_openai_and_chat_anthropic(inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("langchain_openai")
    pytest.importorskip("langchain_anthropic")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    inner.makepyfile(
        """
        import asyncio, pytest
        from langchain_anthropic import ChatAnthropic
        from langchain_openai import ChatOpenAI

        @pytest.mark.token_budget(max_input_tokens=500, max_output_tokens=100)
        def test_chains(token_budget):
            assert ChatOpenAI(model="gpt-4o", max_tokens=20).invoke("Where is my order?").content
            assert ChatAnthropic(model="claude-sonnet-4-5", max_tokens=20).invoke("Where is my order?").content
            assert list(ChatOpenAI(model="gpt-4o", max_tokens=20).stream("hi"))
            async def main():
                return await ChatAnthropic(model="claude-sonnet-4-5", max_tokens=20).ainvoke("hi")
            assert asyncio.run(main()).content
            assert [r.api for r in token_budget.requests] == ["openai.chat", "anthropic.messages", "openai.chat", "anthropic.messages"]

        @pytest.mark.token_budget(max_output_tokens=100)
        def test_chat_anthropic_default_cap_is_over_budget():
            ChatAnthropic(model="claude-sonnet-4-5", max_tokens=4096).invoke("hi")
        """
    )
    result = inner.runpytest("-p", "no:cacheprovider", "-W", "ignore::DeprecationWarning")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["output cap 4,096 tokens > budget 100 (claude-sonnet-4-5*)"])
