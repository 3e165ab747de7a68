"""--tokenbudget-live: requests within budget go through, oversized ones are refused before sending.

The "real API" here is a tiny OpenAI-shaped server on 127.0.0.1, so the test
can see exactly which requests arrived; nothing leaves the machine.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest

pytest.importorskip("openai")


class _FakeOpenAI(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        type(self).received.append({"path": self.path, "body": body, "auth": self.headers.get("authorization")})
        payload = json.dumps({
            "id": "chatcmpl-live", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "from the live server"}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def live_server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    _FakeOpenAI.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", _FakeOpenAI.received
    finally:
        server.shutdown()
        server.server_close()


def test_live_mode_sends_what_fits_and_refuses_what_does_not(inner: pytest.Pytester, live_server: Any) -> None:
    base_url, received = live_server
    inner.makepyfile(
        f"""
        import openai, pytest

        def client():
            return openai.OpenAI(api_key="sk-live-key", base_url="{base_url}", max_retries=0)

        @pytest.mark.token_budget(max_input_tokens=50, max_output_tokens=100, max_calls=2)
        def test_fits():
            reply = client().chat.completions.create(model="gpt-4o", max_tokens=10, messages=[{{"role": "user", "content": "small"}}])
            assert reply.choices[0].message.content == "from the live server"

        @pytest.mark.token_budget(max_input_tokens=50, max_output_tokens=100)
        def test_oversized():
            with pytest.raises(openai.BadRequestError, match="refused this request before sending it: prompt"):
                client().chat.completions.create(model="gpt-4o", max_tokens=10, messages=[{{"role": "user", "content": "big " * 200}}])

        @pytest.mark.token_budget(max_input_tokens=50, max_output_tokens=100, max_calls=1)
        def test_second_call_over_max_calls():
            c = client()
            c.chat.completions.create(model="gpt-4o", max_tokens=10, messages=[{{"role": "user", "content": "one"}}])
            with pytest.raises(openai.BadRequestError, match="2 calls > budget 1"):
                c.chat.completions.create(model="gpt-4o", max_tokens=10, messages=[{{"role": "user", "content": "two"}}])
        """
    )
    result = inner.runpytest("-p", "no:cacheprovider", "--tokenbudget-live")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["*REFUSED before sending*", "*(live mode: requests that broke the budget were refused before sending)*"])
    # only the two requests within budget reached the server; the oversized ones never did
    assert [r["body"]["messages"][0]["content"] for r in received] == ["small", "one"]
    assert all(r["auth"] == "Bearer sk-live-key" for r in received)  # passed through untouched


def test_default_mode_lets_a_local_llm_server_answer_and_still_judges(inner: pytest.Pytester, live_server: Any) -> None:
    # A loopback server is the test's own double: it answers, the plugin only counts and judges.
    base_url, received = live_server
    inner.makepyfile(
        f"""
        import openai, pytest

        def ask(content):
            c = openai.OpenAI(api_key="k", base_url="{base_url}", max_retries=0)
            return c.chat.completions.create(model="gpt-4o", max_tokens=10, messages=[{{"role": "user", "content": content}}])

        @pytest.mark.token_budget(max_input_tokens=50)
        def test_local():
            assert ask("hi").choices[0].message.content == "from the live server"

        @pytest.mark.token_budget(max_input_tokens=50)
        def test_local_oversized():
            assert ask("hi " * 200).choices[0].message.content == "from the live server"
        """
    )
    result = inner.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["TOKEN BUDGET *::test_local_oversized*"])
    assert len(received) == 2
