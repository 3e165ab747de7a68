"""Budget coverage (``--tokenbudget-coverage``) and the call-site inventory (``tokenbudget calls``).

The project under test has three LLM call sites, driven through the real openai client: two are
sent by budgeted tests (answered by the plugin), one only by an unbudgeted test whose client has
an httpx ``MockTransport`` (the plugin watches it but does not answer it).
"""

from __future__ import annotations

import json
import textwrap

import pytest

from pytest_tokenbudget.cli import main as tokenbudget_main

APP = '''
import openai


def summarize(client, text):
    return client.chat.completions.create(model="gpt-4o-mini", max_tokens=100,
                                          messages=[{"role": "user", "content": "Summarize: " + text}])


def classify(client, text):
    return client.responses.create(model="gpt-4o-mini", max_output_tokens=20, input="Classify: " + text)


def translate(client, text):
    return client.chat.completions.create(
        model="gpt-4o-mini",
        max_tokens=200,
        messages=[{"role": "user", "content": "Translate: " + text}],
    )
'''

TESTS = '''
import importlib
import json

import openai
import pytest

from app.llm import classify, summarize, translate

HTTP = next(importlib.import_module(c.__module__.partition(".")[0]) for c in openai.DefaultHttpxClient.__mro__
            if c.__module__.partition(".")[0] in ("httpx", "httpx2"))
REPLY = {"id": "c1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
         "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Hallo"}}],
         "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}}


@pytest.fixture
def client():
    return openai.OpenAI(api_key="sk-test", max_retries=0)


@pytest.mark.token_budget(max_input_tokens=1000)
def test_summarize(client):
    summarize(client, "a long day")


@pytest.mark.token_budget(max_input_tokens=1000)
def test_classify(client):
    classify(client, "an angry email")


def test_translate_without_a_budget():
    mocked = openai.OpenAI(api_key="sk-test", max_retries=0, http_client=openai.DefaultHttpxClient(
        transport=HTTP.MockTransport(lambda request: HTTP.Response(200, json=REPLY))))
    assert translate(mocked, "hello").choices[0].message.content == "Hallo"
'''


PYTEST_OPTIONS = ("[tool.pytest.ini_options]\nfilterwarnings = ['ignore::DeprecationWarning']\n"
                  "asyncio_default_fixture_loop_scope = 'function'\n")


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makepyprojecttoml(PYTEST_OPTIONS)
    pytester.mkpydir("app")
    (pytester.path / "app" / "llm.py").write_text(APP)
    tests = pytester.mkdir("tests")
    (tests / "test_app.py").write_text(TESTS)
    pytester.makeconftest("")
    return pytester


def _line_of(text: str, needle: str, occurrence: int = 1) -> int:
    lines = [number for number, line in enumerate(text.splitlines(), 1) if needle in line]
    return lines[occurrence - 1]


TRANSLATE_LINE = _line_of(APP, "client.chat.completions.create(", 2)


@pytest.mark.parametrize("capture", ["budgeted", "session"])
def test_two_of_three_sites_are_under_a_budget_and_fail_under_fails_the_run(project: pytest.Pytester, capture: str) -> None:
    # Default capture: the unbudgeted test is only watched; session capture: it is intercepted and counted too.
    project.makeini(f"[pytest]\ntokenbudget_capture = {capture}\nfilterwarnings = ignore::DeprecationWarning\n"
                    "asyncio_default_fixture_loop_scope = function\n")
    result = project.runpytest("--tokenbudget-coverage", "--tokenbudget-coverage-fail-under=90", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines([
        "*= token budget coverage =*",
        "LLM call sites exercised under a budget: 2 of 3 (67%)",
        f"  app/llm.py:{TRANSLATE_LINE}  exercised, unbudgeted: tests/test_app.py::test_translate_without_a_budget"
        " (add a token_budget marker)",
        "FAIL Required token budget coverage of 90% not reached. Total coverage: 66.67%",
    ])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_coverage_above_the_threshold_passes_and_verbose_names_the_covering_tests(project: pytest.Pytester) -> None:
    result = project.runpytest("--tokenbudget-coverage=app", "--tokenbudget-coverage-fail-under=60", "-v",
                               "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines([
        "LLM call sites exercised under a budget: 2 of 3 (67%)",
        f"  app/llm.py:{_line_of(APP, 'def summarize') + 1}  covered by tests/test_app.py::test_summarize",
    ])
    assert "FAIL Required" not in result.stdout.str()


def test_the_same_under_xdist(project: pytest.Pytester) -> None:
    result = project.runpytest("-p", "xdist", "-n", "2", "--tokenbudget-coverage", "--tokenbudget-coverage-fail-under=90",
                               "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines([
        "*3 passed*",
    ])
    result.stdout.fnmatch_lines([
        "LLM call sites exercised under a budget: 2 of 3 (67%)",
        f"  app/llm.py:{TRANSLATE_LINE}  exercised, unbudgeted: tests/test_app.py::test_translate_without_a_budget*",
        "FAIL Required token budget coverage of 90% not reached. Total coverage: 66.67%",
    ])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_bad_input_is_reported_and_the_rest_still_counts(project: pytest.Pytester) -> None:
    (project.path / "app" / "broken.py").write_text("import openai\ndef f(client:\n    client.chat.completions.create()\n")
    (project.path / "app" / "legacy.py").write_text(textwrap.dedent('''
        import openai

        def old(client):
            return client.chat.completions.create(model="gpt-4o", messages=[])

        def on_purpose(client):
            return client.chat.completions.create(model="gpt-4o", messages=[])  # tokenbudget: no-cover
    '''))
    (project.path / "app" / "experiments.py").write_text(
        "def probe(client):\n    return client.chat.completions.create(model='gpt-4o', messages=[])\n")
    project.makepyprojecttoml(PYTEST_OPTIONS + '[tool.tokenbudget.coverage]\nexclude = ["app/experiments.py"]\n')
    result = project.runpytest("--tokenbudget-coverage=app", "--tokenbudget-coverage=missing",
                               "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines([
        "LLM call sites exercised under a budget: 2 of 4 (50%)",
        "  app/legacy.py:5  not exercised (the run never imported this file)",
        "excluded: 2 sites (no-cover comment or exclude glob; -v lists them)",
    ])
    result.stdout.fnmatch_lines(["warning: missing: no such file or directory (its calls are not counted)"])
    result.stdout.fnmatch_lines(["warning: app/broken.py: syntax error at line 2: *(its calls are not counted)"])
    assert result.ret == pytest.ExitCode.OK
    assert "Traceback" not in result.stdout.str()


def test_a_bad_coverage_setting_is_a_usage_error(project: pytest.Pytester) -> None:
    project.makepyprojecttoml(PYTEST_OPTIONS + "[tool.tokenbudget.coverage]\nsource = 'app'\n")
    result = project.runpytest("--tokenbudget-coverage", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*[[]tool.tokenbudget.coverage[]] source must be a list of strings*"])


# --- tokenbudget calls --------------------------------------------------------------------------


def test_calls_lists_sites_and_wrappers(project: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> None:
    assert tokenbudget_main(["calls", "app"]) == 0
    out = capsys.readouterr().out
    summarize_line = _line_of(APP, "def summarize") + 1
    assert f"app/llm.py:{summarize_line}  openai.chat  model=gpt-4o-mini  cap: max_tokens=100" in out.splitlines()
    assert f"app/llm.py:{_line_of(APP, 'def classify') + 1}  openai.responses  model=gpt-4o-mini  cap: max_output_tokens=20" \
        in out.splitlines()
    assert f"  app.llm.summarize()  -> app/llm.py:{summarize_line}  (cap set, model=gpt-4o-mini)" in out.splitlines()
    assert out.splitlines()[-1] == "3 LLM call sites in 1 file, 3 wrappers"


def test_calls_json_and_bad_paths(project: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> None:
    (project.path / "app" / "broken.py").write_text("def f(client:\n    client.chat.completions.create()\n")
    assert tokenbudget_main(["calls", "app", "nowhere", "--format", "json", "--no-cache"]) == 2
    captured = capsys.readouterr()
    payload = json.loads(captured.out)
    assert [(site["file"], site["line"], site["end_line"], site["api"], site["cap"]) for site in payload["sites"]] == [
        ("app/llm.py", _line_of(APP, "def summarize") + 1, _line_of(APP, "def summarize") + 2, "openai.chat", "max_tokens=100"),
        ("app/llm.py", _line_of(APP, "def classify") + 1, _line_of(APP, "def classify") + 1, "openai.responses",
         "max_output_tokens=20"),
        ("app/llm.py", TRANSLATE_LINE, TRANSLATE_LINE + 4, "openai.chat", "max_tokens=200"),
    ]
    assert {w["name"] for w in payload["wrappers"]} == {"app.llm.summarize", "app.llm.classify", "app.llm.translate"}
    assert "tokenbudget calls: warning: nowhere: no such file or directory (its calls are not counted)" in captured.err
    assert "tokenbudget calls: warning: app/broken.py: syntax error at line 1" in captured.err
    assert "Traceback" not in captured.err


def test_an_inventory_that_cannot_be_listed_fails_the_threshold(project: pytest.Pytester) -> None:
    project.makepyprojecttoml(PYTEST_OPTIONS + "[tool.tokenbudget.check]\nselect = 3\n")
    result = project.runpytest("--tokenbudget-coverage-fail-under=50", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines([
        "budget coverage was not measured: the LLM call sites could not be listed",
        "warning: cannot list the LLM call sites: *[[]tool.tokenbudget.check[]] select: expected a list of strings*",
        "FAIL Required token budget coverage of 50% could not be checked",
    ])
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_calls_reuses_the_cache_and_sees_an_edit(project: pytest.Pytester, capsys: pytest.CaptureFixture[str]) -> None:
    def sites() -> list[int]:
        assert tokenbudget_main(["calls", "app", "--format", "json"]) == 0
        return [site["line"] for site in json.loads(capsys.readouterr().out)["sites"]]

    first = sites()
    assert list((project.path / ".tokenbudget_cache").glob("calls-v*/*.marshal"))
    assert sites() == first  # from the cache
    llm = project.path / "app" / "llm.py"
    llm.write_text(llm.read_text() + "\n\ndef shout(client):\n    return client.chat.completions.create(model='gpt-4o', messages=[])\n")
    assert sites() == [*first, len(llm.read_text().splitlines())]


def test_coverage_goes_into_the_json_report_the_step_summary_and_compare(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = project.path / "step-summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    before = project.runpytest("--tokenbudget-coverage", "--tokenbudget-json=before.json", "-p", "no:cacheprovider")
    before.assert_outcomes(passed=3)
    report = json.loads((project.path / "before.json").read_text())
    assert (report["coverage"]["covered"], report["coverage"]["total"]) == (2, 3)
    unbudgeted = [site for site in report["coverage"]["sites"] if site["status"] == "exercised, unbudgeted"]
    assert [(site["file"], site["line"]) for site in unbudgeted] == [("app/llm.py", TRANSLATE_LINE)]
    assert all("stacks" not in test for test in report["tests"])  # summed up in "coverage" instead
    markdown = summary.read_text()
    assert "### Budget coverage" in markdown
    assert "LLM call sites exercised under a budget: 2 of 3 (67%)." in markdown
    assert f"| `app/llm.py:{TRANSLATE_LINE}` | exercised, unbudgeted | `tests/test_app.py::test_translate_without_a_budget` |" in markdown

    tests = project.path / "tests" / "test_app.py"
    tests.write_text(tests.read_text().replace(
        "def test_translate_without_a_budget", "@pytest.mark.token_budget(max_input_tokens=1000)\ndef test_translate_without_a_budget"))
    after = project.runpytest("--tokenbudget-coverage", "--tokenbudget-json=after.json", "-p", "no:cacheprovider")
    after.assert_outcomes(passed=3)

    capsys.readouterr()
    assert tokenbudget_main(["compare", str(project.path / "before.json"), str(project.path / "after.json")]) == 0
    assert "budget coverage: 67% (2 of 3) -> 100% (3 of 3)" in capsys.readouterr().out
    assert tokenbudget_main(["compare", "--format", "markdown",
                             str(project.path / "after.json"), str(project.path / "before.json")]) == 0
    out = capsys.readouterr().out
    assert "Budget coverage: 100% (3 of 3) -> 67% (2 of 3)." in out
    assert f"- no longer under a budget: `app/llm.py:{TRANSLATE_LINE}`" in out
