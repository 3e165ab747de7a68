"""Doubles at the transport and pool level answer, the plugin only what would leave the machine: a replaced
transport method (also one made with functools.wraps, as vcrpy's cassette stubs are), a patched pool (also
one that copies our wrapper's attributes), a loopback server; an instrumentation wrapped around the stock
method sees the plugin's reply; every request is observed once."""

from __future__ import annotations

import asyncio
import functools
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


def install_over(replacement: Any, monkeypatch: pytest.MonkeyPatch, method: str = "handle_request",
                 transport: Any = None) -> _capture.TestCapture:
    """A budgeted capture installed over ``replacement``, put on the stock transport before the plugin patched."""
    _intercept.release()  # start from unpatched classes, as a suite whose double patched first
    monkeypatch.setattr(transport or http.HTTPTransport, method, replacement)
    registry = Registry.load()
    spec = spec_from_sources([("test", {"max_input_tokens": 1000}, ())])
    handler = _capture.TestCapture("t", spec, live=False, base_urls=(), registry_loader=lambda: registry)
    _intercept.install(handler)
    return handler


# vcrpy's cassette stubs are made with functools.wraps(the stock method): the same name and module.
@pytest.mark.parametrize("made_with", ["a plain function", "functools.wraps"])
def test_a_transport_method_replaced_before_the_plugin_answers(monkeypatch, made_with) -> None:
    def replaced(self: Any, request: Any) -> Any:
        request.read()
        return http.Response(200, json=FROM_SERVER, request=request)

    if made_with == "functools.wraps":
        replaced = functools.wraps(http.HTTPTransport.handle_request)(replaced)
    handler = install_over(replaced, monkeypatch)
    try:
        assert http.HTTPTransport.__dict__["handle_request"] is replaced
        with http.Client() as client:
            response = client.post("https://api.openai.com/v1/chat/completions", json=CHAT)
    finally:
        _intercept.uninstall(handler)
    assert response.json()["choices"][0]["message"]["content"] == "served"
    assert [r.answered_by for r in handler.requests] == [_capture.ANSWERED_BY_DOUBLE]


def test_an_async_double_that_looks_like_the_stock_method_still_answers(monkeypatch) -> None:
    stock = http.AsyncHTTPTransport.handle_async_request

    @functools.wraps(stock)
    async def replaying(self: Any, request: Any) -> Any:
        await request.aread()
        return http.Response(200, json=FROM_SERVER, request=request)

    handler = install_over(replaying, monkeypatch, "handle_async_request", http.AsyncHTTPTransport)

    async def send() -> Any:
        async with http.AsyncClient() as client:
            return await client.post("https://api.openai.com/v1/chat/completions", json=CHAT)

    try:
        response = asyncio.run(send())
    finally:
        _intercept.uninstall(handler)
    assert response.json()["choices"][0]["message"]["content"] == "served"
    assert [r.answered_by for r in handler.requests] == [_capture.ANSWERED_BY_DOUBLE]


def test_an_instrumentation_wrapped_around_the_stock_method_sees_the_synthetic_reply(monkeypatch) -> None:
    # OpenTelemetry's httpx instrumentation (logfire.instrument_httpx) wraps the method with wrapt,
    # whose wrapper reports the stock method's name and module.
    wrapt = pytest.importorskip("wrapt")
    seen: list[int] = []

    def tracing(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        response = wrapped(*args, **kwargs)
        seen.append(response.status_code)
        return response

    traced = wrapt.FunctionWrapper(http.HTTPTransport.__dict__["handle_request"], tracing)
    handler = install_over(traced, monkeypatch)
    try:
        with http.Client() as client:
            response = client.post("https://api.openai.com/v1/chat/completions", json=CHAT)
    finally:
        _intercept.uninstall(handler)
    assert seen == [200]
    assert response.json()["choices"][0]["message"]["content"] == "This is a synthetic reply from pytest-tokenbudget."
    assert [r.answered_by for r in handler.requests] == [_capture.ANSWERED_BY_PLUGIN]


@pytest.mark.parametrize("made_with", ["functools.wraps", "wrapt"])
def test_a_pool_double_that_looks_like_our_answer_point_still_answers(capture, monkeypatch, made_with) -> None:
    ours = httpcore.ConnectionPool.__dict__["handle_request"]

    def canned(request: Any) -> Any:
        body = json.dumps(FROM_SERVER).encode()
        return httpcore.Response(200, headers=[(b"content-type", b"application/json")], content=body)

    if made_with == "wrapt":
        wrapt = pytest.importorskip("wrapt")
        double = wrapt.FunctionWrapper(ours, lambda wrapped, instance, args, kwargs: canned(args[0]))
    else:
        double = functools.wraps(ours)(lambda self, request: canned(request))
    monkeypatch.setattr(httpcore.ConnectionPool, "handle_request", double)
    with http.Client() as client:
        response = client.post("https://api.openai.com/v1/chat/completions", json=CHAT)
    assert response.json()["choices"][0]["message"]["content"] == "served"
    assert [r.answered_by for r in capture.requests] == [_capture.ANSWERED_BY_DOUBLE]
