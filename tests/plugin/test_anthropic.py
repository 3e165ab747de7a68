"""The real anthropic SDK: messages sync/async, raw and helper streams, count_tokens."""

from __future__ import annotations

import pytest

pytest.importorskip("anthropic")


def test_messages_sync_async_and_streams(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import asyncio, pytest

        MESSAGES = [{"role": "user", "content": "Where is my order?"}]
        SYSTEM = "You are the support bot of an online shop."

        @pytest.mark.token_budget(max_input_tokens=1000, max_output_tokens=512)
        def test_sync(anthropic_client, token_budget):
            c = anthropic_client
            m = c.messages.create(model="claude-sonnet-4-5", max_tokens=256, system=SYSTEM, messages=MESSAGES)
            assert m.content[0].text and m.usage.input_tokens == token_budget.requests[0].input_tokens
            events = [e.type for e in c.messages.create(model="claude-haiku-4-5", max_tokens=256,
                                                        messages=MESSAGES, stream=True)]
            assert events[0] == "message_start" and events[-1] == "message_stop"
            with c.messages.stream(model="claude-sonnet-4-5", max_tokens=256, messages=MESSAGES) as s:
                assert "".join(s.text_stream)
                assert s.get_final_message().stop_reason == "end_turn"
            counted = c.messages.count_tokens(model="claude-sonnet-4-5", system=SYSTEM, messages=MESSAGES)
            assert counted.input_tokens == token_budget.requests[0].input_tokens
            # count_tokens is free and generates nothing: it is answered but not budgeted
            assert [r.api for r in token_budget.requests] == ["anthropic.messages"] * 3
            assert all(r.max_output_tokens == 256 for r in token_budget.requests)

        @pytest.mark.token_budget(max_input_tokens=1000, max_output_tokens=512)
        def test_async(async_anthropic_client, token_budget):
            async def main():
                c = async_anthropic_client
                m = await c.messages.create(model="claude-sonnet-4-5", max_tokens=64, messages=MESSAGES)
                assert m.content[0].text
                async with c.messages.stream(model="claude-sonnet-4-5", max_tokens=64, messages=MESSAGES) as s:
                    assert (await s.get_final_message()).content
            asyncio.run(main())
            assert [r.stream for r in token_budget.requests] == [False, True]
        """
    )
    inner.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_anthropic_output_cap_above_budget_fails(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import pytest

        @pytest.mark.token_budget(max_output_tokens=1024)
        def test_cap(anthropic_client):
            anthropic_client.messages.create(model="claude-sonnet-4-5", max_tokens=8192,
                                             messages=[{"role": "user", "content": "hi"}])
        """
    )
    result = inner.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*output cap 8,192 tokens > budget 1,024 (claude-sonnet-4-5*"])
