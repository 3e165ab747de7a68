"""The pytest plugin: ``@pytest.mark.token_budget(...)`` fails a test whose LLM requests break their budget.

Flow for a budgeted test (marker, or the ``token_budget`` fixture):
``pytest_runtest_protocol`` parses the marker and installs the HTTP patches
for setup, call and teardown; every LLM request is counted, whoever answers it
(the test's mocks, cassettes, transports, local servers), and those that would
leave the machine are answered locally; after the call the budget is checked
and the test fails, even when the app swallowed every exception. Reports carry plain data so the summary is
right under pytest-xdist.

Only pytest is imported at module level: pytest loads this module on every run.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping

import pytest

# Light modules (no SDK, no tokenizer): loading them here keeps one copy of the
# interception state even when a host process re-imports lazily loaded modules.
from . import _capture, _intercept, _report
from ._marker import INI_KEYS, MARKER_HELP, MARKER_NAME, BudgetSpec, MarkerError, parse_spec, spec_from_sources

if TYPE_CHECKING:
    from ._capture import CapturedRequest, TestCapture

_CAPTURE_KEY = pytest.StashKey["TestCapture | None"]()
_SETUP_ERROR_KEY = pytest.StashKey["str | None"]()
_PROBLEMS_KEY = pytest.StashKey["list[tuple[str, int | None]]"]()
_NOTE_KEY = pytest.StashKey["str | None"]()
_NO_REQUEST_KEY = pytest.StashKey[bool]()

_SECTION = "token budget"
_CAPTURE_MODES = ("budgeted", "session")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tokenbudget", "token budgets for LLM requests (pytest-tokenbudget)")
    group.addoption(
        "--tokenbudget-live",
        action="store_true",
        default=False,
        help="let LLM requests of budgeted tests reach the real API; a request that would break its "
        "budget is refused before it is sent",
    )
    group.addoption(
        "--tokenbudget-summary",
        type=int,
        metavar="N",
        default=None,
        help="show the N heaviest tests and LLM requests (N=0 for all)",
    )
    parser.addini(
        "tokenbudget_capture",
        "'budgeted' (default): intercept LLM requests only in budgeted tests; "
        "'session': intercept and count them in every test",
        default=None,
    )
    parser.addini(
        "tokenbudget_base_urls",
        "base URLs of OpenAI-compatible servers (OpenRouter, vLLM, a litellm proxy) whose requests are LLM requests",
        type="linelist",
        default=[],
    )
    for key, ini_name in INI_KEYS.items():
        parser.addini(ini_name, f"default {key} for the token_budget marker", default=None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    config.pluginmanager.register(TokenBudgetPlugin(config), "tokenbudget-runner")
    # Before test modules import their SDKs: st.from_type(ChatCompletionMessageParam) gets our
    # strategies even where Hypothesis's entry points are not installed (an editable checkout).
    # Imports neither Hypothesis nor an SDK: it only watches for the SDKs' types modules.
    from ._hypothesis_plugin import watch_sdk_imports

    watch_sdk_imports()


class TokenBudgetPlugin:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.live: bool = config.getoption("tokenbudget_live")
        self.summary_size: int | None = config.getoption("tokenbudget_summary")
        self.rootpath = str(config.rootpath)
        table = self._pyproject_table()
        self.capture_mode = self._capture_mode(table)
        self.base_urls = tuple(config.getini("tokenbudget_base_urls")) + tuple(self._table_list(table, "base-urls"))
        self.default_sources = self._default_sources(table)
        self._registry: Any = None
        self._session_capture: TestCapture | None = None
        self.tests: list[dict[str, Any]] = []
        self.failures: list[tuple[str, str]] = []
        self.silent_tests: list[str] = []

    # --- configuration -----------------------------------------------------------

    def _pyproject_path(self) -> Path | None:
        candidate = self.config.rootpath / "pyproject.toml"
        return candidate if candidate.is_file() else None

    def _pyproject_table(self) -> dict[str, Any]:
        from ._config import tool_table
        from ._errors import ConfigError

        try:
            return tool_table(self._pyproject_path())
        except ConfigError as error:
            raise pytest.UsageError(f"pytest-tokenbudget: {error}") from None

    def _table_list(self, table: Mapping[str, Any], key: str) -> list[str]:
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise pytest.UsageError(
                f"pytest-tokenbudget: {self._pyproject_path()}: [tool.tokenbudget] {key} must be a list of strings"
            )
        return value

    def _capture_mode(self, table: Mapping[str, Any]) -> str:
        mode = self.config.getini("tokenbudget_capture") or table.get("capture") or "budgeted"
        if mode not in _CAPTURE_MODES:
            raise pytest.UsageError(
                f"pytest-tokenbudget: tokenbudget_capture must be one of {', '.join(_CAPTURE_MODES)}, got {mode!r}"
            )
        return str(mode)

    def _default_sources(self, table: Mapping[str, Any]) -> list[tuple[str, dict[str, Any], tuple[Any, ...]]]:
        sources: list[tuple[str, dict[str, Any], tuple[Any, ...]]] = []
        budget_table = table.get("budget", {})
        where = f"{self._pyproject_path()}: [tool.tokenbudget.budget]"
        if not isinstance(budget_table, dict):
            raise pytest.UsageError(f"pytest-tokenbudget: {where} must be a table")
        ini_values = {key: self.config.getini(ini) for key, ini in INI_KEYS.items()}
        ini_values = {key: value for key, value in ini_values.items() if value not in (None, "")}
        try:
            parse_spec(budget_table, where)
            parse_spec(ini_values, "ini option")
        except MarkerError as error:
            raise pytest.UsageError(f"pytest-tokenbudget: {error}") from None
        sources.append((where, dict(budget_table), ()))
        sources.append(("ini option", ini_values, ()))
        return sources

    def registry(self) -> Any:
        if self._registry is None:
            from . import Registry

            self._registry = Registry.load(self.config.rootpath)
        return self._registry

    def verbosity(self) -> int:
        return int(self.config.getoption("verbose", 0) or 0)

    # --- which tests are intercepted ---------------------------------------------------

    def spec_for(self, item: pytest.Item) -> BudgetSpec | None:
        """The item's merged budget, or None when it is not budgeted. Raises MarkerError."""
        markers = list(item.iter_markers(MARKER_NAME))  # nearest first
        if not markers and "token_budget" not in getattr(item, "fixturenames", ()):
            return None
        where = f"token_budget marker on {item.nodeid}"
        sources = list(self.default_sources)
        sources += [(where, dict(marker.kwargs), tuple(marker.args)) for marker in reversed(markers)]
        return spec_from_sources(sources)

    def new_capture(self, nodeid: str, spec: BudgetSpec | None) -> TestCapture:
        return _capture.TestCapture(nodeid, spec, live=self.live, base_urls=self.base_urls, registry_loader=self.registry)

    @pytest.hookimpl
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if self.capture_mode == "session" and not self.live:
            self._session_capture = self.new_capture("<session>", None)
            _intercept.install(self._session_capture)

    @pytest.hookimpl
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self._session_capture is not None:
            _intercept.uninstall(self._session_capture)
            self._session_capture = None

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Iterator[None]:
        capture = None
        item.stash[_SETUP_ERROR_KEY] = None
        item.stash[_NO_REQUEST_KEY] = False
        try:
            spec = self.spec_for(item)
        except MarkerError as error:
            item.stash[_SETUP_ERROR_KEY] = str(error)
            spec = None
        if spec is not None or (self.capture_mode == "session" and item.stash[_SETUP_ERROR_KEY] is None):
            try:
                capture = self.new_capture(item.nodeid, spec)
            except (TypeError, ValueError) as error:  # the core's Budget rejected a value
                item.stash[_SETUP_ERROR_KEY] = f"token_budget marker on {item.nodeid}: {error}"
        item.stash[_CAPTURE_KEY] = capture
        if capture is None:
            yield
            return
        _intercept.install(capture)
        try:
            yield
        finally:
            _intercept.uninstall(capture)
            # Items live for the whole session: drop request bodies and counts once reported.
            item.stash[_CAPTURE_KEY] = None
            item.stash[_PROBLEMS_KEY] = []

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        error = item.stash.get(_SETUP_ERROR_KEY, None)
        if error:
            pytest.fail(error, pytrace=False)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Iterator[None]:
        capture = item.stash.get(_CAPTURE_KEY, None)
        if capture is not None:
            capture.phase = "call"
        item.stash[_NOTE_KEY] = None
        try:
            result = yield
        except BaseException:
            self._judge(item)
            self._note_unused_replies(item)
            raise
        self._note_unused_replies(item)
        problems = self._judge(item)
        problems += self._judge_silence(item)
        if problems:
            failure = pytest.fail.Exception(self._failure_text(item, problems), pytrace=False)
            failure.tokenbudget = True  # type: ignore[attr-defined]
            raise failure
        return result

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_teardown(self, item: pytest.Item) -> None:
        capture = item.stash.get(_CAPTURE_KEY, None)
        if capture is not None:
            capture.phase = "teardown"

    def _judge(self, item: pytest.Item) -> list[tuple[str, int | None]]:
        """The problems that fail this test: budget violations, then unknown models and unreadable bodies."""
        capture = item.stash.get(_CAPTURE_KEY, None)
        problems: list[tuple[str, int | None]] = []
        if capture is not None and capture.spec is not None:
            problems += [(violation.message, index) for violation, index in capture.violations()]
            problems += [(finding.message, finding.request_index) for finding in capture.findings]
        item.stash[_PROBLEMS_KEY] = problems
        return problems

    def _judge_silence(self, item: pytest.Item) -> list[tuple[str, int | None]]:
        """A passing budgeted test that sent no request: a failure with require_requests, else a warning."""
        capture = item.stash.get(_CAPTURE_KEY, None)
        if capture is None or capture.spec is None or capture.requests or capture.blocked:
            return []
        if capture.spec.require_requests:
            problems = [(NO_REQUEST_MESSAGE, None)]
            item.stash[_PROBLEMS_KEY] = problems
            return problems
        item.stash[_NO_REQUEST_KEY] = True
        return []

    def _note_unused_replies(self, item: pytest.Item) -> None:
        """Scripted replies a test double made pointless: said as a warning, and in the report of a failed test."""
        from ._errors import TokenBudgetWarning

        capture = item.stash.get(_CAPTURE_KEY, None)
        if capture is None or not capture.unused_replies:
            return
        elsewhere = [r.index for r in capture.requests if r.answered_by == _capture.ANSWERED_BY_DOUBLE]
        if not elsewhere:
            return
        unused, plural = capture.unused_replies, len(elsewhere) > 1
        note = (
            f"{item.nodeid}: {unused} scripted repl{'y' if unused == 1 else 'ies'} (token_budget.reply...) never "
            f"used: request{'s' if plural else ''} {', '.join(map(str, elsewhere))} {'were' if plural else 'was'} "
            "answered by a test double (mock, cassette or custom transport), and the app saw its reply; scripted "
            "replies only answer requests that would otherwise leave the machine"
        )
        item.stash[_NOTE_KEY] = note
        item.warn(TokenBudgetWarning(note))

    def _failure_text(self, item: pytest.Item, problems: list[tuple[str, int | None]]) -> str:
        capture = item.stash[_CAPTURE_KEY]
        assert capture is not None and capture.spec is not None
        records = [_report.request_record(request, self.rootpath) for request in capture.requests]
        return _report.failure_text(
            problems, records, capture.spec.limits(), verbosity=self.verbosity(), live=self.live, blocked=capture.blocked
        )

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
        outcome = yield
        report: pytest.TestReport = outcome.get_result()
        capture = item.stash.get(_CAPTURE_KEY, None)
        if capture is None:
            return
        if call.when == "call":
            problems = item.stash.get(_PROBLEMS_KEY, [])
            if problems:
                report.tokenbudget_headline = _report.headline(problems)  # type: ignore[attr-defined]
                if call.excinfo is not None and not getattr(call.excinfo.value, "tokenbudget", False):
                    # The test failed for its own reason too: keep that traceback, add our report.
                    report.sections.append((_SECTION, self._failure_text(item, problems)))
            note = item.stash.get(_NOTE_KEY, None)
            if note and report.failed:
                report.sections.append((_SECTION, note))
        elif call.when == "teardown":
            # Plain data only: this travels from xdist workers to the controller.
            report.tokenbudget = {  # type: ignore[attr-defined]
                "nodeid": item.nodeid,
                "requests": [_report.request_record(request, self.rootpath) for request in capture.requests],
                "blocked": list(capture.blocked),
                "no_request": item.stash.get(_NO_REQUEST_KEY, False),
            }

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(self, report: pytest.TestReport, config: pytest.Config) -> Any:
        if report.when == "call" and report.failed and getattr(report, "tokenbudget_headline", None):
            return "failed", "B", ("TOKEN BUDGET", {"red": True})
        return None

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        headline = getattr(report, "tokenbudget_headline", None)
        if headline and report.when == "call" and report.failed:
            self.failures.append((report.nodeid, headline))
        data = getattr(report, "tokenbudget", None)
        if report.when == "teardown" and data:
            self.tests.append(data)
            if data.get("no_request"):
                self.silent_tests.append(data["nodeid"])

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.failures:
            terminalreporter.write_sep("=", "token budget problems", red=True, bold=True)
            for nodeid, headline in self.failures:
                terminalreporter.write_line(f"BUDGET {nodeid} - {headline}")
        if self.silent_tests:
            terminalreporter.write_sep("=", "token budget warnings", yellow=True)
            for nodeid in self.silent_tests:
                terminalreporter.write_line(f"NO REQUEST {nodeid} - {NO_REQUEST_MESSAGE}")
        if self.summary_size is not None:
            terminalreporter.write_sep("=", "token budget summary")
            for line in _report.summary_lines(self.tests, self.summary_size, self.verbosity()):
                terminalreporter.write_line(line)


# --- the fixture ---------------------------------------------------------------------


NO_REQUEST_MESSAGE = (
    "no LLM request was seen, so the budget checked nothing (was the SDK call mocked, or made "
    "through a client the plugin does not intercept?)"
)


class TokenBudgetFixture:
    """What a test sees as ``token_budget``: its captured requests, counting helpers, scripted replies."""

    def __init__(self, capture: TestCapture) -> None:
        self._capture = capture

    def __repr__(self) -> str:
        return f"<token_budget {len(self.requests)} requests, {self.total_input_tokens:,} input tokens>"

    @property
    def requests(self) -> list[CapturedRequest]:
        """Every LLM request captured so far in this test, in order."""
        return list(self._capture.requests)

    @property
    def spec(self) -> BudgetSpec | None:
        """The merged budget in force (marker over configured defaults)."""
        return self._capture.spec

    @property
    def total_input_tokens(self) -> int:
        return sum(request.input_tokens or 0 for request in self._capture.requests)

    @property
    def total_tokens(self) -> int:
        """Input plus requested output over all requests: what max_total_tokens limits."""
        return sum(request.total_tokens or 0 for request in self._capture.requests)

    def _model(self, model: str | None) -> str:
        if model:
            return model
        if self._capture.spec is not None and self._capture.spec.model:
            return self._capture.spec.model
        for request in reversed(self._capture.requests):
            if request.resolved_model:
                return request.resolved_model
        raise ValueError("token_budget: pass model=...: no budget model is set and no request was captured yet")

    def count(self, text: str, model: str | None = None) -> int:
        """Tokens in ``text`` for ``model`` (default: the budget's model, else the last request's)."""
        from . import count_tokens

        return count_tokens(text, self._model(model), registry=self._capture.registry())

    def count_messages(self, messages: Any, model: str | None = None, *, tools: Any = None, system: Any = None) -> Any:
        """A RequestCount for a chat message list, without sending anything."""
        from . import count_messages

        return count_messages(messages, self._model(model), tools=tools, system=system, registry=self._capture.registry())

    def assert_within(self, **limits: Any) -> None:
        """Fail now if the requests captured so far break these limits (same keywords as the marker)."""
        from . import BudgetExceeded

        try:
            spec = spec_from_sources([("token_budget.assert_within", limits, ())])
        except MarkerError as error:
            raise TypeError(str(error)) from None
        if spec.model is not None:
            raise TypeError("token_budget.assert_within: model= is not a limit; set it on the marker")
        violations = self._capture.check_spec(spec)
        if violations:
            raise BudgetExceeded([violation for violation, _ in violations])

    def reply(self, text: str) -> None:
        """Queue a text answer for the next LLM request (replies are used in order)."""
        from ._synthetic import ScriptedReply

        self._capture.queue_reply(ScriptedReply(text=str(text)))

    def reply_tool_call(self, name: str, arguments: Mapping[str, Any] | None = None, *, text: str | None = None) -> None:
        """Queue an answer that calls tool ``name`` with ``arguments`` (and optionally says ``text``)."""
        from ._synthetic import ScriptedReply, ToolCall

        self._capture.queue_reply(ScriptedReply(text=text, tool_calls=(ToolCall(name, dict(arguments or {})),)))

    def default_reply(self, text: str) -> None:
        """The answer given once the queued replies are used up."""
        from ._synthetic import ScriptedReply

        self._capture.set_default_reply(ScriptedReply(text=str(text)))


@pytest.fixture
def token_budget(request: pytest.FixtureRequest) -> TokenBudgetFixture:
    """The LLM requests this test made, helpers to count text and assert limits, and scripted replies."""
    capture = request.node.stash.get(_CAPTURE_KEY, None)
    if capture is None:
        pytest.fail(
            "token_budget fixture: requests are not being intercepted in this test "
            "(is the test run with -p no:tokenbudget, or in a non-function scope?)",
            pytrace=False,
        )
    return TokenBudgetFixture(capture)
