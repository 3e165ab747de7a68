import pytest
import tiktoken

from pytest_tokenbudget import RequestBodyError, count_messages, count_request, count_tokens



def test_special_token_strings_are_ordinary_text():
    assert count_tokens("<|endoftext|>", "gpt-4o") > 1
    assert count_tokens("<|im_start|>system", "gpt-4") > 1


def test_lone_surrogates_are_counted_not_fatal():
    assert count_tokens("broken \ud800 pair", "gpt-4o") >= 3


def test_count_tokens_rejects_non_text():
    with pytest.raises(TypeError, match="takes text"):
        count_tokens(b"bytes", "gpt-4o")


def test_output_cap_is_read_per_api():
    chat = count_request({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 50})
    assert chat.max_output_tokens == 50 and chat.api == "openai.chat"
    responses = count_request({"model": "gpt-5", "input": "hi", "max_output_tokens": 70})
    assert responses.max_output_tokens == 70 and responses.api == "openai.responses"
    legacy = count_request({"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi"})
    assert legacy.max_output_tokens == 16 and legacy.api == "openai.completions"  # the API's default cap
    uncapped = count_request({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
    assert uncapped.max_output_tokens is None


def test_responses_api_counts_instructions_items_and_tools():
    body = {
        "model": "gpt-4.1",
        "instructions": "You are terse.",
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "Weather in Paris?"}]},
            {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": '{"city": "Paris"}'},
            {"type": "function_call_output", "call_id": "c1", "output": '{"temp": 18}'},
        ],
        "tools": [{"type": "function", "name": "get_weather", "description": "Weather for a city.",
                   "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City"}}}}],
    }
    counted = count_request(body)
    labels = [p.label for p in counted.breakdown]
    assert labels[:4] == ["instructions", "input[0] user", "input[1] function_call", "input[2] function_call_output"]
    assert "tools" in labels
    assert sum(p.tokens for p in counted.breakdown) == counted.input_tokens
    assert counted.provenance == "estimate"  # no published rule for function calls in history


def test_responses_string_input_equals_a_user_message():
    as_string = count_request({"model": "gpt-4o", "input": "Tell me a joke"}).input_tokens
    as_chat = count_messages([{"role": "user", "content": "Tell me a joke"}], "gpt-4o").input_tokens
    assert as_string == as_chat


def test_legacy_completions_and_embeddings_count_plain_text():
    text = "The quick brown fox jumps over the lazy dog."
    n = count_tokens(text, "gpt-3.5-turbo-instruct")
    assert count_request({"model": "gpt-3.5-turbo-instruct", "prompt": text}).input_tokens == n
    assert count_request({"model": "gpt-3.5-turbo-instruct", "prompt": [text, text]}).input_tokens == 2 * n
    embed = count_request({"model": "text-embedding-3-small", "input": [text, [1, 2, 3]]})
    assert embed.api == "openai.embeddings" and embed.input_tokens == n + 3
    assert not embed.produces_output


def test_tool_calls_and_tool_messages_in_history():
    messages = [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "cold"},
    ]
    counted = count_messages(messages, "gpt-4o")
    assert [p.label for p in counted.breakdown][:3] == ["messages[0] user", "messages[1] assistant", "messages[2] tool"]
    assert counted.breakdown[1].tokens >= count_tokens('{"city":"Oslo"}', "gpt-4o")


def test_nested_tool_schema_is_counted_and_marked_estimate():
    tool = {"type": "function", "function": {"name": "book", "description": "Book a trip", "parameters": {
        "type": "object", "properties": {
            "traveller": {"type": "object", "description": "Who", "properties": {
                "name": {"type": "string", "description": "Full name"},
                "age": {"type": "integer", "description": "Age in years"}}},
            "legs": {"type": "array", "description": "Flights", "items": {"type": "object", "properties": {
                "from": {"type": "string", "description": "IATA code"}}}}}}}}
    flat = {"type": "function", "function": {"name": "book", "description": "Book a trip", "parameters": {
        "type": "object", "properties": {"traveller": {"type": "object", "description": "Who"},
                                         "legs": {"type": "array", "description": "Flights"}}}}}
    messages = [{"role": "user", "content": "Book it"}]
    nested = count_messages(messages, "gpt-4o", tools=[tool])
    assert nested.input_tokens > count_messages(messages, "gpt-4o", tools=[flat]).input_tokens
    assert nested.provenance == "estimate"


def test_legacy_functions_field_counts_like_tools():
    function = {"name": "f", "description": "Does f.", "parameters": {"type": "object", "properties": {
        "x": {"type": "string", "description": "An x."}}}}
    messages = [{"role": "user", "content": "go"}]
    via_functions = count_request({"model": "gpt-4", "messages": messages, "functions": [function]})
    via_tools = count_request({"model": "gpt-4", "messages": messages, "tools": [{"type": "function", "function": function}]})
    assert via_functions.input_tokens == via_tools.input_tokens


def test_anthropic_request_structure():
    body = {
        "model": "claude-sonnet-4-5-20250929",
        "max_tokens": 1024,
        "system": [{"type": "text", "text": "You are a support agent for ACME."}],
        "messages": [
            {"role": "user", "content": "Where is my order?"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "lookup", "input": {"order": 42}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "Shipped"},
                                         {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "Policy text"}}]},
        ],
        "tools": [{"name": "lookup", "description": "Find an order", "input_schema": {
            "type": "object", "properties": {"order": {"type": "integer"}}}}],
    }
    counted = count_request(body)
    assert counted.api == "anthropic.messages" and counted.max_output_tokens == 1024
    labels = [p.label for p in counted.breakdown]
    assert labels[:4] == ["system", "messages[0] user", "messages[1] assistant", "messages[2] user"]
    assert "tools" in labels
    assert counted.provenance in ("ctok", "estimate", "recorded")


@pytest.mark.parametrize(
    "body, path, problem",
    [
        ({"model": "gpt-4o", "messages": [{"role": "user", "content": "a"}] * 3 + [
            {"role": "user", "content": [{"type": "text", "text": "x"}, {"type": "audio", "data": "..."}]}]},
         "messages[3].content[1].type", "unknown part 'audio'"),
        ({"model": "gpt-4o", "messages": "hello"}, "messages", "expected a list, got str"),
        ({"model": "gpt-4o", "messages": [{"content": "no role"}]}, "messages[0].role", "missing"),
        ({"model": "gpt-4o", "messages": [{"role": "user", "content": [{"text": "no type"}]}]},
         "messages[0].content[0].type", "missing part type"),
        ({"model": "gpt-4o", "messages": [{"role": "user", "content": 42}]}, "messages[0].content", "expected a list"),
        ({"model": "gpt-4o", "messages": [{"role": "user", "content": [{"type": "text", "text": None}]}]},
         "messages[0].content[0].text", "expected text"),
        ({"messages": []}, "model", "names no model"),
        ({"model": "gpt-4o", "messages": [], "max_tokens": "100"}, "max_tokens", "whole number"),
        ({"model": "claude-3-haiku-20240307", "messages": [{"role": "system", "content": "x"}]},
         "messages[0].role", "must be 'user' or 'assistant'"),
        ({"model": "claude-3-haiku-20240307", "messages": [{"role": "user", "content": [{"type": "video"}]}]},
         "messages[0].content[0].type", "unknown part 'video'"),
        ({"model": "gpt-4o", "tools": [{"type": "function", "function": {"description": "x"}}], "messages": []},
         "tools[0].function.name", "missing"),
    ],
)
def test_bad_bodies_name_the_path(body, path, problem):
    with pytest.raises(RequestBodyError) as caught:
        count_request(body)
    assert caught.value.path == path
    assert problem in str(caught.value)
    assert str(caught.value).startswith(f"{path}: ")


def test_model_override_for_bodies_without_one():
    counted = count_request({"messages": [{"role": "user", "content": "hi"}]}, model="gpt-4o-mini")
    assert counted.model.id == "gpt-4o-mini"


def test_repeated_long_parts_are_counted_once_and_identically():
    system = "Policy clause. " * 2000
    first = count_messages([{"role": "user", "content": "q1"}], "gpt-4o", system=system)
    second = count_messages([{"role": "user", "content": "q2"}], "gpt-4o", system=system)
    assert first.breakdown[0] == second.breakdown[0]
