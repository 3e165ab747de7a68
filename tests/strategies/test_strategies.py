"""pytest_tokenbudget.strategies: the shapes, sizes and densities it promises, checked with real
Hypothesis runs (derandomized where a test asserts on what was drawn), the real SDKs' types and
clients, and the plugin counting what the SDK sent."""

from __future__ import annotations

import functools
import importlib.util
import json
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

from pytest_tokenbudget import count_messages, count_request, count_tokens
from pytest_tokenbudget import strategies as tbst

# Deterministic: these tests assert on what was drawn, so a run must not depend on a seed.
# For find(): any example with the property will do (no shrinking), and room far past what is
# needed, since derandomized sequences differ between processes (constants of loaded modules).
FINDING = settings(database=None, derandomize=True, max_examples=1000, phases=[Phase.generate])
FIXED = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
# Where a property is about one message's or tool's shape, which the histories check again: fewer.
SHAPE = settings(FIXED, max_examples=10)
MODELS = ("gpt-4o", "claude-sonnet-4-5")


def _texts_of(message: dict[str, Any]) -> list[str]:
    content = message.get("content")
    if isinstance(content, str):
        return [content]
    texts = []
    for block in content or ():
        if block.get("type") == "text":
            texts.append(block["text"])
        elif block.get("type") == "tool_result":
            texts.append(block["content"])
    return texts


@functools.lru_cache(maxsize=None)
def _history_adapter(provider: str) -> Any:
    # Built once: building a TypeAdapter of the SDK's message Union costs more than validating.
    from anthropic.types import MessageParam
    from openai.types.chat import ChatCompletionMessageParam
    from pydantic import TypeAdapter

    return TypeAdapter(list[MessageParam] if provider == "anthropic" else list[ChatCompletionMessageParam])


def check_openai_history(history: list[dict[str, Any]], max_tokens: int | None = None) -> None:
    """Everything a chat-completions endpoint checks about a history's structure."""
    _history_adapter("openai").validate_python(history)
    roles = [message["role"] for message in history]
    assert roles[0] in ("system", "user"), roles
    assert "system" not in roles[1:], roles
    seen_ids: set[str] = set()
    for index, message in enumerate(history):
        if message.get("tool_calls"):
            ids = [call["id"] for call in message["tool_calls"]]
            assert not seen_ids & set(ids), ids
            seen_ids |= set(ids)
            following = history[index + 1:index + 1 + len(ids)]
            assert [m.get("tool_call_id") for m in following] == ids, (ids, following)
            for call in message["tool_calls"]:
                assert isinstance(json.loads(call["function"]["arguments"]), dict)
        if message["role"] == "tool":
            previous = history[index - 1]
            assert previous["role"] == "tool" or previous.get("tool_calls"), history
        if max_tokens is not None:
            assert all(count_tokens(text, "gpt-4o") <= max_tokens for text in _texts_of(message) if text)


def check_anthropic_history(history: list[dict[str, Any]], max_tokens: int | None = None) -> None:
    """What the messages API refuses: wrong alternation, unanswered tool uses, empty text."""
    _history_adapter("anthropic").validate_python(history)
    roles = [message["role"] for message in history]
    assert roles[0] == "user" and all(a != b for a, b in zip(roles, roles[1:])), roles
    for index, message in enumerate(history):
        blocks = message["content"] if isinstance(message["content"], list) else []
        uses = [block["id"] for block in blocks if block["type"] == "tool_use"]
        if uses:
            answer = history[index + 1]["content"]
            assert [block["tool_use_id"] for block in answer if block["type"] == "tool_result"] == uses
        for text in _texts_of(message):
            assert text.strip(), history
            if max_tokens is not None:
                assert count_tokens(text, "claude-sonnet-4-5") <= max_tokens


CHECKS = {"openai": check_openai_history, "anthropic": check_anthropic_history}


def test_importing_the_package_or_plugin_does_not_import_hypothesis():
    code = ("import sys, pytest_tokenbudget, pytest_tokenbudget.plugin; pytest_tokenbudget.count_tokens('a', 'gpt-4o'); "
            "print('hypothesis' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


# --- texts -----------------------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
@FIXED
@given(data=st.data())
def test_texts_land_in_the_token_range_of_the_model(model, data):
    low = data.draw(st.integers(0, 300))
    high = data.draw(st.integers(max(low, count_tokens("", model)), low + 300))
    text = data.draw(tbst.texts(min_tokens=low, max_tokens=high, model=model))
    assert low <= count_tokens(text, model) <= high


def test_texts_can_be_large_without_running_out_of_choices():
    text = find(tbst.texts(min_tokens=20_000, max_tokens=20_500), lambda text: True)
    assert 20_000 <= count_tokens(text, "gpt-4o") <= 20_500


def test_a_failing_text_shrinks_to_about_the_size_that_fails():
    # A text is one choice (size and recipe): lowering it must shorten the text, not just vary it.
    smallest = find(tbst.texts(max_tokens=500), lambda text: count_tokens(text, "gpt-4o") >= 100,
                    settings=settings(database=None, derandomize=True))
    assert 100 <= count_tokens(smallest, "gpt-4o") <= 104


def test_texts_are_denser_in_tokens_than_english_prose():
    # Plain English costs about 0.25 tokens a character; a builder sized for that overflows here.
    # Over the whole run, not per example: Hypothesis's mutations repeat one text's choice.
    densities = []

    @settings(max_examples=200, deadline=None, derandomize=True, database=None, phases=[Phase.generate])
    @given(tbst.texts(min_tokens=20, max_tokens=200))
    def measure(text):
        densities.append(count_tokens(text, "gpt-4o") / len(text))

    measure()
    densities.sort()
    assert densities[len(densities) // 2] > 0.35, densities


def test_every_kind_of_text_is_drawn():
    found = {}
    first = settings(database=None, derandomize=True, phases=[Phase.generate])  # no shrinking: any example will do
    for kind in set(tbst.TEXT_KINDS) - {"surrogate"}:
        found[kind] = find(tbst.texts(min_tokens=1, max_tokens=50, alphabet={kind}), lambda text: True, settings=first)
    assert any(0x4E00 <= ord(c) <= 0x9FFF or 0xAC00 <= ord(c) <= 0xD7A3 or 0x3040 <= ord(c) <= 0x30FF for c in found["cjk"])
    assert any(s in found["special"] for s in tbst.SPECIAL_TOKEN_STRINGS)
    for marker, kind in (("\u202b", "rtl"), ("://", "url")):
        assert marker in found[kind], found[kind]
    # A special-token string is found in mixed text too, without asking for it.
    find(tbst.texts(max_tokens=200), lambda text: "<|endoftext|>" in text,
         settings=settings(first, max_examples=2000))


def test_lone_surrogates_only_when_asked_for():
    lone = find(tbst.texts(max_tokens=30, surrogates=True), lambda text: any(0xD800 <= ord(c) <= 0xDFFF for c in text))
    with pytest.raises(UnicodeEncodeError):
        lone.encode("utf-8")
    assert count_tokens(lone, "gpt-4o") >= 1  # counting takes them, as the APIs do

    @FIXED
    @given(tbst.texts(max_tokens=100))
    def never_lone(text):
        text.encode("utf-8")

    never_lone()


@pytest.mark.parametrize("arguments, message", [
    ({"min_tokens": 5, "max_tokens": 2}, "0 <= min_tokens <= max_tokens"),
    ({"min_tokens": -1}, "0 <= min_tokens"),
    ({"alphabet": {"cjk", "klingon"}}, "unknown text kinds \\['klingon'\\]"),
    # Only Claude's estimate has a floor (6 tokens); ctok (Python 3.12+) counts short texts exactly.
    pytest.param({"max_tokens": 3, "model": "claude-sonnet-4-5"}, "no text is that short",
                 marks=pytest.mark.skipif(importlib.util.find_spec("ctok") is not None,
                                          reason="ctok counts Claude texts exactly: no floor to refuse")),
])
def test_bad_text_arguments_are_refused_when_the_strategy_is_built(arguments, message):
    with pytest.raises(ValueError, match=message):
        tbst.texts(**arguments)


def test_an_unknown_model_is_refused_naming_close_ones():
    from pytest_tokenbudget import UnknownModelError

    with pytest.raises(UnknownModelError, match="gpt-4o"):
        tbst.texts(model="gpt-4oo")


# --- messages and histories ------------------------------------------------------------------


@pytest.mark.parametrize("provider", tbst.PROVIDERS)
@FIXED
@given(data=st.data())
def test_histories_are_well_formed_for_the_provider(provider, data):
    low = data.draw(st.integers(1, 12))
    history = data.draw(tbst.chat_histories(provider, min_messages=low, max_messages=low + 10, max_tokens_per_message=40))
    assert low <= len(history) <= low + 10
    CHECKS[provider](history, max_tokens=40)


@pytest.mark.parametrize("provider", tbst.PROVIDERS)
def test_a_failing_history_shrinks_to_a_small_valid_one(provider):
    # find() shrinks like a failing test does; what it returns must still be a valid history.
    def has_a_tool_round(history):
        return any(block.get("type") == "tool_result" for m in history if isinstance(m["content"], list)
                   for block in m["content"]) or any(m["role"] == "tool" for m in history)

    smallest = find(tbst.chat_histories(provider, max_messages=30), has_a_tool_round,
                    settings=settings(database=None, derandomize=True))
    CHECKS[provider](smallest)
    # user, call, result, answer, next question; ctok's exact Claude counts (Python 3.12+) leave Hypothesis
    # one more user/assistant turn it cannot drop without changing sizes (7 on CI's 3.13 leg).
    assert len(smallest) <= 7, smallest



@pytest.mark.parametrize("provider", tbst.PROVIDERS)
def test_histories_have_tool_calls_names_parts_and_images(provider):
    find_settings = FINDING
    image_type = "image" if provider == "anthropic" else "image_url"
    image = find(tbst.chat_histories(provider), lambda h: any(
        isinstance(m["content"], list) and any(b["type"] == image_type for b in m["content"]) for m in h),
        settings=find_settings)
    count = count_messages(image, tbst._default_model(provider))
    assert any("image" in part.label for part in count.breakdown), count.breakdown
    if provider == "openai":
        find(tbst.chat_histories(provider), lambda h: any("name" in m for m in h), settings=find_settings)
        find(tbst.chat_histories(provider), lambda h: any(len(m.get("tool_calls") or ()) > 1 for m in h), settings=find_settings)
    no_tools = find(tbst.chat_histories(provider, tool_calls=False, min_messages=6), lambda h: True, settings=FINDING)
    assert all(m["role"] in ("system", "user", "assistant") and "tool_calls" not in m for m in no_tools)


@pytest.mark.parametrize("provider", tbst.PROVIDERS)
@SHAPE
@given(data=st.data())
def test_single_messages_stand_on_their_own(provider, data):
    message = data.draw(tbst.chat_messages(provider, max_tokens=30))
    CHECKS[provider]([{"role": "user", "content": "hi"}, message] if message["role"] == "assistant" else [message])
    assert data.draw(tbst.chat_messages(provider, role="assistant"))["role"] == "assistant"


def test_bad_history_arguments_are_refused():
    with pytest.raises(ValueError, match="provider must be one of openai, anthropic"):
        tbst.chat_histories("gemini")
    with pytest.raises(ValueError, match="1 <= min_messages <= max_messages"):
        tbst.chat_histories(min_messages=5, max_messages=2)
    with pytest.raises(ValueError, match="must be one of user, assistant for anthropic"):
        tbst.chat_messages("anthropic", role="system")


# --- through the real SDKs, under the plugin ---------------------------------------------------


@pytest.mark.token_budget(max_input_tokens=1_000_000)
@FIXED
@given(history=tbst.chat_histories("openai", max_messages=12), tools=st.lists(tbst.tool_definitions(), max_size=2,
                                                                                unique_by=lambda t: t["function"]["name"]))
def test_the_openai_sdk_sends_them_and_the_plugin_counts_them(token_budget, history, tools):
    import openai

    client = openai.OpenAI(api_key="placeholder-key", max_retries=0)
    client.chat.completions.create(model="gpt-4o", max_tokens=100, messages=history, **({"tools": tools} if tools else {}))
    sent = token_budget.requests[-1]
    assert sent.error is None
    assert sent.input_tokens == count_messages(history, "gpt-4o", tools=tools or None).input_tokens


@pytest.mark.token_budget(max_input_tokens=1_000_000)
@FIXED
@given(history=tbst.chat_histories("anthropic", max_messages=12), tools=st.lists(tbst.tool_definitions("anthropic"),
                                                                                   max_size=2, unique_by=lambda t: t["name"]))
def test_the_anthropic_sdk_sends_them_and_the_plugin_counts_them(token_budget, history, tools):
    import anthropic

    client = anthropic.Anthropic(api_key="placeholder-key", max_retries=0)
    client.messages.create(model="claude-sonnet-4-5", max_tokens=100, messages=history, **({"tools": tools} if tools else {}))
    sent = token_budget.requests[-1]
    assert sent.error is None
    assert sent.input_tokens == count_messages(history, "claude-sonnet-4-5", tools=tools or None).input_tokens


# --- tools and request bodies -----------------------------------------------------------------


@pytest.mark.parametrize("provider", tbst.PROVIDERS)
@SHAPE
@given(data=st.data())
def test_tool_definitions_are_valid_json_schema(provider, data):
    import jsonschema

    tool = data.draw(tbst.tool_definitions(provider))
    schema = tool["input_schema"] if provider == "anthropic" else tool["function"]["parameters"]
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["type"] == "object"
    assert set(schema.get("required", ())) <= set(schema["properties"])


def test_tool_definitions_nest_objects_and_enums():
    def depth(schema):
        children = list(schema.get("properties", {}).values()) + ([schema["items"]] if "items" in schema else [])
        return 1 + max((depth(child) for child in children), default=0)

    nested = find(tbst.tool_definitions(), lambda t: depth(t["function"]["parameters"]) >= 3, settings=FINDING)
    assert depth(nested["function"]["parameters"]) >= 3
    find(tbst.tool_definitions(), lambda t: "enum" in json.dumps(t), settings=FINDING)


@pytest.mark.parametrize("model, near", [("gpt-4o", 40), ("gpt-4o", 8_000), ("claude-sonnet-4-5", 40),
                                         ("claude-sonnet-4-5", 1_000)])
@FIXED
@given(data=st.data())
def test_requests_land_just_under_the_target(model, near, data):
    body = data.draw(tbst.requests(model, near_tokens=near))
    tokens = count_request(body).input_tokens
    assert near - max(8, near // 50) <= tokens <= near
    CHECKS["anthropic" if model.startswith("claude") else "openai"](body["messages"])


def test_requests_say_when_the_target_is_too_small():
    @settings(database=None, max_examples=1)
    @given(tbst.requests("gpt-4o", near_tokens=3))
    def draws(body):
        pass

    with pytest.raises(ValueError, match=r"requests\(near_tokens=3\) is too small for gpt-4o"):
        draws()


# --- st.from_type -------------------------------------------------------------------------------


def test_from_type_draws_our_messages_for_the_sdk_types():
    from anthropic.types import MessageParam
    from openai.types.chat import ChatCompletionMessageParam, ChatCompletionUserMessageParam

    tbst.register_sdk_types()
    user = find(st.from_type(ChatCompletionUserMessageParam), lambda m: isinstance(m["content"], list))
    check_openai_history([user])
    roles = set()

    @settings(max_examples=300, derandomize=True, database=None, phases=[Phase.generate])
    @given(st.from_type(ChatCompletionMessageParam))
    def collect(message):
        roles.add(message["role"])

    collect()
    assert {"system", "user", "assistant", "tool", "developer"} <= roles
    check_anthropic_history([find(st.from_type(getattr(__import__("anthropic").types, "UserMessageParam", MessageParam)),
                                  lambda m: m["role"] == "user")])


def test_the_hypothesis_entry_point_names_the_registration():
    import importlib
    from pathlib import Path

    from pytest_tokenbudget._config import read_toml

    pyproject = read_toml(Path(__file__).parents[2] / "pyproject.toml")
    target = pyproject["project"]["entry-points"]["hypothesis"]["tokenbudget"]
    module, _, name = target.partition(":")
    assert callable(getattr(importlib.import_module(module), name))


def test_from_type_works_in_a_test_that_imports_nothing_of_ours(pytester):
    # The plugin registers the SDK types once the tests are collected, for an SDK imported
    # after Hypothesis (the venv's metadata may come from another checkout, without our
    # hypothesis entry point: this is the plugin's registration alone).
    pytester.makepyfile(test_sdk_types="""
        from hypothesis import given, settings, strategies as st
        from openai.types.chat import ChatCompletionMessageParam

        @settings(max_examples=20, deadline=None, database=None)
        @given(st.from_type(ChatCompletionMessageParam))
        def test_realistic(message):
            assert message["role"] in ("system", "user", "assistant", "tool", "developer", "function")
            if message["role"] == "tool":
                assert message["tool_call_id"].startswith("call_")
    """)
    # A fresh process: this one has registered the types already. Without the plugins this test
    # has no use for, it starts in two thirds of the time.
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:asyncio",
                                  "-p", "no:recording").assert_outcomes(passed=1)
