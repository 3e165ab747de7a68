"""The stock transports ask the answer point directly when their pool would: the same answers, each request
observed once, and every double that sits between (a replaced transport method, a patched pool) still answers."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest

from pytest_tokenbudget import Registry, _capture, _intercept
from pytest_tokenbudget._marker import spec_from_sources

http = pytest.importorskip("httpx2")
httpcore = pytest.importorskip("httpcore2")

CHAT = {"model": "gpt-4o-mini", "max_tokens": 5, "messages": [{"role": "user", "content": "Where is my order?"}]}
FROM_SERVER = {"id": "s", "object": "chat.completion", "created": 0, "model": "gpt-4o-mini",
               "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "served"}}],
               "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}


@pytest.fixture
def capture() -> Iterator[_capture.TestCapture]:
    registry = Registry.load()
    spec = spec_from_sources([("test", {"max_input_tokens": 1000}, ())])
    handler = _capture.TestCapture("t", spec, live=False, base_urls=(), registry_loader=lambda: registry)
    _intercept.install(handler)
    try:
        yield handler
    finally:
        _intercept.uninstall(handler)


@pytest.fixture
def local_server() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            self.rfile.read(int(self.headers["content-length"]))
            body = json.dumps(FROM_SERVER).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def count_httpcore_requests(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    made: list[Any] = []
    original = httpcore.Request.__init__

    def counting(self: Any, *args: Any, **kwargs: Any) -> None:
        made.append(args)
        original(self, *args, **kwargs)

    monkeypatch.setattr(httpcore.Request, "__init__", counting)
    return made


def test_an_answered_request_skips_the_httpcore_round_trip(capture, monkeypatch) -> None:
    made = count_httpcore_requests(monkeypatch)
    with http.Client() as client:
        response = client.post("https://api.openai.com/v1/chat/completions", json=CHAT)
    assert made == []
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert int(response.headers["content-length"]) == len(response.content)
    assert response.json()["choices"][0]["message"]["content"] == "This is a synthetic reply from pytest-tokenbudget."
    [request] = capture.requests
    assert request.answered_by == _capture.ANSWERED_BY_PLUGIN
    assert request.url == "https://api.openai.com/v1/chat/completions"


def test_async_requests_take_the_shortcut_too(capture, monkeypatch) -> None:
    made = count_httpcore_requests(monkeypatch)

    async def send() -> Any:
        async with http.AsyncClient() as client:
            return await client.post("https://api.openai.com/v1/chat/completions", json=CHAT)

    response = asyncio.run(send())
    assert made == [] and response.json()["object"] == "chat.completion"
    assert [r.answered_by for r in capture.requests] == [_capture.ANSWERED_BY_PLUGIN]


def test_a_local_server_answers_and_its_request_is_observed_once(capture, local_server) -> None:
    with http.Client() as client:
        response = client.post(f"{local_server}/v1/chat/completions", json=CHAT)
    assert response.json()["choices"][0]["message"]["content"] == "served"
    [request] = capture.requests
    assert request.answered_by == _capture.ANSWERED_BY_LOCAL_SERVER


def test_a_refused_request_raises_the_transports_own_connect_error(capture) -> None:
    with http.Client() as client, pytest.raises(http.ConnectError, match="only LLM API requests"):
        client.get("https://example.com/data")
    assert capture.blocked == ["GET https://example.com/data"]


def test_a_pool_patched_over_ours_answers(capture, monkeypatch) -> None:
    def double(self: Any, request: Any) -> Any:
        body = json.dumps(FROM_SERVER).encode()
        return httpcore.Response(200, headers=[(b"content-type", b"application/json")], content=body)

    monkeypatch.setattr(httpcore.ConnectionPool, "handle_request", double)
    with http.Client() as client:
        response = client.post("https://api.openai.com/v1/chat/completions", json=CHAT)
    assert response.json()["choices"][0]["message"]["content"] == "served"
    [request] = capture.requests
    assert request.answered_by == _capture.ANSWERED_BY_DOUBLE


def test_a_transport_method_replaced_before_the_plugin_is_not_wrapped(monkeypatch) -> None:
    def replaced(self: Any, request: Any) -> Any:
        request.read()
        return http.Response(200, json=FROM_SERVER, request=request)

    _intercept.release()  # start from unpatched classes, as a suite whose double patched first
    monkeypatch.setattr(http.HTTPTransport, "handle_request", replaced)
    registry = Registry.load()
    handler = _capture.TestCapture("t", None, live=False, base_urls=(), registry_loader=lambda: registry)
    _intercept.install(handler)
    try:
        assert http.HTTPTransport.__dict__["handle_request"] is replaced
        with http.Client() as client:
            response = client.post("https://api.openai.com/v1/chat/completions", json=CHAT)
    finally:
        _intercept.uninstall(handler)
    assert response.json()["choices"][0]["message"]["content"] == "served"
    assert [r.answered_by for r in handler.requests] == [_capture.ANSWERED_BY_DOUBLE]
