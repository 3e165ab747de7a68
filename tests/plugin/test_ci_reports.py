"""CI reports from real runs through the real openai and anthropic clients: the JSON report
(--tokenbudget-json), JUnit XML properties, GitHub's step summary, under pytest-xdist too, and
`tokenbudget record` reading the report."""

from __future__ import annotations

import importlib
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from pytest_tokenbudget import count_request
from pytest_tokenbudget._recorded import canonical_key, load_lock, run_record

pytest.importorskip("openai")
anthropic = pytest.importorskip("anthropic")

PROMPT = "PURPLE-ELEPHANT-7731 where is my parcel?"
OPENAI_FIRST = {"model": "gpt-4o", "max_tokens": 100, "messages": [
    {"role": "system", "content": "You are the support bot of an outdoor shop."}, {"role": "user", "content": PROMPT}]}
OPENAI_SECOND = {"model": "gpt-4o-mini", "max_tokens": 50, "messages": [{"role": "user", "content": PROMPT * 3}]}
CLAUDE = {"model": "claude-sonnet-4-5", "max_tokens": 64, "system": "Be brief.",
          "messages": [{"role": "user", "content": PROMPT * 20}]}
CLAUDE_ID = "claude-sonnet-4-5-20250929"

SUITE = f"""
    import pytest

    OPENAI_FIRST = {OPENAI_FIRST!r}
    OPENAI_SECOND = {OPENAI_SECOND!r}
    CLAUDE = {CLAUDE!r}

    @pytest.mark.token_budget(max_input_tokens=500, max_output_tokens=256)
    def test_openai_fits(openai_client):
        openai_client.chat.completions.create(**OPENAI_FIRST)
        openai_client.chat.completions.create(**OPENAI_SECOND)

    @pytest.mark.token_budget(max_input_tokens=50)
    def test_claude_too_big(anthropic_client):
        anthropic_client.messages.create(**CLAUDE)

    @pytest.mark.token_budget(max_input_tokens=500)
    def test_refused_download(openai_client):
        try:
            openai_client._client.get("https://files.example.com/export?api_key=SECRET-IN-QUERY")
        except Exception:
            pass
        openai_client.chat.completions.create(**OPENAI_FIRST)

    @pytest.mark.token_budget(max_input_tokens=500)
    @pytest.mark.parametrize("case", ["a|b"])
    def test_param(openai_client, case):
        openai_client.chat.completions.create(**OPENAI_SECOND)

    @pytest.mark.token_budget(max_input_tokens=500)
    def test_skipped():
        pytest.skip("not today")

    def test_unbudgeted():
        pass
"""

SECRETS = ("sk-test-SECRET-openai-key", "sk-ant-SECRET-anthropic-key", "SECRET-IN-QUERY", "PURPLE-ELEPHANT")


def tokens(body: dict[str, Any]) -> int:
    return count_request(body).input_tokens


@pytest.fixture
def summary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "step_summary.md"
    path.write_text("# Unit tests\n\nEarlier step's words.\n", encoding="utf-8")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(path))
    return path


def test_one_run_writes_the_json_report_junit_properties_and_the_step_summary(inner: pytest.Pytester, summary_file: Path) -> None:
    inner.makepyfile(test_suite=SUITE)
    result = inner.runpytest("-p", "no:cacheprovider", "--tokenbudget-json=out/tokenbudget.json", "--junitxml=junit.xml")
    result.assert_outcomes(passed=4, failed=1, skipped=1)
    result.stdout.fnmatch_lines(["*- token budget JSON report: *out*tokenbudget.json (5 requests in 5 tests) -*"])

    text = (inner.path / "out" / "tokenbudget.json").read_text(encoding="utf-8")
    junit = (inner.path / "junit.xml").read_text(encoding="utf-8")
    summary = summary_file.read_text(encoding="utf-8")
    for secret in SECRETS:  # no key (headers or query string), no prompt text, in any of the three
        assert secret not in text and secret not in junit and secret not in summary, secret
    assert not list((inner.path / "out").glob("*.tmp"))

    report = json.loads(text)
    assert report["tokenbudget_report"] == 1 and report["exit_status"] == 1
    tests = {test["nodeid"]: test for test in report["tests"]}
    assert list(tests) == sorted(tests) and "test_suite.py::test_unbudgeted" not in tests
    assert {nodeid.split("::")[1]: test["outcome"] for nodeid, test in tests.items()} == {
        "test_claude_too_big": "failed", "test_openai_fits": "passed", "test_param[a|b]": "passed",
        "test_refused_download": "passed", "test_skipped": "skipped"}

    fits = tests["test_suite.py::test_openai_fits"]
    assert fits["limits"] == {"max_input_tokens": 500, "max_output_tokens": 256} and fits["problems"] == []
    first, second = fits["requests"]
    assert (first["index"], first["model"], first["tokenizer"], first["provenance"]) == (1, "gpt-4o", "o200k_base", "exact")
    assert first["input_tokens"] == tokens(OPENAI_FIRST) and second["input_tokens"] == tokens(OPENAI_SECOND)
    assert (first["max_output_tokens"], second["max_output_tokens"], second["model"]) == (100, 50, "gpt-4o-mini")
    source = (inner.path / "test_suite.py").read_text(encoding="utf-8").splitlines()
    line = next(number for number, text in enumerate(source, 1) if "create(**OPENAI_FIRST)" in text)
    assert first["call_site"] == f"test_suite.py:{line} in test_openai_fits" and first["url"] == "https://api.openai.com/v1/chat/completions"
    assert {part["label"] for part in first["breakdown"]} >= {"messages[0] system", "messages[1] user"}
    assert sum(part["tokens"] for part in first["breakdown"]) == first["input_tokens"]
    assert first["lock_key"] is None and "body" not in first and first["tokenizer_version"]

    claude = tests["test_suite.py::test_claude_too_big"]
    (request,) = claude["requests"]
    assert (request["api"], request["model"], request["input_tokens"]) == ("anthropic.messages", CLAUDE_ID, tokens(CLAUDE))
    assert request["lock_key"] == canonical_key(CLAUDE, CLAUDE_ID)  # the key `tokenbudget record` stores it under
    assert claude["problems"] == [{"message": f"prompt {tokens(CLAUDE):,} tokens > budget 50 ({CLAUDE_ID}, "
                                              f"{request['tokenizer']}, {request['provenance']})", "request": 1}]
    assert tests["test_suite.py::test_refused_download"]["blocked"] == ["GET https://files.example.com/export"]
    assert tests["test_suite.py::test_skipped"]["requests"] == []

    totals = report["totals"]
    all_tokens = tokens(OPENAI_FIRST) * 2 + tokens(OPENAI_SECOND) * 2 + tokens(CLAUDE)
    assert (totals["tests"], totals["requests"], totals["input_tokens"], totals["tests_over_budget"]) == (5, 5, all_tokens, 1)
    assert totals["max_output_tokens"] == 100 * 2 + 50 * 2 + 64 and totals["models"]["gpt-4o"] == {
        "requests": 2, "input_tokens": tokens(OPENAI_FIRST) * 2}

    cases = {case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
             for case in ET.fromstring(junit).iter("testcase")}
    assert cases["test_openai_fits"] == {
        "tokenbudget_requests": "2", "tokenbudget_input_tokens": str(tokens(OPENAI_FIRST) + tokens(OPENAI_SECOND)),
        "tokenbudget_largest_request_input_tokens": str(max(tokens(OPENAI_FIRST), tokens(OPENAI_SECOND))),
        "tokenbudget_model": "gpt-4o, gpt-4o-mini", "tokenbudget_max_input_tokens": "500",
        "tokenbudget_max_output_tokens": "256"}
    assert cases["test_claude_too_big"]["tokenbudget_problem"].startswith(f"prompt {tokens(CLAUDE):,} tokens > budget 50")
    assert cases["test_unbudgeted"] == {}

    assert summary.startswith("# Unit tests\n\nEarlier step's words.\n")  # appended, never overwritten
    ours = summary.split("## Token budget", 1)[1]
    assert f"5 LLM requests in 5 tests, {all_tokens:,} input tokens" in ours and "1 over budget" in ours
    assert "### Budget failures (1)" in ours and "| `test_suite.py::test_claude_too_big` | prompt " in ours
    heaviest = [line for line in ours.split("### Heaviest prompts", 1)[1].splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(heaviest) == 5 and heaviest[0].startswith(f"| {tokens(CLAUDE):,} | 50 | 64 | {CLAUDE_ID} ")
    assert any("`test_suite.py::test_param[a\\|b]` [1]" in row for row in heaviest)  # a pipe would split the cell
    assert "Baseline regressions" not in ours  # no baseline fields, no section


WORKER_PROBE = """

@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session):
    # Runs on each xdist worker after the plugin's own sessionfinish: the worker must not have written.
    worker = getattr(session.config, "workerinput", None)
    if worker is not None:
        report = session.config.rootpath / "reports" / "tb.json"
        (session.config.rootpath / f"probe-{worker['workerid']}.txt").write_text(str(report.exists()))
"""


XDIST_SUITE = """
    import pytest

    @pytest.mark.token_budget(max_input_tokens=50, max_output_tokens=100)
    @pytest.mark.parametrize("words", [1, 2, 3, 200])
    def test_question(openai_client, words):
        openai_client.chat.completions.create(model="gpt-4o", max_tokens=10,
                                              messages=[{"role": "user", "content": "WORD " * words}])
"""

# Plugins the inner run does not need: every xdist worker would import them (seconds of CPU each).
NOT_NEEDED = ("-p", "no:hypothesispytest", "-p", "no:langsmith_plugin", "-p", "no:recording")


def test_under_xdist_the_controller_writes_one_complete_report(inner: pytest.Pytester, summary_file: Path) -> None:
    pytest.importorskip("xdist")
    # The inner conftest the fixture wrote, plus a probe: importing `conftest` here would find whichever
    # conftest module was imported first (examples/ has one too).
    inner.makeconftest((inner.path / "conftest.py").read_text() + WORKER_PROBE)
    inner.makefile(".toml", pyproject='[tool.tokenbudget]\njson-report = "reports/tb.json"\n')
    inner.makepyfile(test_a=XDIST_SUITE, test_b=XDIST_SUITE.replace("WORD", "TERM"))
    result = inner.runpytest("-p", "no:cacheprovider", *NOT_NEEDED, "-n", "2")
    result.assert_outcomes(passed=6, failed=2)
    probes = sorted(inner.path.glob("probe-*.txt"))
    assert [probe.read_text() for probe in probes] == ["False", "False"]  # both workers ran, neither wrote

    report = json.loads((inner.path / "reports" / "tb.json").read_text(encoding="utf-8"))
    nodeids = [test["nodeid"] for test in report["tests"]]
    expected = sorted(f"test_{file}.py::test_question[{words}]" for file in "ab" for words in (1, 2, 3, 200))
    assert nodeids == expected  # every test once, sorted whatever worker ran it
    outcomes = {test["nodeid"]: test["outcome"] for test in report["tests"]}
    assert [nodeid for nodeid, outcome in outcomes.items() if outcome == "failed"] == [
        "test_a.py::test_question[200]", "test_b.py::test_question[200]"]
    sent = [{"model": "gpt-4o", "max_tokens": 10, "messages": [{"role": "user", "content": f"{word} " * words}]}
            for word in ("WORD", "TERM") for words in (1, 2, 3, 200)]
    assert report["totals"]["requests"] == 8 and report["totals"]["input_tokens"] == sum(map(tokens, sent))
    assert report["totals"]["tests_over_budget"] == 2
    assert summary_file.read_text(encoding="utf-8").count("## Token budget") == 1
    assert not list((inner.path / "reports").glob("*.tmp"))


BASELINED_APP = """
    from pathlib import Path

    def ask(client, question):
        system = (Path(__file__).parent / "system.txt").read_text()
        return client.chat.completions.create(model="gpt-4o", max_tokens=100, messages=[
            {"role": "system", "content": system}, {"role": "user", "content": question}])
"""

BASELINED_TESTS = """
    import pytest
    import app

    @pytest.mark.token_budget(max_input_tokens=5000)
    def test_refund(openai_client):
        app.ask(openai_client, "I want a refund for order A-1042.")

    @pytest.mark.token_budget(max_input_tokens=5000)
    def test_hello(openai_client):
        app.ask(openai_client, "Hi")
"""

SENTENCE = "You are the support assistant of an outdoor shop. Answer briefly and politely. "


def test_a_prompt_grown_past_its_baseline_shows_in_every_report(inner: pytest.Pytester, summary_file: Path) -> None:
    from pytest_tokenbudget._compare import run_compare

    inner.makepyfile(app=BASELINED_APP, test_bot=BASELINED_TESTS)
    (inner.path / "system.txt").write_text(SENTENCE * 10)
    inner.runpytest("-p", "no:cacheprovider", "--tokenbudget-update").assert_outcomes(passed=2)
    (inner.path / "system.txt").write_text(SENTENCE * 12)  # the system prompt grows by 20%
    result = inner.runpytest("-p", "no:cacheprovider", "--tokenbudget-json=report.json", "--junitxml=junit.xml")
    result.assert_outcomes(failed=2)

    report = json.loads((inner.path / "report.json").read_text(encoding="utf-8"))
    records = {test["nodeid"]: test["requests"][0] for test in report["tests"]}
    refund = records["test_bot.py::test_refund"]
    assert refund["baseline_key"] == "test_bot.py::test_refund @ app.py:ask #1"
    assert refund["baseline"]["status"] == "grew" and refund["baseline"]["over_tolerance"] is True
    assert refund["baseline"]["after"] == refund["input_tokens"]
    assert refund["baseline"]["delta"] == refund["input_tokens"] - refund["baseline"]["before"] > 0
    assert report["totals"]["baseline_regressions"] == 2 and report["totals"]["tests_over_budget"] == 2

    cases = {case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
             for case in ET.fromstring((inner.path / "junit.xml").read_text(encoding="utf-8")).iter("testcase")}
    assert cases["test_refund"]["tokenbudget_baseline_delta"] == str(refund["baseline"]["delta"])
    assert cases["test_refund"]["tokenbudget_baseline_delta_pct"] == str(refund["baseline"]["delta_pct"])
    assert cases["test_refund"]["tokenbudget_problem"].startswith("prompt grew past its baseline")

    sections = summary_file.read_text(encoding="utf-8").split("## Token budget")
    assert len(sections) == 3  # the update run appended its own section, then this run
    summary = sections[-1]
    assert "2 over budget, 2 baseline regressions." in summary
    regressions = summary.split("### Baseline regressions (2)", 1)[1].split("###", 1)[0]
    before, after, delta = (refund["baseline"][key] for key in ("before", "after", "delta"))
    source = (inner.path / "app.py").read_text(encoding="utf-8").splitlines()
    line = next(number for number, text in enumerate(source, 1) if "client.chat.completions.create" in text)
    assert (f"| `test_bot.py::test_refund` | 1 | {before:,} | {after:,} | +{delta:,} "
            f"(+{refund['baseline']['delta_pct']:.1f}%) | `app.py:{line} in ask` |") in regressions
    # The report is an input `tokenbudget compare` reads: the same growth, judged against the baseline.
    assert run_compare([str(inner.path / "tokenbudget-baseline.json"), str(inner.path / "report.json")]) == 1


# --- tokenbudget record reads the report -------------------------------------------------------------------


class CountTokensServer:
    """Anthropic's count-tokens endpoint, faked at the HTTP transport of the real SDK client."""

    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []

    def handle(self, request: Any) -> Any:
        payload = json.loads(request.content)
        self.payloads.append(payload)
        return self.httpx.Response(200, json={"input_tokens": 1000 + len(json.dumps(payload["messages"]))})

    def client(self) -> Any:
        # httpx2 for current SDK releases, httpx for the older ones CI also runs: whichever the SDK is built on.
        self.httpx = next(importlib.import_module(cls.__module__.partition(".")[0])
                          for cls in anthropic.DefaultHttpxClient.__mro__
                          if cls.__module__.partition(".")[0] in ("httpx", "httpx2"))
        return anthropic.Anthropic(api_key="test", max_retries=0,
                                   http_client=anthropic.DefaultHttpxClient(transport=self.httpx.MockTransport(self.handle)))


CLAUDE_SUITE = """
    import pytest

    TOOLS = [{"name": "track", "description": "Track a parcel", "input_schema": {"type": "object"}}]

    @pytest.mark.token_budget(max_input_tokens=5_000)
    @pytest.mark.parametrize("shop", ["north", "south"])
    def test_same_prompt_twice(anthropic_client, shop):
        anthropic_client.messages.create(model="claude-sonnet-4-5", max_tokens=64,
                                         messages=[{"role": "user", "content": "Where is my parcel?"}])

    @pytest.mark.token_budget(max_input_tokens=5_000)
    def test_with_tools(anthropic_client, openai_client):
        anthropic_client.messages.create(model="claude-haiku-4-5", max_tokens=64, system="Be brief.", tools=TOOLS,
                                         messages=[{"role": "user", "content": "Track A-1042"}])
        openai_client.chat.completions.create(model="gpt-4o", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
"""


def claude_records(report_path: Path) -> list[dict[str, Any]]:
    report = json.loads(report_path.read_text(encoding="utf-8"))
    return [r for test in report["tests"] for r in test["requests"] if r["api"] == "anthropic.messages"]


def test_record_from_the_report_then_the_suite_counts_exactly(inner: pytest.Pytester, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("TOKENBUDGET_LOCK", raising=False)
    inner.makepyfile(test_claude_recorded=CLAUDE_SUITE)
    lock = inner.path / "tokenbudget.lock.json"
    inner.runpytest("-p", "no:cacheprovider", "--tokenbudget-json=with-bodies.json",
                    "--tokenbudget-json-bodies").assert_outcomes(passed=3)
    with_bodies = (inner.path / "with-bodies.json").read_text(encoding="utf-8")
    assert "Where is my parcel?" in with_bodies  # asked for: the prompt text is there, the keys still are not
    assert "sk-ant-SECRET-anthropic-key" not in with_bodies and "sk-test-SECRET-openai-key" not in with_bodies
    server = CountTokensServer()
    assert run_record([str(inner.path / "with-bodies.json"), "--lock", str(lock)], client=server.client()) == 0
    assert "1 request of the report is not Claude Messages requests" in capsys.readouterr().err
    assert len(server.payloads) == 2  # the prompt both parametrized tests send is counted once
    assert server.payloads[1]["tools"][0]["name"] == "track" and server.payloads[1]["system"] == "Be brief."
    keys = {record["lock_key"] for record in claude_records(inner.path / "with-bodies.json")}
    assert set(load_lock(lock)) == keys and len(keys) == 2

    # The next run counts the same requests exactly, from the lock file, and its report says so.
    inner.runpytest("-p", "no:cacheprovider", "--tokenbudget-json=plain.json").assert_outcomes(passed=3)
    plain = claude_records(inner.path / "plain.json")
    assert {r["provenance"] for r in plain} == {"recorded"} and all("body" not in r for r in plain)
    entries = load_lock(lock)
    assert all(r["input_tokens"] == entries[r["lock_key"]]["input_tokens"] for r in plain)

    # A report without bodies: enough to keep recorded entries (--prune), not to count new ones.
    before = lock.read_text(encoding="utf-8")
    lock.write_text(json.dumps({"entries": {**entries, "0" * 64: {"input_tokens": 5, "model": CLAUDE_ID}}, "version": 1}))
    assert run_record([str(inner.path / "plain.json"), "--lock", str(lock), "--prune"], client=server.client()) == 0
    assert "0 recorded, 2 unchanged, 1 pruned" in capsys.readouterr().out
    assert lock.read_text(encoding="utf-8") == before and len(server.payloads) == 2
    haiku_key = next(r["lock_key"] for r in plain if "haiku" in r["model"])
    lock.write_text(json.dumps({"entries": {k: v for k, v in entries.items() if k != haiku_key}, "version": 1}))
    unchanged = lock.read_text(encoding="utf-8")
    assert run_record([str(inner.path / "plain.json"), "--lock", str(lock)], client=server.client()) == 2
    error = capsys.readouterr().err
    assert "1 Claude request of the JSON report has no body to count" in error
    assert "test_claude_recorded.py::test_with_tools request 1 (claude-haiku-4-5" in error and "--tokenbudget-json-bodies" in error
    assert lock.read_text(encoding="utf-8") == unchanged and len(server.payloads) == 2


def test_a_broken_report_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"tokenbudget_report": 7, "tests": []}))
    assert run_record([str(path), "--lock", str(tmp_path / "lock.json")], client=object()) == 2
    assert f"{path}: JSON report version 7 is not supported" in capsys.readouterr().err
    path.write_text(json.dumps({"tokenbudget_report": 1, "tests": [{"nodeid": "t.py::t"}]}))
    assert run_record([str(path), "--lock", str(tmp_path / "lock.json")], client=object()) == 2
    assert "every test needs a \"requests\" list" in capsys.readouterr().err


def test_a_failure_report_names_refused_urls_without_their_query(inner: pytest.Pytester) -> None:
    inner.makepyfile(
        """
        import pytest

        @pytest.mark.token_budget(max_input_tokens=5)
        def test_too_big(openai_client):
            try:
                openai_client._client.get("https://files.example.com/export?api_key=SECRET-IN-QUERY")
            except Exception:
                pass
            openai_client.chat.completions.create(model="gpt-4o", max_tokens=10,
                                                  messages=[{"role": "user", "content": "hello " * 20}])
        """
    )
    result = inner.runpytest("-p", "no:cacheprovider", "--junitxml=junit.xml")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["also refused (not LLM requests, never sent): GET https://files.example.com/export"])
    assert "SECRET" not in result.stdout.str() and "SECRET" not in (inner.path / "junit.xml").read_text(encoding="utf-8")


# --- configuration ---------------------------------------------------------------------------------------


def test_bad_report_settings_are_usage_errors(inner: pytest.Pytester) -> None:
    inner.makepyfile("def test_nothing():\n    pass\n")
    (inner.path / "out").mkdir()
    result = inner.runpytest("-p", "no:cacheprovider", "--tokenbudget-json=out")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*the JSON report path *out is a directory; give a file name*"])
    inner.makefile(".toml", pyproject="[tool.tokenbudget]\njson-report = 3\n")
    result = inner.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*pyproject.toml: [[]tool.tokenbudget[]] json-report must be a path string, not 3*"])


def test_ini_settings_place_the_report_and_turn_the_step_summary_off(inner: pytest.Pytester, summary_file: Path) -> None:
    inner.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\ntokenbudget_json = reports/from-ini.json\ntokenbudget_github_summary = false\n")
    inner.makepyfile(test_quiet="import pytest\n\n@pytest.mark.token_budget(max_input_tokens=10)\ndef test_sends_nothing():\n    pass\n")
    (inner.path / "sub").mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(inner.path / "sub")  # relative to the rootdir, not to where pytest runs
        inner.runpytest("-p", "no:cacheprovider", str(inner.path)).assert_outcomes(passed=1)
    report = json.loads((inner.path / "reports" / "from-ini.json").read_text(encoding="utf-8"))
    assert [test["nodeid"] for test in report["tests"]] == ["test_quiet.py::test_sends_nothing"]
    assert report["tests"][0]["no_request"] is True and report["totals"]["requests"] == 0
    assert summary_file.read_text(encoding="utf-8") == "# Unit tests\n\nEarlier step's words.\n"


def test_the_github_actions_example_uses_real_options(pytestconfig: pytest.Config) -> None:
    yaml = pytest.importorskip("yaml")
    from checker.cli import build_parser

    workflow = Path(__file__).parents[2] / "examples" / "ci" / "github-actions.yml"
    steps = [step for job in yaml.safe_load(workflow.read_text(encoding="utf-8"))["jobs"].values() for step in job["steps"]]
    commands = "\n".join(step.get("run", "") for step in steps)
    options = set(re.findall(r"--tokenbudget-[a-z-]+", commands))
    assert {"--tokenbudget-json", "--tokenbudget-summary"} <= options
    for option in options:
        pytestconfig.getoption(option[2:].replace("-", "_"))  # raises ValueError for an unknown option
    check = next(line for line in commands.splitlines() if "tokenbudget check" in line)
    build_parser().parse_args(check.split("tokenbudget", 1)[1].split(">")[0].split())
    assert "--output-format sarif" in check
    uploads = [step for step in steps if "upload-sarif" in step.get("uses", "")]
    assert uploads and uploads[0]["with"]["sarif_file"] in check
