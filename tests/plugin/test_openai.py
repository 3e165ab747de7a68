"""The real openai SDK, every endpoint the plugin counts, sync/async, streaming or not."""

from __future__ import annotations

import pytest

pytest.importorskip("openai")


def test_chat_completion_is_answered_locally_and_counted(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import pytest

        @pytest.mark.token_budget(max_input_tokens=500, max_output_tokens=256)
        def test_chat(openai_client, token_budget):
            reply = openai_client.chat.completions.create(
                model="gpt-4o",
                messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Where is my order?"}],
                max_tokens=100,
            )
            assert reply.choices[0].message.content
            [request] = token_budget.requests
            assert request.api == "openai.chat"
            assert request.model == "gpt-4o"
            assert request.max_output_tokens == 100
            assert reply.usage.prompt_tokens == request.input_tokens > 0
            assert request.tokenizer == "o200k_base" and request.provenance == "exact"
            assert request.call_site.endswith(".py:5 in test_chat")
        """
    )
    inner.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_every_openai_endpoint_sync_async_and_streaming(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import asyncio, pytest

        MESSAGES = [{"role": "user", "content": "Where is my order?"}]

        @pytest.mark.token_budget(max_input_tokens=1000, max_output_tokens=64)
        def test_sync(openai_client, token_budget):
            c = openai_client
            c.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=64)
            chunks = list(c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=64,
                                                    stream=True, stream_options={"include_usage": True}))
            assert chunks[-1].usage.prompt_tokens > 0
            with c.chat.completions.stream(model="gpt-4o", messages=MESSAGES, max_completion_tokens=64) as s:
                assert s.get_final_completion().choices[0].message.content
            r = c.responses.create(model="gpt-4.1", input="Where is my order?", max_output_tokens=64)
            assert r.output_text and r.usage.input_tokens > 0
            with c.responses.stream(model="gpt-4.1", input="hi", max_output_tokens=64) as s:
                assert s.get_final_response().output_text
            done = c.completions.create(model="gpt-3.5-turbo-instruct", prompt="Say hi", max_tokens=16)
            assert done.choices[0].text
            assert [x.choices[0].text for x in c.completions.create(
                model="gpt-3.5-turbo-instruct", prompt="Say hi", max_tokens=16, stream=True)]
            vectors = c.embeddings.create(model="text-embedding-3-small", input=["a", "b", "c"])
            assert [len(v.embedding) for v in vectors.data] == [1536] * 3
            wide = c.embeddings.create(model="text-embedding-3-large", input="a", dimensions=256)
            assert len(wide.data[0].embedding) == 256
            apis = [r.api for r in token_budget.requests]
            assert apis == ["openai.chat"] * 3 + ["openai.responses"] * 2 + ["openai.completions"] * 2 + ["openai.embeddings"] * 2
            assert [r.stream for r in token_budget.requests][:3] == [False, True, True]
            assert all(r.input_tokens > 0 for r in token_budget.requests)

        @pytest.mark.token_budget(max_input_tokens=1000, max_output_tokens=64)
        def test_async(async_openai_client, token_budget):
            async def main():
                c = async_openai_client
                r = await c.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=64)
                assert r.choices[0].message.content
                s = await c.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=64, stream=True)
                assert [chunk async for chunk in s]
                r = await c.responses.create(model="gpt-4o", input="hi", max_output_tokens=64, stream=True)
                assert [event.type async for event in r][-1] == "response.completed"
                e = await c.embeddings.create(model="text-embedding-3-small", input="hello")
                assert len(e.data) == 1
            asyncio.run(main())
            assert len(token_budget.requests) == 4
        """
    )
    inner.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_oversized_prompt_fails_even_when_the_app_swallows_errors(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import pytest

        def answer(client, question):
            try:
                history = [{"role": "user", "content": "earlier message " * 400}]
                client.chat.completions.create(model="gpt-4o", max_tokens=100,
                    messages=[{"role": "system", "content": "You are a support bot."}, *history,
                              {"role": "user", "content": question}])
            except Exception:
                return "sorry"  # the app hides every failure
            return "ok"

        @pytest.mark.token_budget(max_input_tokens=200, max_output_tokens=1024)
        def test_support_answer_fits(openai_client):
            assert answer(openai_client, "Where is my order?") == "ok"
        """
    )
    result = inner.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*prompt 8* tokens > budget 200 (gpt-4o, o200k_base, exact)*"])


def test_azure_deployment_is_mapped_to_a_model_through_aliases(inner: pytest.Pytester) -> None:
    inner.makepyprojecttoml(
        """
        [tool.tokenbudget.aliases]
        "support-prod" = "gpt-4o-mini"
        """
    )
    inner.makepyfile(
        """
        import openai, pytest

        @pytest.mark.token_budget(max_input_tokens=500, max_output_tokens=64)
        def test_azure(token_budget):
            client = openai.AzureOpenAI(api_key="azure-SECRET", api_version="2024-10-21",
                                        azure_endpoint="https://contoso.openai.azure.com",
                                        azure_deployment="support-prod", max_retries=0)
            r = client.chat.completions.create(model="support-prod", max_tokens=64,
                                               messages=[{"role": "user", "content": "hi"}])
            assert r.choices[0].message.content
            [request] = token_budget.requests
            assert "/openai/deployments/support-prod/chat/completions" in request.url
            assert request.resolved_model == "gpt-4o-mini"
        """
    )
    inner.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_openai_compatible_base_url_from_config(inner: pytest.Pytester) -> None:
    inner.makepyprojecttoml(
        """
        [tool.tokenbudget]
        base-urls = ["https://gateway.example.com/llm"]

        [tool.tokenbudget.aliases]
        "meta-llama/llama-3.1-8b" = "gpt-4o"
        """
    )
    inner.makepyfile(
        """
        import openai, pytest

        @pytest.mark.token_budget(max_input_tokens=500, max_output_tokens=64)
        def test_openrouter_and_gateway(token_budget):
            router = openai.OpenAI(api_key="k", base_url="https://openrouter.ai/api/v1", max_retries=0)
            router.chat.completions.create(model="gpt-4o", max_tokens=8, messages=[{"role": "user", "content": "hi"}])
            # a gateway with its own path layout: only the configured base URL makes it an LLM request
            gateway = openai.OpenAI(api_key="k", base_url="https://gateway.example.com/llm", max_retries=0)
            gateway.chat.completions.create(model="meta-llama/llama-3.1-8b", max_tokens=8,
                                            messages=[{"role": "user", "content": "hi"}])
            assert [r.url for r in token_budget.requests] == [
                "https://openrouter.ai/api/v1/chat/completions",
                "https://gateway.example.com/llm/chat/completions",
            ]
        """
    )
    inner.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


@pytest.mark.parametrize("flavor", ["httpx2", "httpx"])
def test_non_llm_requests_are_refused_not_leaked(inner: pytest.Pytester, flavor: str) -> None:
    pytest.importorskip(flavor)
    inner.makepyfile(
        f"""
        import {flavor} as http, openai, pytest

        @pytest.mark.token_budget(max_input_tokens=500)
        def test_other_traffic(openai_client, token_budget):
            with pytest.raises(http.ConnectError, match="pytest-tokenbudget blocked GET https://example.com/"):
                http.get("https://example.com/")
            # an SDK endpoint we do not emulate answers with an API error (no retry storm)
            with pytest.raises(openai.NotFoundError, match="blocked GET https://api.openai.com/v1/models"):
                openai_client.models.list()
            assert token_budget.requests == []
        """
    )
    inner.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_synthetic_usage_reports_counted_input_and_reply_tokens(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import pytest
        from pytest_tokenbudget import count_tokens

        @pytest.mark.token_budget(max_output_tokens=100)
        def test_usage(openai_client, token_budget):
            token_budget.reply("Your parcel left the warehouse this morning.")
            reply = openai_client.chat.completions.create(model="gpt-4o", max_tokens=50, messages=[{"role": "user", "content": "hi"}])
            expected = count_tokens("Your parcel left the warehouse this morning.", "gpt-4o")
            assert reply.usage.completion_tokens == expected
            assert reply.usage.prompt_tokens == token_budget.requests[0].input_tokens
        """
    )
    inner.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_sdk_aiohttp_clients_are_intercepted_too(inner: pytest.Pytester) -> None:
    """``DefaultAioHttpClient`` swaps the httpx transport for aiohttp: it must not slip past."""
    pytest.importorskip("aiohttp")
    import anthropic
    import openai

    if not hasattr(openai, "DefaultAioHttpClient") or not hasattr(anthropic, "DefaultAioHttpClient"):
        pytest.skip("this SDK release has no aiohttp client")
    try:
        openai.DefaultAioHttpClient()
        anthropic.DefaultAioHttpClient()
    except RuntimeError as missing:  # the SDK was installed without its [aiohttp] extra
        pytest.skip(str(missing))
    inner.makepyfile(
        """
        import asyncio, anthropic, openai, pytest

        @pytest.mark.token_budget(max_output_tokens=100)
        def test_aiohttp(token_budget):
            async def main():
                async with openai.AsyncOpenAI(api_key="k", max_retries=0, http_client=openai.DefaultAioHttpClient()) as c:
                    r = await c.chat.completions.create(model="gpt-4o", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
                    assert r.choices[0].message.content
                async with anthropic.AsyncAnthropic(api_key="k", max_retries=0, http_client=anthropic.DefaultAioHttpClient()) as c:
                    m = await c.messages.create(model="claude-sonnet-4-5", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
                    assert m.content
            asyncio.run(main())
            assert [r.api for r in token_budget.requests] == ["openai.chat", "anthropic.messages"]
        """
    )
    inner.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
