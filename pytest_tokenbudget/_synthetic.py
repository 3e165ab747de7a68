"""Locally made responses in the exact shapes the OpenAI and Anthropic APIs return.

They let the code under test carry on (parse the reply, run its tool loop)
without a byte leaving the machine. Usage fields carry the input tokens the
plugin counted, so code that logs usage sees realistic numbers.
"""

from __future__ import annotations

import base64
import functools
import itertools
import json
import struct
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ScriptedReply", "ToolCall", "error_response", "synthetic_response", "DEFAULT_REPLY_TEXT"]

DEFAULT_REPLY_TEXT = "This is a synthetic reply from pytest-tokenbudget."

# Embedding widths of OpenAI's models when the request does not pass ``dimensions``.
# Code that stores vectors checks their length, so the width has to be right.
_EMBEDDING_WIDTHS = {"text-embedding-3-large": 3072}
_DEFAULT_EMBEDDING_WIDTH = 1536

_ids = itertools.count(1)


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ScriptedReply:
    """What the synthetic model answers: text, tool calls, or both."""

    text: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True)
class SyntheticResult:
    status: int
    content: bytes
    content_type: str


def synthetic_response(
    api: str,
    body: Mapping[str, Any],
    *,
    reply: ScriptedReply,
    input_tokens: int,
    output_tokens: int,
) -> SyntheticResult:
    model = str(body.get("model") or "unknown-model")
    stream = bool(body.get("stream"))
    if api == "openai.chat":
        return _openai_chat(body, model, reply, input_tokens, output_tokens, stream)
    if api == "openai.responses":
        return _openai_responses(model, reply, input_tokens, output_tokens, stream)
    if api == "openai.completions":
        return _openai_completions(body, model, reply, input_tokens, output_tokens, stream)
    if api == "openai.embeddings":
        return _openai_embeddings(body, model, input_tokens)
    if api == "anthropic.messages":
        return _anthropic_messages(model, reply, input_tokens, output_tokens, stream)
    if api == "anthropic.count_tokens":
        return _json({"input_tokens": input_tokens})
    if api == "openai.input_tokens":
        return _json({"object": "response.input_tokens", "input_tokens": input_tokens})
    raise ValueError(f"no synthetic response for api {api!r}")


def error_response(api: str, status: int, message: str, *, code: str = "tokenbudget_refused") -> SyntheticResult:
    """An API error in the provider's own shape, so the SDK raises its usual exception.

    4xx statuses are used on purpose: the SDKs do not retry them, so a refused
    request is not re-sent (and re-counted) by the SDK's retry loop.
    """
    if api.startswith("anthropic"):
        payload: dict[str, Any] = {"type": "error", "error": {"type": "invalid_request_error", "message": message}}
    else:
        payload = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}
    return SyntheticResult(status, json.dumps(payload).encode(), "application/json")


# --- OpenAI chat completions --------------------------------------------------


def _openai_chat(body: Mapping[str, Any], model: str, reply: ScriptedReply, n_in: int, n_out: int, stream: bool) -> SyntheticResult:
    choices = max(1, int(body.get("n") or 1))
    if not stream and not reply.tool_calls:
        return _plain_chat(model, reply.text, choices, n_in, n_out)
    ident = f"chatcmpl-tokenbudget-{next(_ids)}"
    created = int(time.time())
    calls = [
        {"id": f"call_tokenbudget_{next(_ids)}", "type": "function",
         "function": {"name": call.name, "arguments": json.dumps(dict(call.arguments))}}
        for call in reply.tool_calls
    ]
    finish = "tool_calls" if calls else "stop"
    usage = {"prompt_tokens": n_in, "completion_tokens": n_out, "total_tokens": n_in + n_out}
    if not stream:
        message: dict[str, Any] = {"role": "assistant", "content": reply.text, "refusal": None}
        if calls:
            message["tool_calls"] = calls
        return _json({
            "id": ident, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": i, "message": message, "finish_reason": finish, "logprobs": None} for i in range(choices)],
            "usage": usage, "system_fingerprint": "tokenbudget",
        })

    def chunk(choice_list: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
                "system_fingerprint": "tokenbudget", "choices": choice_list, **extra}

    events: list[Any] = []
    for i in range(choices):
        events.append(chunk([{"index": i, "delta": {"role": "assistant", "content": ""}, "finish_reason": None, "logprobs": None}]))
        if reply.text:
            events.append(chunk([{"index": i, "delta": {"content": reply.text}, "finish_reason": None, "logprobs": None}]))
        for position, call in enumerate(calls):
            events.append(chunk([{"index": i, "finish_reason": None, "logprobs": None, "delta": {"tool_calls": [
                {"index": position, "id": call["id"], "type": "function",
                 "function": {"name": call["function"]["name"], "arguments": call["function"]["arguments"]}}]}}]))
        events.append(chunk([{"index": i, "delta": {}, "finish_reason": finish, "logprobs": None}]))
    stream_options = body.get("stream_options") or {}
    if isinstance(stream_options, Mapping) and stream_options.get("include_usage"):
        events.append(chunk([], usage=usage))
    return _sse((None, event) for event in events)._with_done()


# --- OpenAI responses ---------------------------------------------------------------


def _openai_responses(model: str, reply: ScriptedReply, n_in: int, n_out: int, stream: bool) -> SyntheticResult:
    ident = f"resp_tokenbudget{next(_ids)}"
    created = int(time.time())
    output: list[dict[str, Any]] = []
    if reply.text is not None:
        output.append({
            "type": "message", "id": f"msg_tokenbudget{next(_ids)}", "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": reply.text, "annotations": [], "logprobs": []}],
        })
    for call in reply.tool_calls:
        output.append({
            "type": "function_call", "id": f"fc_tokenbudget{next(_ids)}", "call_id": f"call_tokenbudget{next(_ids)}",
            "name": call.name, "arguments": json.dumps(dict(call.arguments)), "status": "completed",
        })

    def response_object(status: str, items: list[dict[str, Any]], usage: dict[str, Any] | None) -> dict[str, Any]:
        return {
            "id": ident, "object": "response", "created_at": created, "status": status, "model": model,
            "output": items, "error": None, "incomplete_details": None, "instructions": None, "metadata": {},
            "parallel_tool_calls": True, "temperature": 1.0, "top_p": 1.0, "tool_choice": "auto", "tools": [],
            "text": {"format": {"type": "text"}}, "usage": usage,
        }

    usage = {
        "input_tokens": n_in, "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": n_out, "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": n_in + n_out,
    }
    if not stream:
        return _json(response_object("completed", output, usage))

    sequence = itertools.count()
    events: list[tuple[str, dict[str, Any]]] = []

    def emit(kind: str, **payload: Any) -> None:
        events.append((kind, {"type": kind, "sequence_number": next(sequence), **payload}))

    emit("response.created", response=response_object("in_progress", [], None))
    emit("response.in_progress", response=response_object("in_progress", [], None))
    for index, item in enumerate(output):
        if item["type"] == "message":
            text = item["content"][0]["text"]
            emit("response.output_item.added", output_index=index,
                 item={**item, "status": "in_progress", "content": []})
            emit("response.content_part.added", output_index=index, item_id=item["id"], content_index=0,
                 part={"type": "output_text", "text": "", "annotations": [], "logprobs": []})
            emit("response.output_text.delta", output_index=index, item_id=item["id"], content_index=0, delta=text, logprobs=[])
            emit("response.output_text.done", output_index=index, item_id=item["id"], content_index=0, text=text, logprobs=[])
            emit("response.content_part.done", output_index=index, item_id=item["id"], content_index=0,
                 part=item["content"][0])
        else:
            emit("response.output_item.added", output_index=index,
                 item={**item, "status": "in_progress", "arguments": ""})
            emit("response.function_call_arguments.delta", output_index=index, item_id=item["id"], delta=item["arguments"])
            emit("response.function_call_arguments.done", output_index=index, item_id=item["id"],
                 arguments=item["arguments"], name=item["name"])
        emit("response.output_item.done", output_index=index, item=item)
    emit("response.completed", response=response_object("completed", output, usage))
    return _sse(events)


# --- OpenAI legacy completions ---------------------------------------------------------


def _openai_completions(body: Mapping[str, Any], model: str, reply: ScriptedReply, n_in: int, n_out: int, stream: bool) -> SyntheticResult:
    ident = f"cmpl-tokenbudget-{next(_ids)}"
    created = int(time.time())
    prompts = body.get("prompt")
    count = len(prompts) if isinstance(prompts, list) and prompts and not isinstance(prompts[0], int) else 1
    choices = count * max(1, int(body.get("n") or 1))
    text = reply.text or ""
    usage = {"prompt_tokens": n_in, "completion_tokens": n_out, "total_tokens": n_in + n_out}
    if not stream:
        return _json({
            "id": ident, "object": "text_completion", "created": created, "model": model,
            "choices": [{"text": text, "index": i, "logprobs": None, "finish_reason": "stop"} for i in range(choices)],
            "usage": usage,
        })
    events = []
    for i in range(choices):
        events.append({"id": ident, "object": "text_completion", "created": created, "model": model,
                       "choices": [{"text": text, "index": i, "logprobs": None, "finish_reason": None}]})
        events.append({"id": ident, "object": "text_completion", "created": created, "model": model,
                       "choices": [{"text": "", "index": i, "logprobs": None, "finish_reason": "stop"}]})
    stream_options = body.get("stream_options") or {}
    if isinstance(stream_options, Mapping) and stream_options.get("include_usage"):
        events.append({"id": ident, "object": "text_completion", "created": created, "model": model,
                       "choices": [], "usage": usage})
    return _sse((None, event) for event in events)._with_done()


# --- OpenAI embeddings --------------------------------------------------------------


def _openai_embeddings(body: Mapping[str, Any], model: str, n_in: int) -> SyntheticResult:
    inputs = body.get("input")
    if isinstance(inputs, list) and inputs and not isinstance(inputs[0], int):
        count = len(inputs)  # a batch: strings or token arrays
    else:
        count = 1
    width = body.get("dimensions") or _EMBEDDING_WIDTHS.get(model, _DEFAULT_EMBEDDING_WIDTH)
    width = int(width)
    # A unit vector: cosine similarity code must not divide by zero.
    vector = [1.0] + [0.0] * (width - 1)
    as_base64 = body.get("encoding_format") == "base64"
    packed = base64.b64encode(struct.pack(f"<{width}f", *vector)).decode() if as_base64 else None
    data = [{"object": "embedding", "index": i, "embedding": packed if as_base64 else vector} for i in range(count)]
    return _json({"object": "list", "data": data, "model": model,
                  "usage": {"prompt_tokens": n_in, "total_tokens": n_in}})


# --- Anthropic messages -----------------------------------------------------------------


def _anthropic_messages(model: str, reply: ScriptedReply, n_in: int, n_out: int, stream: bool) -> SyntheticResult:
    if not stream and not reply.tool_calls:
        return _plain_message(model, reply.text, n_in, n_out)
    ident = f"msg_tokenbudget{next(_ids)}"
    blocks: list[dict[str, Any]] = []
    if reply.text is not None:
        blocks.append({"type": "text", "text": reply.text})
    for call in reply.tool_calls:
        blocks.append({"type": "tool_use", "id": f"toolu_tokenbudget{next(_ids)}", "name": call.name, "input": dict(call.arguments)})
    stop_reason = "tool_use" if reply.tool_calls else "end_turn"
    usage = {"input_tokens": n_in, "output_tokens": n_out, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
    message = {"id": ident, "type": "message", "role": "assistant", "model": model, "content": blocks,
               "stop_reason": stop_reason, "stop_sequence": None, "usage": usage}
    if not stream:
        return _json(message)
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": {
            **message, "content": [], "stop_reason": None, "usage": {**usage, "output_tokens": 1}}}),
    ]
    for index, block in enumerate(blocks):
        if block["type"] == "text":
            events.append(("content_block_start", {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}))
            events.append(("content_block_delta", {"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": block["text"]}}))
        else:
            events.append(("content_block_start", {"type": "content_block_start", "index": index, "content_block": {**block, "input": {}}}))
            events.append(("content_block_delta", {"type": "content_block_delta", "index": index,
                                                   "delta": {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}}))
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    events.append(("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                                     "usage": {"output_tokens": n_out}}))
    events.append(("message_stop", {"type": "message_stop"}))
    return _sse(events)


# --- the common replies, serialised once ------------------------------------------------
# Nearly every request a suite sends is answered with the same text (the default reply) by the same
# model: serialising that payload anew cost more than the rest of answering. The parts that never
# change for a (model, text) are serialised once; the id, timestamp and usage are put in per
# request. The bytes are exactly what json.dumps gives for the full payload (tests compare them).


@functools.lru_cache(maxsize=256)
def _chat_frame(model: str, text: str | None, choices: int) -> tuple[bytes, bytes]:
    message = {"role": "assistant", "content": text, "refusal": None}
    listed = [{"index": i, "message": message, "finish_reason": "stop", "logprobs": None} for i in range(choices)]
    return (b', "object": "chat.completion", "created": ',
            f', "model": {json.dumps(model)}, "choices": {json.dumps(listed)}, "usage": '.encode())


def _plain_chat(model: str, text: str | None, choices: int, n_in: int, n_out: int) -> SyntheticResult:
    """A non-streamed chat completion without tool calls: json.dumps of the payload _openai_chat builds."""
    after_id, after_created = _chat_frame(model, text, choices)
    usage = f'{{"prompt_tokens": {n_in}, "completion_tokens": {n_out}, "total_tokens": {n_in + n_out}}}'
    content = b"".join((b'{"id": "chatcmpl-tokenbudget-', str(next(_ids)).encode(), b'"', after_id,
                        str(int(time.time())).encode(), after_created, usage.encode(),
                        b', "system_fingerprint": "tokenbudget"}'))
    return SyntheticResult(200, content, "application/json")


@functools.lru_cache(maxsize=256)
def _message_frame(model: str, text: str | None) -> bytes:
    blocks = [{"type": "text", "text": text}] if text is not None else []
    return (f', "type": "message", "role": "assistant", "model": {json.dumps(model)}, "content": {json.dumps(blocks)}, '
            '"stop_reason": "end_turn", "stop_sequence": null, "usage": ').encode()


def _plain_message(model: str, text: str | None, n_in: int, n_out: int) -> SyntheticResult:
    """A non-streamed Claude message without tool use: json.dumps of the payload _anthropic_messages builds."""
    usage = (f'{{"input_tokens": {n_in}, "output_tokens": {n_out}, "cache_creation_input_tokens": 0, '
             '"cache_read_input_tokens": 0}')
    content = b"".join((b'{"id": "msg_tokenbudget', str(next(_ids)).encode(), b'"', _message_frame(model, text),
                        usage.encode(), b"}"))
    return SyntheticResult(200, content, "application/json")


# --- encoding -------------------------------------------------------------------------


def _json(payload: Mapping[str, Any]) -> SyntheticResult:
    return SyntheticResult(200, json.dumps(payload).encode(), "application/json")


class _SSE(SyntheticResult):
    def _with_done(self) -> SyntheticResult:
        """OpenAI's chat and completions streams end with a literal ``[DONE]``."""
        return SyntheticResult(self.status, self.content + b"data: [DONE]\n\n", self.content_type)


def _sse(events: Iterator[tuple[str | None, Mapping[str, Any]]] | list[tuple[str | None, Mapping[str, Any]]]) -> _SSE:
    lines = []
    for name, data in events:
        if name is not None:
            lines.append(f"event: {name}\n")
        lines.append(f"data: {json.dumps(data)}\n\n")
    return _SSE(200, "".join(lines).encode(), "text/event-stream")
