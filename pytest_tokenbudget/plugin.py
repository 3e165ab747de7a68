"""The pytest plugin: ``@pytest.mark.token_budget(...)`` fails a test whose LLM requests break their budget.

Flow for a budgeted test (marker, or the ``token_budget`` fixture):
``pytest_runtest_protocol`` parses the marker and installs the HTTP patches
for setup, call and teardown; every LLM request is counted, whoever answers it
(the test's mocks, cassettes, transports, local servers), and those that would
leave the machine are answered locally; after the call the budget is checked
and the test fails, even when the app swallowed every exception. When a baseline file exists
(``_baseline``), each request is also compared with its entry there, and growth past the tolerance
fails the test the same way. Reports carry plain data so the summary is right under pytest-xdist,
and the xdist controller alone writes the baseline.

Only pytest is imported at module level: pytest loads this module on every run.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping

import pytest

# Light modules (no SDK, no tokenizer): loading them here keeps one copy of the
# interception state even when a host process re-imports lazily loaded modules.
from . import _baseline, _capture, _ci_reports, _count_cache, _intercept, _report
from ._marker import INI_KEYS, MARKER_HELP, MARKER_NAME, BudgetSpec, MarkerError, parse_spec, spec_from_sources

if TYPE_CHECKING:
    from ._capture import CapturedRequest, TestCapture

_CAPTURE_KEY = pytest.StashKey["TestCapture | None"]()
_SETUP_ERROR_KEY = pytest.StashKey["str | None"]()
_PROBLEMS_KEY = pytest.StashKey["list[tuple[str, int | None]]"]()
_NOTE_KEY = pytest.StashKey["str | None"]()
_NO_REQUEST_KEY = pytest.StashKey[bool]()
_OBSERVER_KEY = pytest.StashKey["Any"]()
_COMPLETED_KEY = pytest.StashKey[bool]()

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
    group.addoption(
        "--tokenbudget-baseline",
        metavar="PATH",
        default=None,
        help="the prompt-size baseline file (default: [tool.tokenbudget] baseline, else "
        "tokenbudget-baseline.json at the rootdir); budgeted tests fail when a prompt grew past it",
    )
    group.addoption(
        "--tokenbudget-update",
        action="store_true",
        default=False,
        help="write the baseline: add new entries, update changed ones, remove unused ones "
        "(refused when the CI environment variable is set)",
    )
    group.addoption(
        "--tokenbudget-add-new",
        action="store_true",
        default=False,
        help="write only the baseline entries that are missing; changed entries stay and are still judged",
    )
    group.addoption(
        "--tokenbudget-coverage",
        action="append",
        nargs="?",
        const=True,
        default=None,
        metavar="PATH",
        help="after the run, report which LLM call sites under PATH (default: [tool.tokenbudget.coverage] "
        "source, else the rootdir) were exercised by budgeted tests; repeat for several paths "
        "(write --tokenbudget-coverage=PATH)",
    )
    group.addoption(
        "--tokenbudget-coverage-fail-under",
        type=float,
        metavar="N",
        default=None,
        help="fail the session when budget coverage is below N percent",
    )
    group.addoption(
        "--tokenbudget-json",
        metavar="PATH",
        default=None,
        help="write a JSON report of every captured LLM request (counts, limits, verdicts; no prompt text)",
    )
    group.addoption(
        "--tokenbudget-json-bodies",
        action="store_true",
        default=False,
        help="also put each request body in the JSON report: PROMPT TEXT, so `tokenbudget record` can "
        "count Claude requests that have no recorded count yet",
    )
    parser.addini("tokenbudget_json", "path of the JSON report (like --tokenbudget-json), relative to the rootdir", default=None)
    parser.addini(
        "tokenbudget_github_summary",
        "append a Markdown summary to $GITHUB_STEP_SUMMARY when it is set (default true)",
        type="bool",
        default=True,
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
        self.coverage = self._coverage_settings(table)
        self.coverage_result: dict[str, Any] | None = None  # plain data, for reports that want it
        self._imported_elsewhere: set[str] = set()  # files xdist workers imported
        self.baseline = _baseline.BaselineRun(config, table, self._pyproject_path())
        self.ci_reports = self._ci_reports(table)
        self._registry: Any = None
        self._specs: dict[tuple[int, ...], tuple[tuple[Any, ...], BudgetSpec]] = {}
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

    def _coverage_settings(self, table: Mapping[str, Any]) -> Any:
        from ._coverage import settings_from

        option = self.config.getoption("tokenbudget_coverage")
        fail_under = self.config.getoption("tokenbudget_coverage_fail_under")
        if fail_under is not None and not 0 <= fail_under <= 100:
            raise pytest.UsageError("pytest-tokenbudget: --tokenbudget-coverage-fail-under must be from 0 to 100")
        if fail_under is not None and not option:
            option = [True]  # a threshold asks for the measurement, as --cov-fail-under does not need to
        coverage_table = table.get("coverage", {})
        where = f"{self._pyproject_path()}: [tool.tokenbudget.coverage]"
        if not isinstance(coverage_table, dict):
            raise pytest.UsageError(f"pytest-tokenbudget: {where} must be a table")
        try:
            return settings_from(option, coverage_table, self.config.rootpath,
                                 self.config.invocation_params.dir, fail_under, where)
        except ValueError as error:
            raise pytest.UsageError(f"pytest-tokenbudget: {error}") from None

    def _ci_reports(self, table: Mapping[str, Any]) -> _ci_reports.CIReports:
        """Where the JSON report and the step summary go: options first, then ini, then [tool.tokenbudget]."""
        json_path: Path | None = None
        if self.config.getoption("tokenbudget_json"):
            json_path = Path(self.config.invocation_params.dir, self.config.getoption("tokenbudget_json"))
        else:
            configured = self.config.getini("tokenbudget_json") or table.get("json-report")
            if configured is not None and not isinstance(configured, str):
                raise pytest.UsageError(f"pytest-tokenbudget: {self._pyproject_path()}: [tool.tokenbudget] json-report "
                                        f"must be a path string, not {configured!r}")
            json_path = self.config.rootpath / configured if configured else None
        if json_path is not None and json_path.is_dir():
            raise pytest.UsageError(f"pytest-tokenbudget: the JSON report path {json_path} is a directory; "
                                    "give a file name, e.g. --tokenbudget-json=tokenbudget-report.json")
        summary = _ci_reports.step_summary_path() if self.config.getini("tokenbudget_github_summary") else None
        return _ci_reports.CIReports(
            json_path=json_path,
            bodies=bool(self.config.getoption("tokenbudget_json_bodies")),
            step_summary_path=summary,
            summary_rows=self.summary_size if self.summary_size is not None else _ci_reports.DEFAULT_SUMMARY_ROWS,
        )

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
        markers = tuple(item.iter_markers(MARKER_NAME))  # nearest first
        if not markers and "token_budget" not in getattr(item, "fixturenames", ()):
            return None
        # Parametrized tests and the tests of a module share their Mark objects: merge each set once.
        # The cache keeps the marks alive, so their ids cannot be reused by other marks meanwhile.
        key = tuple(map(id, markers))
        cached = self._specs.get(key)
        if cached is not None:
            return cached[1]
        where = f"token_budget marker on {item.nodeid}"
        sources = list(self.default_sources)
        sources += [(where, dict(marker.kwargs), tuple(marker.args)) for marker in reversed(markers)]
        spec = spec_from_sources(sources)  # an error names this item, so only successes are kept
        self._specs[key] = (markers, spec)
        return spec

    def new_capture(self, nodeid: str, spec: BudgetSpec | None) -> TestCapture:
        return _capture.TestCapture(nodeid, spec, live=self.live, base_urls=self.base_urls, registry_loader=self.registry,
                                    collect_stacks=self.coverage is not None)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.baseline.load()  # first: a broken baseline stops the run before xdist starts workers
        # A suite resends the same prompts run after run: their remembered counts spare a re-run
        # the tokenizer's construction, most of its first budgeted test.
        _count_cache.enable()
        if self.capture_mode == "session" and not self.live:
            self._session_capture = self.new_capture("<session>", None)
            _intercept.install(self._session_capture)

    @pytest.hookimpl
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        _count_cache.save()
        if self._session_capture is not None:
            _intercept.uninstall(self._session_capture)
            self._session_capture = None
        _intercept.release()
        workeroutput = getattr(self.config, "workeroutput", None)
        if self.coverage is not None and workeroutput is not None:
            workeroutput["tokenbudget_imported"] = sorted(_imported_files(str(self.config.rootpath)))
        self.baseline.finish(session, self.tests)
        if not hasattr(self.config, "workerinput"):  # under xdist, the controller writes the reports
            self.ci_reports.finish(self.tests, int(session.exitstatus), self.coverage_result)

    # --- what was collected: a baseline entry is only unused when its test surely ran or is gone -------

    @pytest.hookimpl
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.baseline.note_collected(item.nodeid for item in session.items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self.baseline.note_collected(ids)

    @pytest.hookimpl
    def pytest_deselected(self, items: list[pytest.Item]) -> None:
        if items:
            self.baseline.note_filtered()

    @pytest.hookimpl
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.baseline.note_filtered()

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        output = getattr(node, "workeroutput", None) or {}
        if output.get("tokenbudget_filtered"):
            self.baseline.note_filtered()
        # The files the worker imported, for "never imported" in the coverage report.
        self._imported_elsewhere.update(output.get("tokenbudget_imported", ()))

    # New-style wrappers (wrapper=True): pluggy runs them with less machinery than old-style
    # hookwrappers, and these run for every test.
    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Iterator[Any]:
        capture = None
        item.stash[_SETUP_ERROR_KEY] = None
        item.stash[_NO_REQUEST_KEY] = False
        item.stash[_COMPLETED_KEY] = False
        try:
            spec = self.spec_for(item)
        except MarkerError as error:
            item.stash[_SETUP_ERROR_KEY] = str(error)
            spec = None
        if spec is not None or (self.capture_mode == "session" and item.stash[_SETUP_ERROR_KEY] is None):
            try:
                capture = self.new_capture(item.nodeid, spec)
                capture.baselined = not getattr(getattr(item, "obj", None), "is_hypothesis_test", False)
            except (TypeError, ValueError) as error:  # the core's Budget rejected a value
                item.stash[_SETUP_ERROR_KEY] = f"token_budget marker on {item.nodeid}: {error}"
        item.stash[_CAPTURE_KEY] = capture
        observer = None
        if capture is None and self.coverage is not None:
            # Coverage must see unbudgeted tests' requests too: watched, never answered or judged.
            observer = _capture.StackObserver(self.base_urls)
        item.stash[_OBSERVER_KEY] = observer
        handler = capture or observer
        if handler is None:
            return (yield)
        _intercept.install(handler)
        try:
            return (yield)
        finally:
            # Idle patches stay for the next budgeted test; pytest_sessionfinish takes them off.
            _intercept.uninstall(handler, keep_patches=True)
            item.stash[_OBSERVER_KEY] = None
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
        item.stash[_COMPLETED_KEY] = True
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
            if self.baseline.judges(capture):  # records cost more than the rest of the verdict
                problems += self.baseline.problems(capture, self._records(capture), self.verbosity())
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

    def _records(self, capture: TestCapture) -> list[dict[str, Any]]:
        """The test's requests as plain data, with their baseline keys and comparisons."""
        records = [_report.request_record(request, self.rootpath) for request in capture.requests]
        self.baseline.annotate(capture, records)
        return records

    def _note_unused_replies(self, item: pytest.Item) -> None:
        """Scripted replies a test double made pointless: said as a warning, and in the report of a failed test."""
        capture = item.stash.get(_CAPTURE_KEY, None)
        if capture is None or not capture.unused_replies:
            return
        elsewhere = [r.index for r in capture.requests if r.answered_by == _capture.ANSWERED_BY_DOUBLE]
        if not elsewhere:
            return
        from ._errors import TokenBudgetWarning

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
        records = self._records(capture)
        return _report.failure_text(
            problems, records, capture.spec.limits(), verbosity=self.verbosity(), live=self.live, blocked=capture.blocked
        )

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[Any]:
        report: pytest.TestReport = yield
        self._complete_report(item, call, report)
        return report

    def _complete_report(self, item: pytest.Item, call: pytest.CallInfo[None], report: pytest.TestReport) -> None:
        capture = item.stash.get(_CAPTURE_KEY, None)
        if capture is None:
            observer = item.stash.get(_OBSERVER_KEY, None)
            if call.when == "teardown" and observer is not None and observer.stacks:
                report.tokenbudget = {  # type: ignore[attr-defined]
                    "nodeid": item.nodeid, "requests": [], "blocked": [], "no_request": False,
                    "budgeted": False, "completed": False, "stacks": observer.stacks,
                }
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
                "requests": self._records(capture),
                "blocked": list(capture.blocked),
                "no_request": item.stash.get(_NO_REQUEST_KEY, False),
                "budgeted": capture.spec is not None,
                "baselined": capture.baselined,
                # Ran to its end (passed, or failed only its budget): its missing entries are unused.
                "completed": item.stash.get(_COMPLETED_KEY, False),
            }
            if self.coverage is not None:
                report.tokenbudget["stacks"] = [r.stack for r in capture.requests if r.stack]  # type: ignore[attr-defined]
            self._add_report_details(report, capture, item.stash.get(_PROBLEMS_KEY, []))

    def _add_report_details(self, report: pytest.TestReport, capture: TestCapture,
                            problems: list[tuple[str, int | None]]) -> None:
        """What the CI reports need beyond the summary's data; the JUnit XML properties go on the teardown
        report, the one ``--junitxml`` reads them from."""
        data = report.tokenbudget  # type: ignore[attr-defined]
        reports = self.ci_reports
        _ci_reports.add_test_details(data, capture, problems, lock_keys=reports.wants_lock_keys, bodies=reports.bodies)
        report.user_properties.extend(_ci_reports.junit_properties(data))

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(self, report: pytest.TestReport, config: pytest.Config) -> Any:
        if report.when == "call" and report.failed and getattr(report, "tokenbudget_headline", None):
            return "failed", "B", ("TOKEN BUDGET", {"red": True})
        return None

    @pytest.hookimpl
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" and report.passed:
            self.baseline.note_passed(report.nodeid)
        self.ci_reports.note_phase(report.nodeid, report.when, report.outcome, hasattr(report, "wasxfail"))
        headline = getattr(report, "tokenbudget_headline", None)
        if headline and report.when == "call" and report.failed:
            self.failures.append((report.nodeid, headline))
        data = getattr(report, "tokenbudget", None)
        if report.when == "teardown" and data:
            self.tests.append(data)
            if data.get("no_request"):
                self.silent_tests.append(data["nodeid"])

    # --- budget coverage ---------------------------------------------------------------

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Iterator[None]:
        outcome = yield
        if self.coverage is None or outcome.excinfo is not None or self.config.option.collectonly:
            return
        if hasattr(self.config, "workerinput"):
            return  # an xdist worker: its stacks went out on the reports, the controller decides
        self.coverage_result = self._measure_coverage()
        from ._coverage import fails_under

        if fails_under(self.coverage_result):
            session.testsfailed += 1  # a non-zero exit status, as pytest-cov's --cov-fail-under gives

    def _measure_coverage(self) -> dict[str, Any]:
        from checker.config import ConfigError
        from checker.inventory import call_inventory

        from ._coverage import coverage_result

        try:
            inventory = call_inventory(self.coverage.paths, cwd=self.config.rootpath).as_dict()
        except ConfigError as error:
            inventory = {"sites": [], "failed": True, "problems": [f"cannot list the LLM call sites: {error}"]}
        except Exception as error:  # noqa: BLE001 - a bug of the inventory must not take the test run down
            inventory = {"sites": [], "failed": True, "problems": [
                f"internal error listing the LLM call sites ({type(error).__name__}: {error}); please report it"]}
        imported = _imported_files(str(self.config.rootpath)) | self._imported_elsewhere
        return coverage_result(inventory, self.tests, self.coverage, imported, self.rootpath)

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
        self.baseline.summary(terminalreporter, self.verbosity())
        if self.summary_size is not None:
            terminalreporter.write_sep("=", "token budget summary")
            for line in _report.summary_lines(self.tests, self.summary_size, self.verbosity()):
                terminalreporter.write_line(line)
        if self.coverage_result is not None:
            from ._coverage import coverage_lines, fails_under

            failed = fails_under(self.coverage_result)
            terminalreporter.write_sep("=", "token budget coverage", red=failed, bold=failed)
            for line in coverage_lines(self.coverage_result, self.verbosity()):
                terminalreporter.write_line(line)
        for line, is_error in self.ci_reports.messages:
            terminalreporter.write_sep("-", line, red=is_error)


def _imported_files(rootpath: str) -> set[str]:
    """Real paths of the modules under the rootdir this process has imported."""
    import os
    import sys

    found = set()
    for module in list(sys.modules.values()):
        filename = getattr(module, "__file__", None)
        if isinstance(filename, str) and filename.startswith(rootpath):
            found.add(os.path.realpath(filename))
    return found


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
