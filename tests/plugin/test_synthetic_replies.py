"""The common synthetic replies are assembled from parts serialised once: the bytes must be exactly
what json.dumps gives for the whole payload, whatever the model name or reply text holds."""

from __future__ import annotations

import json

import pytest

from pytest_tokenbudget import _synthetic
from pytest_tokenbudget._synthetic import DEFAULT_REPLY_TEXT, ScriptedReply

# Quotes, backslashes, control characters and non-ASCII text must come out escaped as json.dumps escapes them.
TEXTS = [DEFAULT_REPLY_TEXT, 'She said "hi"\\n\tand left', "Zürich 東京 \u2028 😀", "", None]
MODELS = ["gpt-4o-mini", 'odd "model"\\name', "claude-haiku-4-5"]


def _payload(content: bytes) -> dict:
    payload = json.loads(content)
    # json.dumps with its default settings, keys in the order written: what the generic path sends.
    assert json.dumps(payload).encode() == content
    return payload


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("choices", [1, 3])
def test_chat_completion_bytes(model: str, text: str | None, choices: int) -> None:
    body = {"model": model, "messages": [], "n": choices}
    result = _synthetic.synthetic_response("openai.chat", body, reply=ScriptedReply(text=text),
                                           input_tokens=41, output_tokens=7)
    payload = _payload(result.content)
    assert (result.status, result.content_type) == (200, "application/json")
    assert payload["id"].startswith("chatcmpl-tokenbudget-") and isinstance(payload["created"], int)
    message = {"role": "assistant", "content": text, "refusal": None}
    assert payload == {
        "id": payload["id"], "object": "chat.completion", "created": payload["created"], "model": model,
        "choices": [{"index": i, "message": message, "finish_reason": "stop", "logprobs": None} for i in range(choices)],
        "usage": {"prompt_tokens": 41, "completion_tokens": 7, "total_tokens": 48},
        "system_fingerprint": "tokenbudget",
    }


@pytest.mark.parametrize("text", TEXTS)
@pytest.mark.parametrize("model", MODELS)
def test_claude_message_bytes(model: str, text: str | None) -> None:
    body = {"model": model, "messages": []}
    result = _synthetic.synthetic_response("anthropic.messages", body, reply=ScriptedReply(text=text),
                                           input_tokens=12, output_tokens=3)
    payload = _payload(result.content)
    assert payload["id"].startswith("msg_tokenbudget")
    assert payload == {
        "id": payload["id"], "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": text}] if text is not None else [],
        "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 3, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
    }


def test_each_reply_has_its_own_id() -> None:
    body = {"model": "gpt-4o-mini", "messages": []}
    reply = ScriptedReply(text=DEFAULT_REPLY_TEXT)
    ids = {json.loads(_synthetic.synthetic_response(api, body, reply=reply, input_tokens=1, output_tokens=1).content)["id"]
           for api in ("openai.chat", "anthropic.messages") for _ in range(3)}
    assert len(ids) == 6


def test_tool_calls_and_streams_still_take_the_full_builder() -> None:
    body = {"model": "claude-haiku-4-5", "messages": []}
    reply = ScriptedReply(text="on it", tool_calls=(_synthetic.ToolCall("lookup", {"order": "A-1"}),))
    payload = _payload(_synthetic.synthetic_response("anthropic.messages", body, reply=reply,
                                                     input_tokens=5, output_tokens=9).content)
    assert payload["stop_reason"] == "tool_use"
    assert payload["content"][1] == {"type": "tool_use", "id": payload["content"][1]["id"], "name": "lookup",
                                     "input": {"order": "A-1"}}
    streamed = _synthetic.synthetic_response("openai.chat", {**body, "stream": True}, reply=ScriptedReply(text="hi"),
                                             input_tokens=5, output_tokens=1)
    assert streamed.content_type == "text/event-stream" and streamed.content.endswith(b"data: [DONE]\n\n")
