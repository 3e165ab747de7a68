"""What one test sent to LLM APIs, and the decision made for each request.

A :class:`TestCapture` is the handler the HTTP patches call (see ``_intercept``):
at the observation point it counts every LLM request with the counting core,
whoever answers it; at the answer point (a request about to leave the machine)
it answers with a synthetic reply, a pre-flight refusal, or lets it through
(live mode, loopback servers). It keeps what the failure report and the
``token_budget`` fixture need. Request headers never reach this module.
"""

from __future__ import annotations

import collections
import functools
import json
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from ipaddress import ip_address
from typing import Any
from urllib.parse import urlsplit

from . import _intercept, _synthetic
from ._endpoints import Endpoint, classify_endpoint
from ._intercept import CannedResponse, InterceptedRequest, NetworkBlocked
from ._marker import BudgetSpec
from ._synthetic import ScriptedReply

__all__ = ["CapturedRequest", "Finding", "TestCapture"]

# Top-level packages whose frames are plumbing, not the user's code: the call
# site reported for a request is the first frame outside these.
_PLUMBING = frozenset({
    "pytest_tokenbudget", "httpx", "httpx2", "httpcore", "httpcore2", "h11", "h2", "anyio", "sniffio",
    "openai", "anthropic", "litellm", "langchain", "langchain_core", "langchain_openai",
    "langchain_anthropic", "langchain_community", "langsmith", "langgraph", "pydantic", "tenacity",
    "backoff", "asyncio", "concurrent", "threading", "contextlib", "functools", "_pytest", "pluggy",
    "pytest_asyncio", "aiohttp", "typing_extensions", "wrapt", "instructor",
})
# Below the first of these frames under user code lies only the test runner: a coverage stack ends there.
_RUNNER = frozenset({"_pytest", "pluggy"})

# Hosts whose other endpoints are API calls we do not emulate: answering them
# with an HTTP error keeps the SDK from retrying a connection error with backoff.
_API_HOST_SUFFIXES = ("api.openai.com", "api.anthropic.com", ".openai.azure.com", ".cognitiveservices.azure.com")

# Free token-counting endpoints, answered with our own count and never budgeted, mapped to the
# API whose request body they take.
_COUNTING_APIS = {"anthropic.count_tokens": "anthropic.messages", "openai.input_tokens": "openai.responses"}


@dataclass(frozen=True)
class Finding:
    """A problem that fails the test and is not a budget limit (unknown model, unreadable body)."""

    kind: str  # "unknown model" | "unreadable request" | "internal error" | "recording refused" | "no requests"
    message: str
    request_index: int | None = None  # 1-based position in TestCapture.requests


@dataclass
class CapturedRequest:
    """One intercepted request. Headers are never kept, so no API key can leak into reports."""

    index: int  # 1-based, in order of sending
    api: str
    url: str
    model: str | None  # the model name the request asked for (before registry resolution)
    call_site: str
    phase: str  # "setup" | "call" | "teardown"
    stream: bool
    count: Any = None  # RequestCount, or None when the request could not be counted
    error: str | None = None
    refused: bool = False  # refused before sending (live mode pre-flight, or a cassette recording offline)
    # Who produced the reply the app saw: ANSWERED_BY_PLUGIN, a test double, a local server or the real API.
    answered_by: str | None = None
    body: Mapping[str, Any] = field(default_factory=dict, repr=False)
    # (filename, line) of the user code frames the request passed, innermost first: only with budget coverage.
    stack: list[tuple[str, int]] | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        tokens = "uncounted" if self.count is None else f"{self.count.input_tokens:,} in"
        cap = "" if self.count is None else f", cap {self.max_output_tokens if self.max_output_tokens is not None else 'none'}"
        return f"<CapturedRequest #{self.index} {self.api} {self.model or '?'}: {tokens}{cap}, at {self.call_site}>"

    @property
    def input_tokens(self) -> int | None:
        return None if self.count is None else self.count.input_tokens

    @property
    def max_output_tokens(self) -> int | None:
        """The output cap the request set (max_tokens / max_completion_tokens / max_output_tokens)."""
        return None if self.count is None else self.count.max_output_tokens

    @property
    def total_tokens(self) -> int | None:
        """Input plus requested output: what the budget's max_total_tokens adds up."""
        if self.count is None:
            return None
        return self.count.input_tokens + (self.count.max_output_tokens or 0)

    @property
    def tokenizer(self) -> str | None:
        return None if self.count is None else self.count.tokenizer

    @property
    def provenance(self) -> str | None:
        return None if self.count is None else self.count.provenance

    @property
    def breakdown(self) -> list[Any]:
        """Parts of the prompt, largest first."""
        return [] if self.count is None else list(self.count.largest_first())

    @property
    def cost_usd(self) -> float | None:
        return None if self.count is None else self.count.cost_usd

    @property
    def resolved_model(self) -> str | None:
        return None if self.count is None else self.count.model.id


ANSWERED_BY_PLUGIN = "pytest-tokenbudget"
ANSWERED_BY_DOUBLE = "a test double"  # mock, cassette replay, MockTransport, custom transport
ANSWERED_BY_LOCAL_SERVER = "a local server"
ANSWERED_BY_API = "the API (live)"

@dataclass
class _Ticket:
    """What the observation point learnt about an LLM request, for its answer point."""

    endpoint: Endpoint
    body: dict[str, Any] | None
    captured: CapturedRequest | None  # None for the token-counting endpoints
    problem: str | None = None  # why it cannot be answered normally (unreadable body, internal error)
    problem_code: str = "invalid_request"


# Budgets are immutable and a suite has few distinct ones: one per set of limits, not per test.
_budgets: dict[tuple[tuple[str, Any], ...], Any] = {}


class TestCapture:
    """Interception state for one test (or, with session capture, one unbudgeted test)."""

    __test__ = False  # not a test class, whatever its name says

    def __init__(
        self,
        nodeid: str,
        spec: BudgetSpec | None,
        *,
        live: bool,
        base_urls: tuple[str, ...],
        registry_loader: Callable[[], Any],
        collect_stacks: bool = False,
    ) -> None:
        self.nodeid = nodeid
        self.collect_stacks = collect_stacks
        self.baselined = True  # False for a property test: each run draws other prompts, so no entry can hold
        self.spec = spec
        self.live = live
        self.base_urls = base_urls
        self.phase = "setup"
        self.requests: list[CapturedRequest] = []
        self.findings: list[Finding] = []
        self.blocked: list[str] = []  # non-LLM URLs refused in offline mode
        self._replies: collections.deque[ScriptedReply] = collections.deque()
        self._default_reply = ScriptedReply(text=_synthetic.DEFAULT_REPLY_TEXT)
        self._registry_loader = registry_loader
        self.registry = registry_loader  # for helpers that count outside a request (the fixture)
        self._lock = threading.Lock()
        self._budget = self._make_budget(spec)

    @staticmethod
    def _make_budget(spec: BudgetSpec | None) -> Any:
        if spec is None:
            return None
        kwargs = spec.budget_kwargs()
        key = tuple(kwargs.items())
        budget = _budgets.get(key)
        if budget is None:
            from ._budget import Budget

            budget = _budgets[key] = Budget(**kwargs)
        return budget

    # --- scripting replies ---------------------------------------------------

    def queue_reply(self, reply: ScriptedReply) -> None:
        self._replies.append(reply)

    def set_default_reply(self, reply: ScriptedReply) -> None:
        self._default_reply = reply

    def _next_reply(self) -> ScriptedReply:
        return self._replies.popleft() if self._replies else self._default_reply

    @property
    def unused_replies(self) -> int:
        return len(self._replies)

    # --- the observation point ------------------------------------------------

    def classify(self, method: str, url: str) -> Endpoint | None:
        return classify_endpoint(method, url, self.base_urls)

    def observe(self, request: InterceptedRequest, endpoint: Endpoint) -> _Ticket:
        """Count an LLM request, whoever will answer it."""
        known = len(self.requests)
        try:
            return self._observe(request, endpoint)
        except Exception as error:  # a bug of ours must fail the test, not look like a network error
            message = f"pytest-tokenbudget could not handle {request.url}: {type(error).__name__}: {error}"
            with self._lock:
                index = len(self.requests) if len(self.requests) > known else None
                if index is not None:
                    self.requests[index - 1].error = message
                self.findings.append(Finding("internal error", message, index))
            captured = self.requests[index - 1] if index is not None else None
            return _Ticket(endpoint, None, captured, message, "tokenbudget_error")

    def _observe(self, request: InterceptedRequest, endpoint: Endpoint) -> _Ticket:
        try:
            body = json.loads(request.body or b"null")
        except ValueError as error:
            body = None
            problem = f"request body is not JSON ({error})"
        else:
            problem = None if isinstance(body, dict) else "request body is not a JSON object"
        if endpoint.api in _COUNTING_APIS and problem is None:
            return _Ticket(endpoint, body, None)
        stack: list[tuple[str, int]] | None = [] if self.collect_stacks else None
        call_site = _call_site(stack)
        with self._lock:
            captured = CapturedRequest(
                index=len(self.requests) + 1,
                api=endpoint.api,
                url=request.url,
                model=(body or {}).get("model") if isinstance(body, dict) else None,
                call_site=call_site,
                stack=stack,
                phase=self.phase,
                stream=bool(isinstance(body, dict) and body.get("stream")),
                body=body if isinstance(body, dict) else {},
            )
            self.requests.append(captured)
            if problem is not None:
                captured.error = problem
                self.findings.append(Finding("unreadable request", f"{captured.url}: {problem}", captured.index))
                return _Ticket(endpoint, None, captured, problem)
            self._count(captured, body, endpoint)
        return _Ticket(endpoint, body, captured)

    def settle(self, ticket: _Ticket, reached_network: bool) -> None:
        if ticket.captured is not None and not reached_network:
            ticket.captured.answered_by = ANSWERED_BY_DOUBLE

    # --- the answer point -------------------------------------------------------

    def answer(self, request: InterceptedRequest, ticket: _Ticket | None) -> Any:
        """The reply for a request that is about to leave the machine."""
        if ticket is None:
            return self._not_llm(request)
        captured, endpoint = ticket.captured, ticket.endpoint
        if self.live:
            if captured is None:
                return _intercept.PASS_THROUGH  # token counting is free: nothing to budget
            with self._lock:
                refusal = ticket.problem or self._preflight(captured)
                captured.refused = refusal is not None
            if refusal is None:
                captured.answered_by = ANSWERED_BY_API
                return _intercept.PASS_THROUGH
            message = f"pytest-tokenbudget refused this request before sending it: {refusal}"
            if request.recorder is not None:
                self._refuse_recording(request, captured, message)
            return self._respond(_synthetic.error_response(endpoint.api, 400, message))
        if _is_loopback(request.host):
            if captured is not None:
                captured.answered_by = ANSWERED_BY_LOCAL_SERVER
            return _intercept.PASS_THROUGH  # never leaves the machine: a test's own fake server
        if request.recorder is not None:
            self._refuse_recording(request, captured, None)
        if captured is not None:
            captured.answered_by = ANSWERED_BY_PLUGIN
        if ticket.problem is not None:
            return self._respond(_synthetic.error_response(endpoint.api, 400, ticket.problem, code=ticket.problem_code))
        assert ticket.body is not None
        if captured is None:
            return self._answer_count_tokens(ticket.body, endpoint)
        reply = self._next_reply() if endpoint.api != "openai.embeddings" else ScriptedReply()
        output_tokens = self._output_tokens(reply, captured)
        result = _synthetic.synthetic_response(
            endpoint.api, ticket.body, reply=reply, input_tokens=captured.input_tokens or 0, output_tokens=output_tokens
        )
        return self._respond(result)

    def _refuse_recording(self, request: InterceptedRequest, captured: CapturedRequest | None, refusal: str | None) -> None:
        """A cassette must never store a synthetic reply (nor our refusal): stop the test instead."""
        import pytest

        if refusal is None:
            message = (
                f"pytest-tokenbudget will not let {request.recorder} record a synthetic reply for "
                f"{request.method} {request.url} (it is not in the cassette, and the cassette is recording). "
                "To record it from the real API, run with --tokenbudget-live: the request is sent after the "
                "pre-flight budget check. To replay only, use record_mode=\"none\" (pytest-recording: --record-mode=none)."
            )
        else:
            message = f"{refusal} (a cassette was recording it: nothing was recorded)"
        index = None
        if captured is not None:
            captured.refused = True
            index = captured.index
        with self._lock:
            self.findings.append(Finding("recording refused", message, index))
        failure = pytest.fail.Exception(message, pytrace=False)
        failure.tokenbudget = True  # type: ignore[attr-defined]
        raise failure

    def _count(self, captured: CapturedRequest, body: dict[str, Any], endpoint: Endpoint) -> None:
        from . import RequestBodyError, UnknownModelError, count_request

        model = self.spec.model if self.spec is not None and self.spec.model else None
        if model is None and not body.get("model") and endpoint.deployment:
            model = endpoint.deployment  # Azure: the deployment names the model (via registry aliases)
        api = _COUNTING_APIS.get(endpoint.api, endpoint.api)
        try:
            captured.count = count_request(body, api=api, model=model, registry=self._registry_loader())
        except UnknownModelError as error:
            captured.error = str(error)
            self.findings.append(Finding("unknown model", str(error), captured.index))
        except RequestBodyError as error:
            captured.error = str(error)
            self.findings.append(Finding("unreadable request", f"request body {error}", captured.index))

    def _answer_count_tokens(self, body: dict[str, Any], endpoint: Endpoint) -> CannedResponse:
        probe = CapturedRequest(0, endpoint.api, "", body.get("model"), "", self.phase, False)
        self._count(probe, body, endpoint)
        if self.findings and self.findings[-1].request_index == 0:
            finding = self.findings.pop()
            return self._respond(_synthetic.error_response(endpoint.api, 400, finding.message))
        result = _synthetic.synthetic_response(
            endpoint.api, body, reply=ScriptedReply(), input_tokens=probe.input_tokens or 0, output_tokens=0
        )
        return self._respond(result)

    def _preflight(self, captured: CapturedRequest) -> str | None:
        """In live mode: the reason to refuse this request, judged before it costs anything."""
        if captured.count is None:
            return captured.error
        if self._budget is None:
            return None
        # Requests observed after this one (concurrent sends) are judged when they are sent.
        counted = [request for request in self.requests
                   if request.count is not None and not request.refused and request.index <= captured.index]
        position = len(counted) - 1  # this request is the last one counted
        before = {v.limit for v in self._budget.check([r.count for r in counted[:-1]]) if v.request_index is None}
        for violation in self._budget.check([r.count for r in counted]):
            if violation.request_index == position or (violation.request_index is None and violation.limit not in before):
                return violation.message
        return None

    def _output_tokens(self, reply: ScriptedReply, captured: CapturedRequest) -> int:
        if reply.text is None and not reply.tool_calls:
            return 0
        text = (reply.text or "") + "".join(call.name + json.dumps(dict(call.arguments)) for call in reply.tool_calls)
        if captured.count is not None:
            return _reply_tokens(text, captured.count.model.id, self._registry_loader())
        return len(text.split())

    def _not_llm(self, request: InterceptedRequest) -> Any:
        if self.live:
            return _intercept.PASS_THROUGH
        parts = urlsplit(request.url)
        host = parts.hostname or ""
        if _is_loopback(host):
            return _intercept.PASS_THROUGH  # never leaves the machine: a test's own local server
        message = (
            f"pytest-tokenbudget blocked {request.method} {request.url}: only LLM API requests are answered "
            "offline; run with --tokenbudget-live to let requests through"
        )
        with self._lock:
            self.blocked.append(f"{request.method} {request.url}")
        if request.recorder is not None:
            raise NetworkBlocked(message)  # an HTTP error reply would be recorded into the cassette
        if host.endswith(_API_HOST_SUFFIXES) or any(urlsplit(base).netloc == parts.netloc for base in self.base_urls):
            return self._respond(_synthetic.error_response("anthropic" if "anthropic" in host else "openai", 404, message, code="not_emulated"))
        raise NetworkBlocked(message)

    @staticmethod
    def _respond(result: Any) -> CannedResponse:
        return CannedResponse(result.status, result.content, result.content_type)

    # --- judging ----------------------------------------------------------------

    def violations(self) -> list[Any]:
        """Budget violations over every counted request, with request_index mapped to 1-based request numbers."""
        if self._budget is None:
            return []
        counted = [request for request in self.requests if request.count is not None]
        found = []
        for violation in self._budget.check([request.count for request in counted]):
            index = violation.request_index
            found.append((violation, counted[index].index if index is not None else None))
        return found

    def check_spec(self, spec: BudgetSpec) -> list[Any]:
        """Violations of an explicitly given spec (the fixture's ``assert_within``)."""
        counted = [request for request in self.requests if request.count is not None]
        budget = self._make_budget(spec)
        return [(v, counted[v.request_index].index if v.request_index is not None else None)
                for v in budget.check([request.count for request in counted])]


# The same few reply texts are counted over and over (the default reply in every test).
_reply_token_cache: dict[tuple[str, str], int] = {}


def _reply_tokens(text: str, model: str, registry: Any) -> int:
    key = (text, model)
    if key not in _reply_token_cache:
        from . import count_tokens

        if len(_reply_token_cache) > 256:
            _reply_token_cache.clear()
        _reply_token_cache[key] = count_tokens(text, model, registry=registry)
    return _reply_token_cache[key]


@functools.lru_cache(maxsize=256)
def _is_loopback(host: str) -> bool:
    # Cached: every answered request asks, and ip_address() raising for a host name is slow.
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def _call_site(stack: list[tuple[str, int]] | None = None) -> str:
    """``path:line in function`` of the first frame outside the SDKs, the HTTP stack and this plugin.

    ``stack`` (budget coverage): the walk goes on to the bottom and collects the (filename, line)
    of every frame outside that plumbing, innermost first; without it the walk stops at the first."""
    frame = sys._getframe(1)
    site = "<unknown>"
    while frame is not None:
        top = (frame.f_globals.get("__name__", "") or "").partition(".")[0]
        if top not in _PLUMBING:
            if stack is None:
                return f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"
            if not stack:
                site = f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"
            stack.append((frame.f_code.co_filename, frame.f_lineno))
        elif stack and top in _RUNNER:
            break  # the test function was the last user frame: pytest and pluggy frames follow
        frame = frame.f_back  # type: ignore[assignment]
    return site


class StackObserver:
    """An interception handler for budget coverage in tests that are not intercepted otherwise
    (unbudgeted tests, default capture mode): it records where each LLM request came from and
    answers nothing, so the test's requests go wherever they would go without the plugin."""

    __test__ = False

    def __init__(self, base_urls: tuple[str, ...]) -> None:
        self.base_urls = base_urls
        self.stacks: list[list[tuple[str, int]]] = []

    def classify(self, method: str, url: str) -> Endpoint | None:
        endpoint = classify_endpoint(method, url, self.base_urls)
        return None if endpoint is None or endpoint.api in _COUNTING_APIS else endpoint

    def observe(self, request: InterceptedRequest, endpoint: Endpoint) -> None:
        stack: list[tuple[str, int]] = []
        _call_site(stack)
        self.stacks.append(stack)

    def answer(self, request: InterceptedRequest, ticket: Any) -> Any:
        return _intercept.PASS_THROUGH

    def settle(self, ticket: Any, reached_network: bool) -> None:
        pass
