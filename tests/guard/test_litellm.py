"""litellm through the HTTP clients it lets an app supply: `litellm.client_session` /
`aclient_session` (the providers it calls through the openai SDK) and a handler's `client=` (the
providers it calls with its own HTTP code, such as anthropic). Real `litellm.completion` calls to
the fake provider on 127.0.0.1: an oversized request is refused before the server sees it."""

from __future__ import annotations

import asyncio
import json
import logging
import os

import httpx
import pytest

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no price-table download
litellm = pytest.importorskip("litellm")
from litellm.llms.custom_httpx.http_handler import AsyncHTTPHandler, HTTPHandler  # noqa: E402

from pytest_tokenbudget import Budget, MemoryWindow, RequestRefused, count_request, guard  # noqa: E402

SMALL = [{"role": "user", "content": "What is my order status?"}]
BIG = [{"role": "user", "content": "history " * 2000}]
BUDGET = Budget(max_input_tokens=500)


@pytest.fixture
def guarded_sessions(monkeypatch):
    """litellm's shared HTTP clients, guarded; litellm's defaults again afterwards."""
    def install(budget=BUDGET, **options):
        monkeypatch.setattr(litellm, "client_session", guard(httpx.Client(), budget, **options))
        monkeypatch.setattr(litellm, "aclient_session", guard(httpx.AsyncClient(), budget, **options))
    return install


def openai_call(base_url, messages, **kwargs):
    return dict(model="openai/gpt-4o", messages=messages, max_tokens=20, api_base=base_url + "/v1",
                api_key="sk-test", **kwargs)


def test_openai_provider_refused_before_sending_and_small_one_sent(fake_provider, guarded_sessions, caplog):
    base_url, received = fake_provider
    caplog.set_level(logging.INFO, logger="pytest_tokenbudget.usage")
    guarded_sessions()
    assert litellm.completion(**openai_call(base_url, SMALL)).choices[0].message.content == "hello"
    with pytest.raises(Exception) as raised:
        litellm.completion(**openai_call(base_url, BIG))
    assert len(received) == 1  # the oversized request never reached the server
    # litellm wraps what its HTTP client raises in its own error (1.110: an InternalServerError,
    # which litellm's own retries would retry: cheaply, as nothing is sent); the refusal is its cause.
    assert isinstance(raised.value, litellm.InternalServerError)
    refusal = RequestRefused.found_in(raised.value)
    assert refusal is not None and [v.limit for v in refusal.violations] == ["max_input_tokens"]
    assert refusal.request.input_tokens == count_request({"model": "gpt-4o", "messages": BIG}).input_tokens
    assert RequestRefused.found_in(ValueError("unrelated")) is None
    sent, refused = [json.loads(r.getMessage()) for r in caplog.records if r.name == "pytest_tokenbudget.usage"]
    assert sent["reported_input_tokens"] == 11 and sent["reported_output_tokens"] == 3
    assert refused["event"] == "llm_request_refused"


def test_openai_provider_async_and_a_stream_refunding_its_window(fake_provider, guarded_sessions):
    base_url, received = fake_provider
    window = MemoryWindow(max_tokens=10_000, seconds=10**9)
    guarded_sessions(Budget(max_input_tokens=500), window=window, key="tenant")

    async def main():
        with pytest.raises(Exception) as raised:
            await litellm.acompletion(**openai_call(base_url, BIG))
        assert RequestRefused.found_in(raised.value) is not None
        stream = await litellm.acompletion(**openai_call(base_url, SMALL, stream=True,
                                                         stream_options={"include_usage": True}))
        return "".join([chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices])

    assert asyncio.run(main()) == "hi"
    assert len(received) == 1
    ours = count_request({"model": "gpt-4o", "messages": SMALL}).input_tokens
    assert window.consume("tenant", 0).tokens_left == pytest.approx(10_000 - ours - 3, abs=0.01)


def test_anthropic_provider_through_a_handler_client(fake_provider):
    base_url, received = fake_provider
    sync_handler = HTTPHandler(client=guard(httpx.Client(), BUDGET))
    async_handler = AsyncHTTPHandler()
    async_handler.client = guard(httpx.AsyncClient(), BUDGET)
    call = dict(model="anthropic/claude-sonnet-4-5", max_tokens=20, api_base=base_url, api_key="sk-ant-test")

    reply = litellm.completion(messages=SMALL, client=sync_handler, **call)
    assert reply.choices[0].message.content == "hello"
    with pytest.raises(Exception) as raised:
        litellm.completion(messages=BIG, client=sync_handler, **call)
    assert RequestRefused.found_in(raised.value) is not None

    async def main():
        with pytest.raises(Exception) as raised:
            await litellm.acompletion(messages=BIG, client=async_handler, **call)
        assert RequestRefused.found_in(raised.value) is not None
        return await litellm.acompletion(messages=SMALL, client=async_handler, **call)

    assert asyncio.run(main()).choices[0].message.content == "hello"
    assert [r["path"] for r in received] == ["/v1/messages", "/v1/messages"]
