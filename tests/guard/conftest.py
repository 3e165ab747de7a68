"""A fake OpenAI/Anthropic server on 127.0.0.1 that records what reaches it (redis-server: the root conftest)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest


def _openai_reply(body: dict[str, Any]) -> tuple[str, bytes]:
    usage = {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14}
    if body.get("stream"):
        chunks = [{"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": body["model"],
                   "choices": [{"index": 0, "delta": {"role": "assistant", "content": "hi"}, "finish_reason": None}]},
                  {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": body["model"],
                   "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
                  {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": body["model"],
                   "choices": [], "usage": usage}]
        if not (body.get("stream_options") or {}).get("include_usage"):
            chunks.pop()  # like OpenAI: a stream reports usage only when asked to
        return "text/event-stream", b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"
    return "application/json", json.dumps({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": body["model"],
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "hello"}}],
        "usage": usage}).encode()


def _anthropic_reply(body: dict[str, Any]) -> tuple[str, bytes]:
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": body["model"],
               "content": [{"type": "text", "text": "hello"}], "stop_reason": "end_turn", "stop_sequence": None,
               "usage": {"input_tokens": 12, "output_tokens": 4}}
    if body.get("stream"):
        events = [("message_start", {"type": "message_start", "message": {**message, "content": [], "usage": {"input_tokens": 12, "output_tokens": 1}}}),
                  ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
                  ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "hello"}}),
                  ("content_block_stop", {"type": "content_block_stop", "index": 0}),
                  ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": 4}}),
                  ("message_stop", {"type": "message_stop"})]
        return "text/event-stream", b"".join(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode() for name, data in events)
    return "application/json", json.dumps(message).encode()


SERVER_ERROR_USER = "answer-with-500"


class FakeProvider(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        type(self).received.append({"path": self.path, "body": body})
        kind, payload = (_anthropic_reply if self.path.endswith("/messages") else _openai_reply)(body)
        status = 200
        if body.get("user") == SERVER_ERROR_USER:  # an overloaded provider: an error, no usage
            status, kind, payload = 500, "application/json", b'{"error": {"message": "overloaded", "type": "server_error"}}'
        self.send_response(status)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def fake_provider() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(base URL, the requests that reached the server)."""
    FakeProvider.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeProvider)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", FakeProvider.received
    finally:
        server.shutdown()
        server.server_close()
