"""The token_budget fixture: captured requests, counting helpers, explicit asserts, scripted replies."""

from __future__ import annotations

import pytest


def test_scripted_text_and_tool_call_replies_drive_the_app_flow(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import json, pytest

        TOOLS = [{"type": "function", "function": {"name": "lookup_order", "description": "Find an order",
                  "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}}}}]

        def agent(client, question):
            messages = [{"role": "user", "content": question}]
            while True:
                reply = client.chat.completions.create(model="gpt-4o", messages=messages, tools=TOOLS, max_tokens=200)
                message = reply.choices[0].message
                if not message.tool_calls:
                    return message.content
                messages.append(message.model_dump(exclude_none=True))
                for call in message.tool_calls:
                    args = json.loads(call.function.arguments)
                    messages.append({"role": "tool", "tool_call_id": call.id, "content": f"order {args['order_id']} shipped"})

        @pytest.mark.token_budget(max_input_tokens=2000, max_output_tokens=200, max_calls=2)
        def test_agent_loop(openai_client, token_budget):
            token_budget.reply_tool_call("lookup_order", {"order_id": "A-17"})
            token_budget.reply("Your order A-17 has shipped.")
            assert agent(openai_client, "Where is order A-17?") == "Your order A-17 has shipped."
            first, second = token_budget.requests
            assert second.input_tokens > first.input_tokens  # the tool result was sent back
            assert [part.label for part in first.breakdown]  # largest first
            assert first.breakdown[0].tokens >= first.breakdown[-1].tokens

        @pytest.mark.token_budget(max_output_tokens=200)
        def test_anthropic_tool_use_and_streamed_tool_call(anthropic_client, openai_client, token_budget):
            token_budget.reply_tool_call("lookup_order", {"order_id": "B-2"}, text="Let me check.")
            m = anthropic_client.messages.create(model="claude-sonnet-4-5", max_tokens=100,
                                                 messages=[{"role": "user", "content": "where?"}],
                                                 tools=[{"name": "lookup_order", "input_schema": {"type": "object"}}])
            assert m.stop_reason == "tool_use"
            assert [b.type for b in m.content] == ["text", "tool_use"] and m.content[1].input == {"order_id": "B-2"}
            token_budget.reply_tool_call("lookup_order", {"order_id": "C-3"})
            with openai_client.chat.completions.stream(model="gpt-4o", max_tokens=100, tools=TOOLS,
                                                       messages=[{"role": "user", "content": "where?"}]) as s:
                call = s.get_final_completion().choices[0].message.tool_calls[0]
            assert json.loads(call.function.arguments) == {"order_id": "C-3"}
            token_budget.default_reply("fine")
            assert openai_client.chat.completions.create(model="gpt-4o", max_tokens=5,
                messages=[{"role": "user", "content": "x"}]).choices[0].message.content == "fine"
        """
    )
    inner.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_counting_helpers_and_assert_within(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import pytest
        from pytest_tokenbudget import BudgetExceeded, count_tokens

        @pytest.mark.token_budget(model="gpt-4o")
        def test_helpers(openai_client, token_budget):
            assert token_budget.count("Where is my order?") == count_tokens("Where is my order?", "gpt-4o")
            assert token_budget.count("hello", model="claude-sonnet-4-5") > 0
            counted = token_budget.count_messages([{"role": "user", "content": "hi"}])
            assert counted.input_tokens > 0
            openai_client.chat.completions.create(model="gpt-4o", max_tokens=50,
                                                  messages=[{"role": "user", "content": "word " * 300}])
            token_budget.assert_within(max_input_tokens=1000)
            with pytest.raises(BudgetExceeded, match=r"prompt 3\\d\\d tokens > budget 100"):
                token_budget.assert_within(max_input_tokens=100)
            with pytest.raises(TypeError, match="unknown argument 'max_tokens'"):
                token_budget.assert_within(max_tokens=5)
            assert token_budget.total_tokens == token_budget.total_input_tokens + 50
            assert "1 requests" in repr(token_budget)

        def test_fixture_alone_turns_interception_on(openai_client, token_budget):
            openai_client.embeddings.create(model="text-embedding-3-small", input="hello")
            assert len(token_budget.requests) == 1
        """
    )
    inner.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=2)
