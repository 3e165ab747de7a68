"""The runtime guard drives the real openai and anthropic clients against a fake provider on
127.0.0.1: oversized requests are refused before the server sees them; the rest are sent."""

from __future__ import annotations

import asyncio
import json
import logging

import anthropic
import openai
import pytest

from pytest_tokenbudget import Budget, BudgetExceeded, get_model, MemoryWindow, RequestRefused, UnsupportedClient, count_request, guard

SMALL = [{"role": "user", "content": "What is my order status?"}]
BIG = [{"role": "user", "content": "history " * 2000}]


def openai_client(base_url, cls=openai.OpenAI):
    return cls(api_key="sk-test", base_url=base_url + "/v1", max_retries=0)


def anthropic_client(base_url, cls=anthropic.Anthropic):
    return cls(api_key="sk-ant-test", base_url=base_url, max_retries=0)


def test_guarded_openai_client_refuses_an_oversized_request_before_the_server_sees_it(fake_provider):
    base_url, received = fake_provider
    client = guard(openai_client(base_url), Budget(max_input_tokens=500, max_output_tokens=200))
    assert isinstance(client, openai.OpenAI)
    with pytest.raises(RequestRefused) as refused:
        client.chat.completions.create(model="gpt-4o", max_tokens=100, messages=BIG)
    assert received == []  # nothing was sent
    error = refused.value
    assert isinstance(error, BudgetExceeded)
    assert [v.limit for v in error.violations] == ["max_input_tokens"]
    assert error.request.input_tokens == count_request({"model": "gpt-4o", "messages": BIG}).input_tokens
    assert error.breakdown[0].label == "messages[0] user" and error.breakdown[0].tokens > 2000
    assert f"largest parts: messages[0] user {error.breakdown[0].tokens:,}" in str(error)

    reply = client.chat.completions.create(model="gpt-4o", max_tokens=100, messages=SMALL)
    assert reply.choices[0].message.content == "hello"
    assert [r["body"]["messages"] for r in received] == [SMALL]


def test_output_cap_required_and_limited(fake_provider):
    base_url, received = fake_provider
    client = guard(openai_client(base_url), Budget(max_output_tokens=200))
    with pytest.raises(RequestRefused, match="sets no output cap"):
        client.chat.completions.create(model="gpt-4o", messages=SMALL)
    with pytest.raises(RequestRefused, match="output cap 500 tokens > budget 200"):
        client.chat.completions.create(model="gpt-4o", messages=SMALL, max_completion_tokens=500)
    assert received == []


def test_context_window_and_cost_are_judged_like_the_plugin(fake_provider):
    base_url, received = fake_provider
    client = guard(openai_client(base_url), Budget(max_cost_usd=0.001))
    with pytest.raises(RequestRefused, match="context window 128,000"):
        client.chat.completions.create(model="gpt-4o", messages=SMALL, max_tokens=200_000)
    with pytest.raises(RequestRefused, match=r"cost \$"):
        client.chat.completions.create(model="gpt-4o", messages=SMALL, max_tokens=10_000)
    assert received == []


def test_on_exceed_replacement_is_counted_again_then_sent(fake_provider):
    base_url, received = fake_provider
    seen = []

    def trim(body, error):
        seen.append(error.violations[0].limit)
        return {**body, "messages": SMALL}

    client = guard(openai_client(base_url), Budget(max_input_tokens=500), on_exceed=trim)
    client.chat.completions.create(model="gpt-4o", max_tokens=10, messages=BIG)
    assert seen == ["max_input_tokens"]
    assert received[0]["body"]["messages"] == SMALL and received[0]["body"]["max_tokens"] == 10

    still_big = guard(openai_client(base_url), Budget(max_input_tokens=500), on_exceed=lambda body, error: body)
    with pytest.raises(RequestRefused):
        still_big.chat.completions.create(model="gpt-4o", max_tokens=10, messages=BIG)
    declined = guard(openai_client(base_url), Budget(max_input_tokens=500), on_exceed=lambda body, error: None)
    with pytest.raises(RequestRefused):
        declined.chat.completions.create(model="gpt-4o", max_tokens=10, messages=BIG)
    assert len(received) == 1


def test_async_openai_client(fake_provider):
    base_url, received = fake_provider
    client = guard(openai_client(base_url, openai.AsyncOpenAI), Budget(max_input_tokens=500))
    assert isinstance(client, openai.AsyncOpenAI)

    async def main():
        with pytest.raises(RequestRefused):
            await client.chat.completions.create(model="gpt-4o", max_tokens=10, messages=BIG)
        reply = await client.chat.completions.create(model="gpt-4o", max_tokens=10, messages=SMALL)
        return reply.choices[0].message.content

    assert asyncio.run(main()) == "hello"
    assert len(received) == 1


@pytest.mark.parametrize("cls", [anthropic.Anthropic, anthropic.AsyncAnthropic])
def test_anthropic_clients_refuse_through_middleware(fake_provider, cls):
    base_url, received = fake_provider
    client = guard(anthropic_client(base_url, cls), Budget(max_input_tokens=500, max_output_tokens=100))
    assert isinstance(client, cls)

    async def call(**kwargs):
        result = client.messages.create(model="claude-sonnet-4-5", **kwargs)
        return await result if asyncio.iscoroutine(result) else result

    with pytest.raises(RequestRefused, match="prompt .* > budget 500"):
        asyncio.run(call(max_tokens=50, messages=BIG))
    with pytest.raises(RequestRefused, match="output cap 1,000 tokens > budget 100"):
        asyncio.run(call(max_tokens=1000, messages=SMALL))
    assert received == []
    reply = asyncio.run(call(max_tokens=50, messages=SMALL, system="Be brief."))
    assert reply.content[0].text == "hello"
    assert len(received) == 1


def usage_lines(caplog):
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "pytest_tokenbudget.usage"]


def test_usage_log_has_our_count_and_the_reported_usage_and_no_prompt(fake_provider, caplog):
    base_url, _ = fake_provider
    caplog.set_level(logging.INFO, logger="pytest_tokenbudget.usage")
    client = guard(openai_client(base_url), Budget(max_input_tokens=500), key="tenant-a")
    client.chat.completions.create(model="gpt-4o", max_tokens=10, messages=SMALL)
    stream = client.chat.completions.create(model="gpt-4o", max_tokens=10, messages=SMALL, stream=True,
                                            stream_options={"include_usage": True})
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "hi"
    with pytest.raises(RequestRefused):
        client.chat.completions.create(model="gpt-4o", max_tokens=10, messages=BIG)
    plain, streamed, refused = usage_lines(caplog)
    ours = count_request({"model": "gpt-4o", "messages": SMALL}).input_tokens
    assert plain["input_tokens"] == ours and plain["reported_input_tokens"] == 11
    assert plain["input_difference"] == ours - 11 and plain["reported_output_tokens"] == 3
    assert plain["key"] == "tenant-a" and plain["output_cap"] == 10 and plain["status"] == 200
    assert plain["cost_usd"] > 0 and not plain["streamed"]
    assert streamed["streamed"] and streamed["reported_input_tokens"] == 11 and streamed["reported_output_tokens"] == 3
    assert refused["event"] == "llm_request_refused" and refused["refused"] == "max_input_tokens"
    assert "order status" not in caplog.text and "sk-test" not in caplog.text


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_usage_log_including_streams(fake_provider, caplog, stream):
    base_url, _ = fake_provider
    caplog.set_level(logging.INFO, logger="pytest_tokenbudget.usage")
    client = guard(anthropic_client(base_url), Budget(max_input_tokens=500))
    if stream:
        with client.messages.stream(model="claude-sonnet-4-5", max_tokens=50, messages=SMALL) as events:
            assert events.get_final_text() == "hello"
    else:
        client.messages.create(model="claude-sonnet-4-5", max_tokens=50, messages=SMALL)
    [line] = usage_lines(caplog)
    assert line["reported_input_tokens"] == 12 and line["reported_output_tokens"] == 4
    assert line["streamed"] is stream and line["model"] == get_model("claude-sonnet-4-5").id


def test_alerts_for_a_full_context_window_and_a_nearly_used_window(fake_provider):
    base_url, received = fake_provider
    alerts = []
    window = MemoryWindow(max_tokens=1000, seconds=3600)
    client = guard(openai_client(base_url), Budget(), window=window, key="u1", on_alert=alerts.append,
                   window_alert_share=0.5)
    client.chat.completions.create(model="gpt-4o", max_tokens=100, messages=SMALL)
    assert alerts == []
    client.chat.completions.create(model="gpt-4o", max_tokens=500, messages=SMALL)
    assert [a.kind for a in alerts] == ["window"] and alerts[0].key == "u1" and alerts[0].share > 0.5
    big_cap = guard(openai_client(base_url), Budget(), on_alert=alerts.append)
    big_cap.chat.completions.create(model="gpt-4o", max_tokens=120_000, messages=SMALL)
    assert alerts[-1].kind == "context_window" and "of gpt-4o's context window" in alerts[-1].message


def test_window_refuses_once_the_key_has_spent_it(fake_provider):
    base_url, received = fake_provider
    window = MemoryWindow(max_tokens=300, seconds=3600)
    client = guard(openai_client(base_url), Budget(), window=window, key=lambda body: body.get("user", "anon"))
    # Each answer uses 3 of its 200-token cap: the rest comes back, so the window lasts.
    client.chat.completions.create(model="gpt-4o", max_tokens=200, messages=SMALL, user="alice")
    client.chat.completions.create(model="gpt-4o", max_tokens=200, messages=SMALL, user="alice")
    # Charged at the cap before sending: 13 input + 280 > 300 - 2 x 16 left.
    with pytest.raises(RequestRefused, match="window for 'alice' .* left; this request needs 293 tokens"):
        client.chat.completions.create(model="gpt-4o", max_tokens=280, messages=SMALL, user="alice")
    client.chat.completions.create(model="gpt-4o", max_tokens=280, messages=SMALL, user="bob")
    assert [r["body"]["user"] for r in received] == ["alice", "alice", "bob"]


def test_requests_other_than_llm_calls_pass_untouched(fake_provider):
    base_url, received = fake_provider
    client = guard(openai_client(base_url), Budget(max_input_tokens=1))
    with pytest.raises(openai.APIStatusError):  # the fake server knows no files endpoint: it answered, unguarded
        client.files.list()


def test_bad_input_is_a_clear_error(fake_provider):
    base_url, received = fake_provider
    with pytest.raises(UnsupportedClient, match="cannot guard a builtins.dict"):
        guard({}, Budget())
    with pytest.raises(ValueError, match="max_input_tokens is 0"):
        guard(openai_client(base_url), Budget(max_input_tokens=0))
    with pytest.raises(ValueError, match="must not be negative"):
        Budget(max_input_tokens=-1)
    with pytest.raises(TypeError, match="on_exceed must be"):
        guard(openai_client(base_url), Budget(), on_exceed="trim")
    from pytest_tokenbudget import UnknownModelError

    client = guard(openai_client(base_url), Budget(max_input_tokens=100))
    with pytest.raises(UnknownModelError, match="gpt-4oo"):
        client.chat.completions.create(model="gpt-4oo", max_tokens=10, messages=SMALL)
    assert received == []


def test_prompts_are_logged_only_when_asked_and_credentials_never(fake_provider, caplog):
    base_url, _ = fake_provider
    caplog.set_level(logging.INFO, logger="pytest_tokenbudget.usage")
    # A gateway that takes its key in the query string as well as the header (Azure-style).
    raw = openai.OpenAI(api_key="sk-header-secret", base_url=base_url + "/v1", max_retries=0,
                        default_query={"api-key": "query-secret", "api-version": "2024-10-21"})
    tools = [{"type": "function", "function": {"name": "order_status", "parameters": {"type": "object"}}}]
    for log_prompts in (False, True):
        client = guard(raw, Budget(max_input_tokens=500), log_prompts=log_prompts)
        client.chat.completions.create(model="gpt-4o", max_tokens=10, tools=tools,
                                       messages=[{"role": "system", "content": "You answer tersely."}, *SMALL])
        with pytest.raises(RequestRefused):
            client.chat.completions.create(model="gpt-4o", max_tokens=10, messages=BIG)
    quiet_sent, quiet_refused, sent, refused = usage_lines(caplog)
    assert "prompt" not in quiet_sent and "prompt" not in quiet_refused
    assert sent["prompt"] == {"messages": [{"role": "system", "content": "You answer tersely."}, *SMALL],
                              "tools": tools}
    assert refused["prompt"] == {"messages": BIG}  # a refusal is where the prompt helps most
    assert sent["url"].endswith("/v1/chat/completions?api-key=***&api-version=2024-10-21")
    assert "secret" not in caplog.text
    with pytest.raises(TypeError, match="log_prompts must be True or False"):
        guard(raw, Budget(), log_prompts="yes")


def test_anthropic_prompt_logging_includes_the_system_prompt(fake_provider, caplog):
    base_url, _ = fake_provider
    caplog.set_level(logging.INFO, logger="pytest_tokenbudget.usage")
    client = guard(anthropic_client(base_url), Budget(), log_prompts=True)
    client.messages.create(model="claude-sonnet-4-5", max_tokens=50, system="Be brief.", messages=SMALL)
    [line] = usage_lines(caplog)
    assert line["prompt"] == {"system": "Be brief.", "messages": SMALL}
    assert "sk-ant-test" not in caplog.text
