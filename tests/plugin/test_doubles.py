"""Test doubles answer, the plugin counts: mocks, cassettes, custom transports and local servers.

Every scenario runs a ~3,600-token prompt under ``max_input_tokens=1000`` and
a small one: the small test passes only if the app saw the double's reply
("from the double"), the big one must fail with a TOKEN BUDGET failure and
nothing else. ``DOUBLES_CONFTEST`` is the inner conftest (canned replies, a
loopback fake server, ``HTTP`` = the httpx flavour the installed SDKs use);
``verdicts`` reads an in-process pytester run back as one word per test.
"""

from __future__ import annotations

import importlib
from typing import Any

import pytest


def sdk_http_flavour() -> str:
    """``httpx2`` or ``httpx``: what the installed openai SDK builds its clients on."""
    import openai

    for cls in openai.DefaultHttpxClient.__mro__:
        top = cls.__module__.partition(".")[0]
        if top in ("httpx", "httpx2"):
            return top
    raise AssertionError("openai.DefaultHttpxClient is not an httpx client")


def require(module: str, reason: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        pytest.skip(f"{module} is not installed ({reason})")


DOUBLES_CONFTEST = '''
import importlib, json, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import openai, pytest

HTTP = next(importlib.import_module(c.__module__.partition(".")[0]) for c in openai.DefaultHttpxClient.__mro__
            if c.__module__.partition(".")[0] in ("httpx", "httpx2"))
SAID = "from the double"
BIG = "please summarise this order history " * 600   # about 3,600 tokens
CHAT = {"id": "chatcmpl-double", "object": "chat.completion", "created": 0, "model": "gpt-4o",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": SAID}}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
MESSAGE = {"id": "msg_double", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
           "content": [{"type": "text", "text": SAID}], "stop_reason": "end_turn", "stop_sequence": None,
           "usage": {"input_tokens": 1, "output_tokens": 1}}


def chat_stream():
    chunk = {"id": "chatcmpl-double", "object": "chat.completion.chunk", "created": 0, "model": "gpt-4o"}
    events = [dict(chunk, choices=[{"index": 0, "delta": {"role": "assistant", "content": SAID}, "finish_reason": None}]),
              dict(chunk, choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}])]
    return "".join(f"data: {json.dumps(e)}\\n\\n" for e in events).encode() + b"data: [DONE]\\n\\n"


def message_stream():
    start = dict(MESSAGE, content=[], stop_reason=None)
    events = [("message_start", {"type": "message_start", "message": start}),
              ("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
              ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": SAID}}),
              ("content_block_stop", {"type": "content_block_stop", "index": 0}),
              ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                                 "usage": {"output_tokens": 1}}),
              ("message_stop", {"type": "message_stop"})]
    return "".join(f"event: {kind}\\ndata: {json.dumps(e)}\\n\\n" for kind, e in events).encode()


def canned(path, body):
    """(content type, bytes) of the double's reply to an LLM request."""
    stream = bool(json.loads(body or b"{}").get("stream"))
    if path.endswith("/messages"):
        return ("text/event-stream", message_stream()) if stream else ("application/json", json.dumps(MESSAGE).encode())
    return ("text/event-stream", chat_stream()) if stream else ("application/json", json.dumps(CHAT).encode())


def mock_handler(request):
    content_type, content = canned(request.url.path, request.read())
    return HTTP.Response(200, headers={"content-type": content_type}, content=content)


class _Server(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["content-length"]))
        content_type, content = canned(self.path, body)
        self.send_response(200)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
'''


def verdicts(result: pytest.RunResult) -> dict[str, str]:
    """Each inner test's outcome: "passed", "budget" (failed by the budget alone) or "failed: <why>"."""
    found: dict[str, str] = {}
    for report in result.reprec.getreports("pytest_runtest_logreport"):  # type: ignore[attr-defined]
        name = report.nodeid.rpartition("::")[2]
        if report.when == "call" and report.passed:
            found[name] = "passed"
        elif report.failed:
            text = report.longreprtext
            own_failure = any(line.startswith("E   ") for line in text.splitlines())  # a traceback, not our report
            if report.when == "call" and getattr(report, "tokenbudget_headline", None) and not own_failure:
                found[name] = "budget"
            else:
                found[name] = f"failed ({report.when}): {text[-1500:]}"
        elif report.skipped and report.when in ("setup", "call"):
            found[name] = "skipped"
    return found


def run(inner: pytest.Pytester, source: str, *args: str) -> tuple[pytest.RunResult, dict[str, str]]:
    inner.makeconftest(DOUBLES_CONFTEST)
    inner.makepyfile(source)
    result = inner.runpytest("-p", "no:cacheprovider", *args)
    return result, verdicts(result)


def fits_and_over(verdict: dict[str, str], *names: str) -> None:
    """Tests named ``*_fits`` passed, ``*_over`` failed by their budget alone."""
    expected = {name: "passed" if name.endswith("_fits") else "budget" for name in names}
    assert verdict == expected


def test_transport_doubles_answer_and_the_budget_still_judges(inner: pytest.Pytester) -> None:
    result, verdict = run(inner, """
        import asyncio, anthropic, openai, pytest
        from conftest import BIG, HTTP, SAID, mock_handler

        class CannedTransport(HTTP.BaseTransport):  # a hand-written double: never calls down to the network
            def handle_request(self, request):
                return mock_handler(request)

        def openai_client(transport):
            return openai.OpenAI(api_key="k", max_retries=0, http_client=openai.DefaultHttpxClient(transport=transport))

        def ask_openai(transport, content, stream=False):
            c = openai_client(transport)
            kwargs = dict(model="gpt-4o", max_tokens=10, messages=[{"role": "user", "content": content}])
            if stream:
                return "".join(chunk.choices[0].delta.content or "" for chunk in c.chat.completions.create(stream=True, **kwargs))
            return c.chat.completions.create(**kwargs).choices[0].message.content

        def ask_anthropic(transport, content):
            c = anthropic.Anthropic(api_key="k", max_retries=0, http_client=anthropic.DefaultHttpxClient(transport=transport))
            return c.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=[{"role": "user", "content": content}]).content[0].text

        async def ask_async(content):
            transport = HTTP.MockTransport(mock_handler)
            async with openai.AsyncOpenAI(api_key="k", max_retries=0,
                                          http_client=openai.DefaultAsyncHttpxClient(transport=transport)) as c:
                r = await c.chat.completions.create(model="gpt-4o", max_tokens=10, messages=[{"role": "user", "content": content}])
            async with anthropic.AsyncAnthropic(api_key="k", max_retries=0,
                                                http_client=anthropic.DefaultAsyncHttpxClient(transport=transport)) as c:
                m = await c.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=[{"role": "user", "content": content}])
            return r.choices[0].message.content, m.content[0].text

        budget = pytest.mark.token_budget(max_input_tokens=1000)

        @budget
        @pytest.mark.parametrize("size", ["fits", "over"])
        def test_mock_transport(size, token_budget):
            content = "hi" if size == "fits" else BIG
            assert ask_openai(HTTP.MockTransport(mock_handler), content) == SAID
            assert ask_openai(HTTP.MockTransport(mock_handler), content, stream=True) == SAID
            assert ask_anthropic(HTTP.MockTransport(mock_handler), content) == SAID
            assert [r.answered_by for r in token_budget.requests] == ["a test double"] * 3

        @budget
        def test_custom_transport_fits():
            assert ask_openai(CannedTransport(), "hi") == SAID
            assert ask_anthropic(CannedTransport(), "hi") == SAID

        @budget
        def test_custom_transport_over():
            assert ask_anthropic(CannedTransport(), BIG) == SAID

        @budget
        def test_async_mock_transport_fits():
            assert asyncio.run(ask_async("hi")) == (SAID, SAID)

        @budget
        def test_async_mock_transport_over():
            assert asyncio.run(ask_async(BIG)) == (SAID, SAID)
        """)
    assert verdict == {
        "test_mock_transport[fits]": "passed", "test_mock_transport[over]": "budget",
        "test_custom_transport_fits": "passed", "test_custom_transport_over": "budget",
        "test_async_mock_transport_fits": "passed", "test_async_mock_transport_over": "budget",
    }
    result.stdout.fnmatch_lines(["*prompt 3,6* tokens > budget 1,000*"])


MOCK_FIXTURE_TESTS = """
    import asyncio, anthropic, openai, pytest
    from conftest import BIG, CHAT, MESSAGE, SAID

    budget = pytest.mark.token_budget(max_input_tokens=1000)

    def sync_round(mock, content):
        mock.add_response(url="https://api.openai.com/v1/chat/completions", json=CHAT)
        mock.add_response(url="https://api.anthropic.com/v1/messages", json=MESSAGE)
        o = openai.OpenAI(api_key="k", max_retries=0)
        a = anthropic.Anthropic(api_key="k", max_retries=0)
        said = o.chat.completions.create(model="gpt-4o", max_tokens=10, messages=[{"role": "user", "content": content}])
        wrote = a.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=[{"role": "user", "content": content}])
        return said.choices[0].message.content, wrote.content[0].text

    async def async_round(mock, content):
        mock.add_response(url="https://api.openai.com/v1/chat/completions", json=CHAT)
        async with openai.AsyncOpenAI(api_key="k", max_retries=0) as o:
            said = await o.chat.completions.create(model="gpt-4o", max_tokens=10, messages=[{"role": "user", "content": content}])
        return said.choices[0].message.content

    @budget
    def test_sync_fits(MOCK, token_budget):
        assert sync_round(MOCK, "hi") == (SAID, SAID)
        assert len(token_budget.requests) == 2

    @budget
    def test_sync_over(MOCK):
        assert sync_round(MOCK, BIG) == (SAID, SAID)

    @budget
    def test_async_fits(MOCK):
        assert asyncio.run(async_round(MOCK, "hi")) == SAID

    @budget
    def test_async_over(MOCK):
        assert asyncio.run(async_round(MOCK, BIG)) == SAID
"""
MOCK_FIXTURE_NAMES = ["test_sync_fits", "test_sync_over", "test_async_fits", "test_async_over"]


def test_httpx2_pytest_mock_answers_and_the_budget_still_judges(inner: pytest.Pytester) -> None:
    if sdk_http_flavour() != "httpx2":
        pytest.skip("httpx2-pytest mocks httpx2; the installed SDKs send with httpx")
    require("pytest_httpx2", "the httpx2-pytest scenario")
    result, verdict = run(inner, MOCK_FIXTURE_TESTS.replace("MOCK", "httpx2_mock"))
    fits_and_over(verdict, *MOCK_FIXTURE_NAMES)
    result.stdout.fnmatch_lines(["*TOKEN BUDGET*test_sync_over*"])


def test_pytest_httpx_mock_answers_and_the_budget_still_judges(inner: pytest.Pytester) -> None:
    if sdk_http_flavour() != "httpx":
        pytest.skip("pytest_httpx mocks httpx; the installed SDKs send with httpx2 (CI runs this with openai==2.54.0 anthropic==0.125.0)")
    require("pytest_httpx", "the pytest_httpx scenario")
    result, verdict = run(inner, MOCK_FIXTURE_TESTS.replace("MOCK", "httpx_mock"))
    fits_and_over(verdict, *MOCK_FIXTURE_NAMES)
    result.stdout.no_fnmatch_line("*were not requested*")  # the plugin no longer steals the mock's requests


def test_respx_answers_and_the_budget_still_judges(inner: pytest.Pytester) -> None:
    if sdk_http_flavour() != "httpx":
        pytest.skip("respx mocks httpx; the installed SDKs send with httpx2 (CI runs this with openai==2.54.0 anthropic==0.125.0)")
    require("respx", "the respx scenario")
    result, verdict = run(inner, """
        import asyncio, anthropic, openai, pytest, respx
        from conftest import BIG, CHAT, MESSAGE, SAID

        budget = pytest.mark.token_budget(max_input_tokens=1000)

        def both(content):
            with respx.mock(assert_all_called=True) as router:
                router.post("https://api.openai.com/v1/chat/completions").respond(json=CHAT)
                router.post("https://api.anthropic.com/v1/messages").respond(json=MESSAGE)
                o = openai.OpenAI(api_key="k", max_retries=0)
                a = anthropic.Anthropic(api_key="k", max_retries=0)
                said = o.chat.completions.create(model="gpt-4o", max_tokens=10, messages=[{"role": "user", "content": content}])
                wrote = a.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=[{"role": "user", "content": content}])
            return said.choices[0].message.content, wrote.content[0].text

        async def in_async(content):
            with respx.mock(assert_all_called=True) as router:
                router.post("https://api.openai.com/v1/chat/completions").respond(json=CHAT)
                async with openai.AsyncOpenAI(api_key="k", max_retries=0) as o:
                    said = await o.chat.completions.create(model="gpt-4o", max_tokens=10, messages=[{"role": "user", "content": content}])
            return said.choices[0].message.content

        @budget
        def test_sync_fits():
            assert both("hi") == (SAID, SAID)

        @budget
        def test_sync_over():
            assert both(BIG) == (SAID, SAID)

        @budget
        def test_async_fits():
            assert asyncio.run(in_async("hi")) == SAID

        @budget
        def test_async_over():
            assert asyncio.run(in_async(BIG)) == SAID
        """)
    fits_and_over(verdict, *MOCK_FIXTURE_NAMES)


def vcr_for_sdks() -> Any:
    """vcrpy, if it patches the httpx flavour the installed SDKs use."""
    vcr = require("vcr", "the cassette scenarios")
    import vcr.patch

    if sdk_http_flavour() == "httpx2" and not hasattr(vcr.patch, "_Httpx2HttpTransport_handle_request"):
        pytest.skip(f"vcrpy {vcr.__version__} does not patch httpx2, which the installed SDKs use")
    return vcr


def write_cassette(path: Any) -> None:
    import json

    import yaml

    def interaction(uri: str, payload: dict[str, Any]) -> dict[str, Any]:
        return {
            "request": {"body": None, "headers": {}, "method": "POST", "uri": uri},
            "response": {"status": {"code": 200, "message": "OK"}, "headers": {"content-type": ["application/json"]},
                         "body": {"string": json.dumps(payload)}},
        }

    said = "from the double"
    chat = {"id": "chatcmpl-tape", "object": "chat.completion", "created": 0, "model": "gpt-4o",
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": said}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
    message = {"id": "msg_tape", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
               "content": [{"type": "text", "text": said}], "stop_reason": "end_turn", "stop_sequence": None,
               "usage": {"input_tokens": 1, "output_tokens": 1}}
    interactions = [interaction("https://api.openai.com/v1/chat/completions", chat),
                    interaction("https://api.anthropic.com/v1/messages", message),
                    interaction("https://api.openai.com/v1/chat/completions", chat)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"interactions": interactions, "version": 1}))


CASSETTE_ROUND = """
    import asyncio, anthropic, openai, pytest
    from conftest import BIG, SAID

    budget = pytest.mark.token_budget(max_input_tokens=1000)

    def sync_round(content):
        o = openai.OpenAI(api_key="k", max_retries=0)
        a = anthropic.Anthropic(api_key="k", max_retries=0)
        said = o.chat.completions.create(model="gpt-4o", max_tokens=10, messages=[{"role": "user", "content": content}])
        wrote = a.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=[{"role": "user", "content": content}])
        return said.choices[0].message.content, wrote.content[0].text

    async def async_round(content):
        async with openai.AsyncOpenAI(api_key="k", max_retries=0) as o:
            said = await o.chat.completions.create(model="gpt-4o", max_tokens=10, messages=[{"role": "user", "content": content}])
        return said.choices[0].message.content
"""


def test_vcrpy_replay_answers_and_the_budget_still_judges(inner: pytest.Pytester) -> None:
    vcr_for_sdks()
    write_cassette(inner.path / "llm.yaml")
    result, verdict = run(inner, CASSETTE_ROUND + """
    import vcr

    def replay():
        return vcr.use_cassette("llm.yaml", record_mode="none")

    @budget
    def test_sync_fits():
        with replay():
            assert sync_round("hi") == (SAID, SAID)

    @budget
    def test_sync_over():
        with replay():
            assert sync_round(BIG) == (SAID, SAID)

    @budget
    def test_async_fits(token_budget):
        with replay():
            assert asyncio.run(async_round("hi")) == SAID
        assert [r.answered_by for r in token_budget.requests] == ["a test double"]

    @budget
    def test_async_over():
        with replay():
            assert asyncio.run(async_round(BIG)) == SAID
    """)
    fits_and_over(verdict, *MOCK_FIXTURE_NAMES)


def test_pytest_recording_replay_answers_and_the_budget_still_judges(inner: pytest.Pytester) -> None:
    vcr_for_sdks()
    require("pytest_recording", "the pytest-recording scenario")
    write_cassette(inner.path / "cassettes" / "llm.yaml")
    result, verdict = run(inner, CASSETTE_ROUND + """
    import os

    @pytest.fixture
    def vcr_cassette_dir():
        return os.path.join(os.getcwd(), "cassettes")

    @pytest.fixture
    def default_cassette_name():
        return "llm"

    @budget
    @pytest.mark.vcr
    def test_sync_fits():
        assert sync_round("hi") == (SAID, SAID)

    @budget
    @pytest.mark.vcr
    def test_sync_over():
        assert sync_round(BIG) == (SAID, SAID)
    """, "--record-mode=none")
    fits_and_over(verdict, "test_sync_fits", "test_sync_over")


def test_a_loopback_fake_server_answers_and_the_budget_still_judges(inner: pytest.Pytester) -> None:
    result, verdict = run(inner, """
        import asyncio, anthropic, openai, pytest
        from conftest import BIG, SAID

        budget = pytest.mark.token_budget(max_input_tokens=1000)

        def ask(base, content):
            o = openai.OpenAI(api_key="k", base_url=base + "/v1", max_retries=0)
            a = anthropic.Anthropic(api_key="k", base_url=base, max_retries=0)
            said = o.chat.completions.create(model="gpt-4o", max_tokens=10, messages=[{"role": "user", "content": content}])
            chunks = o.chat.completions.create(model="gpt-4o", max_tokens=10, stream=True, messages=[{"role": "user", "content": content}])
            streamed = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
            with a.messages.stream(model="claude-sonnet-4-5", max_tokens=10, messages=[{"role": "user", "content": content}]) as s:
                wrote = "".join(s.text_stream)
            return said.choices[0].message.content, streamed, wrote

        async def ask_async(base, content):
            async with anthropic.AsyncAnthropic(api_key="k", base_url=base, max_retries=0) as a:
                m = await a.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=[{"role": "user", "content": content}])
            return m.content[0].text

        @budget
        def test_sync_fits(fake_server, token_budget):
            assert ask(fake_server, "hi") == (SAID, SAID, SAID)
            assert {r.answered_by for r in token_budget.requests} == {"a local server"}

        @budget
        def test_sync_over(fake_server):
            assert ask(fake_server, BIG) == (SAID, SAID, SAID)

        @budget
        def test_async_fits(fake_server):
            assert asyncio.run(ask_async(fake_server, "hi")) == SAID

        @budget
        def test_async_over(fake_server):
            assert asyncio.run(ask_async(fake_server, BIG)) == SAID
        """)
    fits_and_over(verdict, *MOCK_FIXTURE_NAMES)


RECORDING = CASSETTE_ROUND + """
    import os, vcr

    @budget
    def test_record_openai(token_budget):
        with vcr.use_cassette("new.yaml", record_mode="once"):
            sync_round("hi")

    @budget
    def test_record_async():
        with vcr.use_cassette("new_async.yaml", record_mode="once"):
            asyncio.run(async_round("hi"))

    @budget
    def test_record_local_then_refuse_over(fake_server):
        client = openai.OpenAI(api_key="k", base_url=fake_server + "/v1", max_retries=0)
        def ask(content):
            return client.chat.completions.create(model="gpt-4o", max_tokens=10, messages=[{"role": "user", "content": content}])
        with vcr.use_cassette("local.yaml", record_mode="once"):
            assert ask("hi").choices[0].message.content == SAID
            ask(BIG)
"""


def test_recording_a_cassette_offline_is_refused_with_how_to_record(inner: pytest.Pytester) -> None:
    vcr_for_sdks()
    result, verdict = run(inner, RECORDING)
    assert verdict["test_record_openai"] == verdict["test_record_async"] == "budget"
    result.stdout.fnmatch_lines([
        "*pytest-tokenbudget will not let vcrpy record a synthetic reply for POST https://api.openai.com/v1/chat/completions*",
        "*run with --tokenbudget-live*",
    ])
    # no synthetic reply was recorded anywhere (a cassette with nothing new is not written)
    for name in ("new.yaml", "new_async.yaml"):
        assert not (inner.path / name).exists() or "synthetic" not in (inner.path / name).read_text()
    # a local server's reply may be recorded: it is not ours; offline, the over-budget one is too, and fails
    assert verdict["test_record_local_then_refuse_over"] == "budget"
    assert (inner.path / "local.yaml").read_text().count("from the double") == 2


def test_recording_in_live_mode_sends_after_the_preflight_check(inner: pytest.Pytester) -> None:
    vcr_for_sdks()
    result, verdict = run(inner, RECORDING, "--tokenbudget-live", "-k", "local")
    assert verdict == {"test_record_local_then_refuse_over": "budget"}
    result.stdout.fnmatch_lines(["*refused this request before sending it*nothing was recorded*"])
    recorded = (inner.path / "local.yaml").read_text()
    assert recorded.count("from the double") == 1 and "summarise" not in recorded


def test_scripted_replies_a_double_made_pointless_are_reported(inner: pytest.Pytester) -> None:
    result, verdict = run(inner, """
        import openai, pytest
        from conftest import HTTP, SAID, mock_handler

        @pytest.mark.token_budget(max_input_tokens=1000)
        def test_scripted_but_mocked(token_budget):
            token_budget.reply("scripted")
            client = openai.OpenAI(api_key="k", max_retries=0,
                                   http_client=openai.DefaultHttpxClient(transport=HTTP.MockTransport(mock_handler)))
            reply = client.chat.completions.create(model="gpt-4o", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
            assert reply.choices[0].message.content == "scripted"
        """)
    assert verdict["test_scripted_but_mocked"].startswith("failed (call)")
    result.stdout.fnmatch_lines([
        "*- token budget -*",
        "*::test_scripted_but_mocked: 1 scripted reply (token_budget.reply...) never used: request 1 was answered by a test double*",
    ])
    result.stdout.fnmatch_lines(["*TokenBudgetWarning: *1 scripted reply*"])


def test_token_counting_endpoints_are_never_counted(inner: pytest.Pytester) -> None:
    import openai

    if not hasattr(openai.OpenAI(api_key="k").responses, "input_tokens"):
        pytest.skip(f"openai {openai.__version__} has no responses.input_tokens")
    result, verdict = run(inner, """
        import anthropic, openai, pytest
        from conftest import HTTP
        from pytest_tokenbudget import count_request

        def doubled(request):
            return HTTP.Response(200, json={"object": "response.input_tokens", "input_tokens": 7}
                                 if "input_tokens" in request.url.path else {"input_tokens": 7})

        budget = pytest.mark.token_budget(max_input_tokens=5, max_calls=0)

        @budget
        def test_answered_offline(token_budget):
            o = openai.OpenAI(api_key="k", max_retries=0)
            body = {"model": "gpt-4o", "input": "how many tokens is this prompt?"}
            counted = o.responses.input_tokens.count(**body)
            assert counted.input_tokens == count_request(body, api="openai.responses").input_tokens
            a = anthropic.Anthropic(api_key="k", max_retries=0)
            assert a.messages.count_tokens(model="claude-sonnet-4-5", messages=[{"role": "user", "content": "hi"}]).input_tokens
            assert token_budget.requests == []

        @budget
        def test_answered_by_a_double(token_budget):
            o = openai.OpenAI(api_key="k", max_retries=0, http_client=openai.DefaultHttpxClient(transport=HTTP.MockTransport(doubled)))
            assert o.responses.input_tokens.count(model="gpt-4o", input="hi").input_tokens == 7
            a = anthropic.Anthropic(api_key="k", max_retries=0, http_client=anthropic.DefaultHttpxClient(transport=HTTP.MockTransport(doubled)))
            assert a.messages.count_tokens(model="claude-sonnet-4-5", messages=[{"role": "user", "content": "hi"}]).input_tokens == 7
            assert token_budget.requests == []
        """)
    assert verdict == {"test_answered_offline": "passed", "test_answered_by_a_double": "passed"}


def test_litellm_and_langchain_against_a_loopback_server(inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # before anything imports litellm
    require("litellm", "the litellm scenario")
    require("langchain_openai", "the LangChain scenario")
    result, verdict = run(inner, """
        import pytest
        from conftest import BIG, SAID

        budget = pytest.mark.token_budget(max_input_tokens=1000)

        def ask(base, content):
            import litellm
            from langchain_anthropic import ChatAnthropic
            from langchain_openai import ChatOpenAI
            m = [{"role": "user", "content": content}]
            said = [
                litellm.completion(model="openai/gpt-4o", api_base=base + "/v1", api_key="k", messages=m, max_tokens=5),
                litellm.completion(model="anthropic/claude-sonnet-4-5", api_base=base, api_key="k", messages=m, max_tokens=5),
            ]
            said = [r.choices[0].message.content for r in said]
            said.append(ChatOpenAI(model="gpt-4o", base_url=base + "/v1", api_key="k", max_tokens=5).invoke(content).content)
            said.append(ChatAnthropic(model="claude-sonnet-4-5", base_url=base, api_key="k", max_tokens=5).invoke(content).content)
            return said

        @budget
        def test_fits(fake_server, token_budget):
            assert ask(fake_server, "hi") == [SAID] * 4
            assert len(token_budget.requests) == 4

        @budget
        def test_over(fake_server):
            assert ask(fake_server, BIG) == [SAID] * 4
        """, "-W", "ignore::DeprecationWarning")
    fits_and_over(verdict, "test_fits", "test_over")


def test_a_transport_called_directly_is_still_counted_and_answered(inner: pytest.Pytester) -> None:
    result, verdict = run(inner, """
        import asyncio, json, pytest
        from conftest import BIG, HTTP

        def body(content):
            return {"model": "gpt-4o", "max_tokens": 5, "messages": [{"role": "user", "content": content}]}

        def send(content):
            request = HTTP.Request("POST", "https://api.openai.com/v1/chat/completions", json=body(content))
            return json.loads(HTTP.HTTPTransport().handle_request(request).read())

        async def send_async(content):
            request = HTTP.Request("POST", "https://api.openai.com/v1/chat/completions", json=body(content))
            response = await HTTP.AsyncHTTPTransport().handle_async_request(request)
            return json.loads(await response.aread())

        @pytest.mark.token_budget(max_input_tokens=1000)
        def test_fits(token_budget):
            assert send("hi")["object"] == "chat.completion"
            assert asyncio.run(send_async("hi"))["object"] == "chat.completion"
            assert [r.answered_by for r in token_budget.requests] == ["pytest-tokenbudget"] * 2

        @pytest.mark.token_budget(max_input_tokens=1000)
        def test_over():
            assert send(BIG)["object"] == "chat.completion"
        """)
    fits_and_over(verdict, "test_fits", "test_over")


def test_a_double_patched_over_us_for_the_whole_session_keeps_answering(inner: pytest.Pytester) -> None:
    """A session-scoped double over the connection pool (respx in a session fixture does this) must
    survive the end of the first budgeted test: the plugin's patches come off under it, not over it."""
    result, verdict = run(inner, """
        import importlib, json
        from unittest import mock

        import openai, pytest
        from conftest import BIG, CHAT, HTTP, SAID

        core = importlib.import_module("httpcore2" if HTTP.__name__ == "httpx2" else "httpcore")

        def pool_double(self, request):
            return core.Response(200, headers=[(b"content-type", b"application/json")], content=json.dumps(CHAT).encode())

        @pytest.fixture(scope="session", autouse=True)
        def answered_by_the_pool_double():
            with mock.patch.object(core.ConnectionPool, "handle_request", pool_double):
                yield

        def ask(content):
            client = openai.OpenAI(api_key="k", max_retries=0)
            return client.chat.completions.create(
                model="gpt-4o", max_tokens=10, messages=[{"role": "user", "content": content}]
            ).choices[0].message.content

        budget = pytest.mark.token_budget(max_input_tokens=1000)

        @budget
        def test_first_fits():
            assert ask("hi") == SAID

        @budget
        def test_second_fits():
            assert ask("hi") == SAID

        @budget
        def test_third_over():
            assert ask(BIG) == SAID
        """)
    assert verdict == {"test_first_fits": "passed", "test_second_fits": "passed", "test_third_over": "budget"}


def test_idle_patches_between_tests_leave_doubles_answering_and_every_request_counted_once(
        inner: pytest.Pytester) -> None:
    """The plugin leaves its patches in place between budgeted tests. A double that patches over them
    (in an unbudgeted test, in a budgeted one) and un-patches again, and a hand-rolled double that puts
    back the original it saved before the plugin patched anything, must leave every later request
    counted once and answered by whoever the test arranged: never by the network."""
    _, verdict = run(inner, """
        import importlib, json
        from unittest import mock

        import openai, pytest
        from conftest import BIG, CHAT, HTTP, SAID

        core = importlib.import_module("httpcore2" if HTTP.__name__ == "httpx2" else "httpcore")
        SAVED_AT_IMPORT = core.ConnectionPool.handle_request  # before the plugin patched anything

        def pool_double(self, request):
            return core.Response(200, headers=[(b"content-type", b"application/json")], content=json.dumps(CHAT).encode())

        def ask(content):
            client = openai.OpenAI(api_key="k", max_retries=0)
            return client.chat.completions.create(
                model="gpt-4o", max_tokens=10, messages=[{"role": "user", "content": content}]
            ).choices[0].message.content

        budget = pytest.mark.token_budget(max_input_tokens=1000)

        @budget
        def test_1_plugin_fits(token_budget):
            assert ask("hi") != SAID
            assert [r.answered_by for r in token_budget.requests] == ["pytest-tokenbudget"]

        def test_2_unbudgeted_double_fits():
            with mock.patch.object(core.ConnectionPool, "handle_request", pool_double):
                assert ask(BIG) == SAID

        @budget
        def test_3_double_fits(token_budget):
            with mock.patch.object(core.ConnectionPool, "handle_request", pool_double):
                assert ask("hi") == SAID
            assert [r.answered_by for r in token_budget.requests] == ["a test double"]

        @budget
        def test_4_double_over():
            with mock.patch.object(core.ConnectionPool, "handle_request", pool_double):
                assert ask(BIG) == SAID

        @pytest.fixture
        def hand_rolled_double():
            core.ConnectionPool.handle_request = pool_double
            yield
            core.ConnectionPool.handle_request = SAVED_AT_IMPORT

        @budget
        def test_5_hand_rolled_double_fits(hand_rolled_double, token_budget):
            assert ask("hi") == SAID
            assert len(token_budget.requests) == 1

        @budget
        def test_6_plugin_over():
            ask(BIG)

        @budget
        def test_7_plugin_fits(token_budget):
            assert ask("hi") != SAID
            assert [r.answered_by for r in token_budget.requests] == ["pytest-tokenbudget"]
        """)
    assert verdict == {"test_1_plugin_fits": "passed", "test_2_unbudgeted_double_fits": "passed",
                       "test_3_double_fits": "passed", "test_4_double_over": "budget",
                       "test_5_hand_rolled_double_fits": "passed", "test_6_plugin_over": "budget",
                       "test_7_plugin_fits": "passed"}
    core = importlib.import_module("httpcore2" if sdk_http_flavour() == "httpx2" else "httpcore")
    # The session's end took the idle patches off.
    assert not hasattr(core.ConnectionPool.handle_request, "__tokenbudget_original__")
