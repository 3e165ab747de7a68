"""The guarded chat service against a local stand-in for the OpenAI API and a real redis-server:
long conversations are trimmed to fit, and a user who spent the hour's window is refused before
anything is sent. `redis_client` (a real redis-server on a loopback port) is in the repository's
root conftest.py."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import openai
import pytest

from guarded_chat import ChatService, guarded_client
from pytest_tokenbudget import RequestRefused, count_request


class LocalOpenAI(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        type(self).received.append(body)
        payload = json.dumps({"id": "c", "object": "chat.completion", "created": 0, "model": body["model"],
                              "choices": [{"index": 0, "finish_reason": "stop",
                                           "message": {"role": "assistant", "content": "It ships Thursday."}}],
                              "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def api():
    LocalOpenAI.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), LocalOpenAI)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", LocalOpenAI.received
    server.shutdown()
    server.server_close()


def test_long_conversations_are_trimmed_to_the_budget(api, redis_client):
    base_url, received = api
    client = guarded_client(openai.OpenAI(api_key="placeholder-key", base_url=base_url, max_retries=0),
                            redis_client, tokens_per_hour=1_000_000)
    service = ChatService(client)
    for n in range(40):
        assert service.reply("alice", f"Question {n} about my tent order: " + "details " * 60) == "It ships Thursday."
    sent = [count_request(body).input_tokens for body in received]
    assert len(sent) == 40 and max(sent) <= 3000
    assert len(received[-1]["messages"]) < 81  # the oldest turns were dropped


def test_a_user_over_the_hourly_window_is_refused_before_sending(api, redis_client):
    base_url, received = api
    client = guarded_client(openai.OpenAI(api_key="placeholder-key", base_url=base_url, max_retries=0),
                            redis_client, tokens_per_hour=1000)
    service = ChatService(client)
    # Each request is charged its prompt and its 300-token cap before it is sent; the answer uses
    # 1 token, so the rest of the cap comes back and bob gets many more than 1000 / 300 questions.
    answered = 0
    with pytest.raises(RequestRefused, match="window for 'bob'"):
        for n in range(100):
            service.reply("bob", f"And what about order {n}?")
            answered += 1
    assert answered > 3 and len(received) == answered  # the refused one was never sent
    service.reply("carol", "Hello")  # other users have their own window
    assert len(received) == answered + 1
