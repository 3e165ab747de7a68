"""The OpenAI cookbook ("How to count tokens with tiktoken") prints, next to its own function's
counts, the `prompt_tokens` the API returned for the same request. Our counts must equal the API's."""

import pytest

from pytest_tokenbudget import count_messages, count_request

CORPORATE_JARGON = [
    {"role": "system", "content": "You are a helpful, pattern-following assistant that translates corporate jargon into plain English."},
    {"role": "system", "name": "example_user", "content": "New synergies will help drive top-line growth."},
    {"role": "system", "name": "example_assistant", "content": "Things working well together will increase revenue."},
    {"role": "system", "name": "example_user", "content": "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage."},
    {"role": "system", "name": "example_assistant", "content": "Let's talk later when we're less busy about how to do better."},
    {"role": "user", "content": "This late pivot means we don't have time to boil the ocean for the client deliverable."},
]

WEATHER_TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_current_weather",
            "description": "Get the current weather in a given location",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"},
                    "unit": {"type": "string", "description": "The unit of temperature to return", "enum": ["celsius", "fahrenheit"]},
                },
                "required": ["location"],
            },
        },
    }
]
WEATHER_MESSAGES = [
    {"role": "system", "content": "You are a helpful assistant that can answer to questions about the weather."},
    {"role": "user", "content": "What's the weather like in San Francisco?"},
]


# (model, prompt_tokens the API reported) as printed in the cookbook: section 6 of the current
# revision, and of the 2023 revision for the 0301/0314 snapshots.
@pytest.mark.parametrize(
    "model, api_prompt_tokens",
    [
        ("gpt-3.5-turbo", 129),
        ("gpt-3.5-turbo-0613", 129),
        ("gpt-3.5-turbo-0301", 127),
        ("gpt-4-0314", 129),
        ("gpt-4-0613", 129),
        ("gpt-4", 129),
        ("gpt-4o", 124),
        ("gpt-4o-mini", 124),
    ],
)
def test_messages_match_the_api(model, api_prompt_tokens):
    assert count_messages(CORPORATE_JARGON, model).input_tokens == api_prompt_tokens


@pytest.mark.parametrize(
    "model, api_prompt_tokens",
    [("gpt-3.5-turbo", 105), ("gpt-4", 105), ("gpt-4o", 101), ("gpt-4o-mini", 101)],
)
def test_tools_match_the_api(model, api_prompt_tokens):
    counted = count_request({"model": model, "messages": WEATHER_MESSAGES, "tools": WEATHER_TOOLS})
    assert counted.input_tokens == api_prompt_tokens
    assert counted.provenance == "exact"
    assert "tools" in {part.label for part in counted.breakdown}


def test_breakdown_adds_up_to_the_total():
    counted = count_messages(CORPORATE_JARGON, "gpt-4o")
    assert sum(part.tokens for part in counted.breakdown) == counted.input_tokens
    labels = [part.label for part in counted.breakdown]
    assert labels[:2] == ["messages[0] system", "messages[1] system"]
    assert counted.largest_first()[0].tokens == max(part.tokens for part in counted.breakdown)
