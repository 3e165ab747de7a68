"""A windowed budget is charged input + output cap before sending; once the provider's reported
usage is read (whole answers, and the last usage of a stream), the unused part of the cap goes
back, in memory and in a real redis-server. The real SDK clients talk to a fake provider on
127.0.0.1 that reports 3 (openai) or 4 (anthropic) output tokens."""

from __future__ import annotations

import asyncio
import json
import logging

import anthropic
import openai
import pytest
from conftest import SERVER_ERROR_USER

from pytest_tokenbudget import Budget, MemoryWindow, RedisWindow, count_request, guard

SMALL = [{"role": "user", "content": "What is my order status?"}]
LIMIT = 10_000
YEAR = 365 * 24 * 3600.0  # the bucket refills 0.0003 tokens a second: nothing during a test


class FrozenClock:
    def __call__(self) -> float:
        return 0.0


def input_tokens(model: str, **body) -> int:
    return count_request({"model": model, "messages": SMALL, **body}).input_tokens


@pytest.fixture(params=["memory", "redis"])
def window(request):
    if request.param == "memory":
        return MemoryWindow(max_tokens=LIMIT, seconds=YEAR, clock=FrozenClock())
    return RedisWindow(request.getfixturevalue("redis_client"), max_tokens=LIMIT, seconds=YEAR, prefix="refund:")


def left(window, key: str) -> float:
    return window.consume(key, 0).tokens_left


def usage_line(caplog):
    [line] = [json.loads(r.getMessage()) for r in caplog.records if r.name == "pytest_tokenbudget.usage"]
    return line


def openai_client(base_url, cls=openai.OpenAI):
    return cls(api_key="sk-test", base_url=base_url + "/v1", max_retries=0)


def test_openai_answer_refunds_the_unused_cap(fake_provider, window, caplog):
    caplog.set_level(logging.INFO, logger="pytest_tokenbudget.usage")
    client = guard(openai_client(fake_provider[0]), Budget(), window=window, key="alice")
    client.chat.completions.create(model="gpt-4o", max_tokens=500, messages=SMALL)
    assert left(window, "alice") == pytest.approx(LIMIT - input_tokens("gpt-4o") - 3, abs=0.01)
    line = usage_line(caplog)
    assert line["window_tokens_charged"] == input_tokens("gpt-4o") + 500
    assert line["window_tokens_refunded"] == 497


def test_openai_stream_refunds_from_the_final_usage_chunk(fake_provider, window):
    client = guard(openai_client(fake_provider[0]), Budget(), window=window, key="alice")
    stream = client.chat.completions.create(model="gpt-4o", max_tokens=500, messages=SMALL, stream=True,
                                            stream_options={"include_usage": True})
    charged = LIMIT - input_tokens("gpt-4o") - 500
    chunks = iter(stream)
    next(chunks)
    assert left(window, "alice") == pytest.approx(charged, abs=0.01)  # mid-stream: the whole cap is held
    assert [c.usage.completion_tokens for c in chunks if c.usage] == [3]
    assert left(window, "alice") == pytest.approx(charged + 497, abs=0.01)


def test_a_stream_without_usage_keeps_its_charge(fake_provider, window, caplog):
    caplog.set_level(logging.INFO, logger="pytest_tokenbudget.usage")
    client = guard(openai_client(fake_provider[0]), Budget(), window=window, key="alice")
    # Without include_usage OpenAI reports no usage: the answer may have used the whole cap.
    stream = client.chat.completions.create(model="gpt-4o", max_tokens=500, messages=SMALL, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream) == "hi"
    line = usage_line(caplog)
    assert line["reported_output_tokens"] is None and line["window_tokens_refunded"] == 0
    assert left(window, "alice") == pytest.approx(LIMIT - input_tokens("gpt-4o") - 500, abs=0.01)


def test_an_error_answer_refunds_the_whole_cap(fake_provider, window):
    client = guard(openai_client(fake_provider[0]), Budget(), window=window, key=lambda body: body["user"])
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="gpt-4o", max_tokens=500, messages=SMALL, user=SERVER_ERROR_USER)
    assert left(window, SERVER_ERROR_USER) == pytest.approx(LIMIT - input_tokens("gpt-4o", user=SERVER_ERROR_USER),
                                                            abs=0.01)


def test_async_openai_refunds(fake_provider, window):
    client = guard(openai_client(fake_provider[0], openai.AsyncOpenAI), Budget(), window=window, key="alice")

    async def main():
        await client.chat.completions.create(model="gpt-4o", max_tokens=500, messages=SMALL)
        await client.close()

    asyncio.run(main())
    assert left(window, "alice") == pytest.approx(LIMIT - input_tokens("gpt-4o") - 3, abs=0.01)


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_refunds_from_the_message_or_its_message_delta(fake_provider, window, stream):
    client = guard(anthropic.Anthropic(api_key="sk-ant-test", base_url=fake_provider[0], max_retries=0), Budget(),
                   window=window, key="bob")
    ours = count_request({"model": "claude-sonnet-4-5", "max_tokens": 800, "messages": SMALL}).input_tokens
    if stream:
        with client.messages.stream(model="claude-sonnet-4-5", max_tokens=800, messages=SMALL) as events:
            assert events.get_final_message().usage.output_tokens == 4
    else:
        client.messages.create(model="claude-sonnet-4-5", max_tokens=800, messages=SMALL)
    assert left(window, "bob") == pytest.approx(LIMIT - ours - 4, abs=0.01)


def test_cost_is_refunded_with_the_tokens(fake_provider, redis_client):
    window = RedisWindow(redis_client, max_cost_usd=1.0, seconds=YEAR, prefix="refund-cost:")
    client = guard(openai_client(fake_provider[0]), Budget(), window=window, key="alice")
    client.chat.completions.create(model="gpt-4o", max_tokens=4000, messages=SMALL)
    from pytest_tokenbudget import get_model

    spent = get_model("gpt-4o").cost_usd(input_tokens("gpt-4o"), 3)
    assert window.consume("alice", 0).cost_left_usd == pytest.approx(1.0 - spent, abs=1e-9)


def test_a_refund_never_fills_a_bucket_past_its_limit(window):
    assert window.consume("k", 100).allowed
    assert window.refund("k", 5_000)
    assert left(window, "k") == LIMIT
    assert window.refund("never-charged", 50) and left(window, "never-charged") == LIMIT


def test_a_refund_to_an_unreachable_redis_is_lost_with_a_warning(unused_port, caplog):
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    dead = redis.Redis(host="127.0.0.1", port=unused_port, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    assert RedisWindow(dead, max_tokens=100).refund("k", 40) is False
    assert "refund of 40 unused tokens to the window for 'k' lost: Redis at 127.0.0.1" in caplog.text
