"""Prompt-size baselines, end to end: real pytest runs whose tests send prompts through the real openai client."""

from __future__ import annotations

import json
import textwrap

import pytest

pytest.importorskip("openai")

BASELINE = "tokenbudget-baseline.json"

# The support prompt lives in a file, so a test can make it grow between runs (in-process runs
# forget imported modules, but a module-level constant would still be a trap).
APP = '''
from pathlib import Path

def ask(client, question, max_tokens=200):
    system = (Path(__file__).parent / "system.txt").read_text()
    return client.chat.completions.create(
        model="gpt-4o", max_tokens=max_tokens,
        messages=[{"role": "system", "content": system}, {"role": "user", "content": question}],
    )
'''

TESTS = '''
import pytest
import app

@pytest.mark.token_budget(max_input_tokens=5000)
def test_order(openai_client):
    app.ask(openai_client, "Where is my order?")
    app.ask(openai_client, "And when does it arrive?")

@pytest.mark.token_budget(max_input_tokens=5000)
def test_refund(openai_client):
    app.ask(openai_client, "I want a refund for order A-1042.")

@pytest.mark.token_budget(max_input_tokens=5000)
def test_short(openai_client):
    app.ask(openai_client, "Hi", max_tokens=50)
'''

SENTENCE = "You are the support assistant of an outdoor shop. Answer briefly and politely. "
SYSTEM = SENTENCE * 10


@pytest.fixture
def project(inner: pytest.Pytester) -> pytest.Pytester:
    inner.makepyfile(app=APP, test_bot=TESTS)
    (inner.path / "system.txt").write_text(SYSTEM)
    return inner


def grow_system_prompt(project: pytest.Pytester, factor: float) -> None:
    (project.path / "system.txt").write_text(SENTENCE * round(10 * factor))


def run(project: pytest.Pytester, *args: str) -> pytest.RunResult:
    return project.runpytest("-p", "no:cacheprovider", *args)


def assert_no_unused(result: pytest.RunResult) -> None:
    summary = result.stdout.str().partition("token budget baseline")[2]
    assert summary and " unused" not in summary and "UNUSED" not in summary


def record(project: pytest.Pytester) -> bytes:
    result = run(project, "--tokenbudget-update")
    result.assert_outcomes(passed=3)
    return (project.path / BASELINE).read_bytes()


def test_update_records_a_sorted_file_and_an_unchanged_rerun_passes(project: pytest.Pytester) -> None:
    result = run(project, "--tokenbudget-update")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*tokenbudget-baseline.json: 0 entries updated, 4 added, 0 removed"])
    text = (project.path / BASELINE).read_text()
    data = json.loads(text)
    assert text.endswith("}\n") and text == json.dumps(data, indent=2, sort_keys=True) + "\n"
    assert data["format"] == 1
    assert sorted(data["entries"]) == [
        "test_bot.py::test_order @ app.py:ask #1", "test_bot.py::test_order @ app.py:ask #2",
        "test_bot.py::test_refund @ app.py:ask #1", "test_bot.py::test_short @ app.py:ask #1",
    ]
    entry = data["entries"]["test_bot.py::test_short @ app.py:ask #1"]
    assert entry["model"] == "gpt-4o" and entry["tokenizer"] == "o200k_base"
    assert entry["tokenizer_version"].startswith("tiktoken ") and entry["provenance"] == "exact"
    assert entry["max_output_tokens"] == 50 and entry["test"] == "test_bot.py::test_short"
    assert sum(entry["breakdown"].values()) == entry["input_tokens"]
    assert set(entry["breakdown"]) == {"messages[0] system", "messages[1] user", "overhead"}

    again = run(project)
    again.assert_outcomes(passed=3)
    again.stdout.fnmatch_lines(["compared with *tokenbudget-baseline.json: 4 unchanged"])
    assert (project.path / BASELINE).read_text() == text
    # A second update run with nothing new leaves the file as it was.
    run(project, "--tokenbudget-update").stdout.fnmatch_lines(["*tokenbudget-baseline.json: up to date (4 entries)"])
    assert (project.path / BASELINE).read_text() == text


def test_a_prompt_twenty_percent_larger_fails_and_names_what_grew(project: pytest.Pytester) -> None:
    before = record(project)
    system_before = json.loads(before)["entries"]["test_bot.py::test_refund @ app.py:ask #1"]["breakdown"]["messages[0] system"]
    grow_system_prompt(project, 1.2)
    result = run(project)
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines([
        "*_ test_refund _*",
        "prompt grew past its baseline: request 1 173 -> 203 input tokens (+30, +17.3%), more than the 5% tolerance",
        "  baseline entry 'test_bot.py::test_refund @ app.py:ask #1' (tokenbudget-baseline.json)",
        f"    messages[0] system: {system_before} -> {system_before + 30} (+30, +19.7%)",
        "  if the growth is intended, record it with pytest --tokenbudget-update*",
        "TOKEN BUDGET test_bot.py::test_refund - Failed: prompt grew past its baseline*",
    ])
    assert "messages[1] user:" not in result.stdout.str()  # unchanged parts are not listed
    assert (project.path / BASELINE).read_bytes() == before  # a judging run never writes

    # Recording the growth makes the suite pass again.
    run(project, "--tokenbudget-update").stdout.fnmatch_lines(["*: 4 entries updated, 0 added, 0 removed"])
    run(project).assert_outcomes(passed=3)


def test_tolerances_from_the_marker_and_the_project_and_a_shrink_limit(project: pytest.Pytester) -> None:
    record(project)
    grow_system_prompt(project, 1.2)
    project.makepyfile(test_bot=TESTS.replace("max_input_tokens=5000)\ndef test_refund",
                                              "max_input_tokens=5000, baseline_tolerance='30%')\ndef test_refund"))
    result = run(project)
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["compared with *: 4 grew"])
    # An absolute tolerance in [tool.tokenbudget] lets every test grow by that many tokens.
    project.makepyprojecttoml('[tool.tokenbudget]\nbaseline-tolerance = 500\n')
    run(project).assert_outcomes(passed=3)
    # Shrinking is fine by default, and fails with a shrink tolerance so the baseline stays tight.
    grow_system_prompt(project, 0.5)
    run(project).assert_outcomes(passed=3)
    project.makepyprojecttoml('[tool.tokenbudget]\nbaseline-shrink-tolerance = "20%"\n')
    shrunk = run(project)
    shrunk.assert_outcomes(failed=3)
    shrunk.stdout.fnmatch_lines(["*prompt shrank past its baseline: request 1 *, more than the 20% shrink tolerance"])


@pytest.mark.parametrize(("value", "message"), [
    ("'5 percent'", "*baseline_tolerance: write a percentage like \"5%\" or a whole number of tokens like 200, got '5 percent'"),
    ("-3", "*baseline_tolerance: write a percentage like*got -3"),
])
def test_a_bad_baseline_tolerance_names_the_marker_and_the_fix(inner: pytest.Pytester, value: str, message: str) -> None:
    inner.makepyfile(f"""
        import pytest

        @pytest.mark.token_budget(max_input_tokens=100, baseline_tolerance={value})
        def test_x():
            pass
    """)
    result = inner.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["token_budget marker on test_a_bad_baseline_tolerance*" + message.lstrip("*")])


def test_update_under_ci_does_not_pass_and_leaves_the_file(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    before = record(project)
    monkeypatch.setenv("CI", "true")
    run(project, "--tokenbudget-update").assert_outcomes(passed=3)  # nothing to change: fine in CI
    grow_system_prompt(project, 1.2)
    result = run(project, "--tokenbudget-update")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*tokenbudget-baseline.json: NOT written: 4 entries updated, 0 added, 0 removed would "
                                 "change it, and an update run must not rewrite the baseline in CI*"])
    assert (project.path / BASELINE).read_bytes() == before


@pytest.mark.parametrize("update", [False, True])
def test_a_truncated_baseline_is_a_usage_error_and_stays_as_it_was(project: pytest.Pytester, update: bool) -> None:
    broken = record(project)[:200]
    (project.path / BASELINE).write_bytes(broken)
    result = run(project, *(["--tokenbudget-update"] if update else []))
    assert result.ret == 2
    result.stdout.fnmatch_lines([
        f"*pytest-tokenbudget: {project.path / BASELINE}:*: is not valid JSON (*). Fix: restore it from version "
        "control (git checkout -- tokenbudget-baseline.json), or delete it and re-record with pytest --tokenbudget-update*",
    ])
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert (project.path / BASELINE).read_bytes() == broken


def test_a_hand_edited_entry_names_its_line(project: pytest.Pytester) -> None:
    data = json.loads(record(project))
    del data["entries"]["test_bot.py::test_refund @ app.py:ask #1"]["input_tokens"]
    text = json.dumps(data, indent=2, sort_keys=True)
    (project.path / BASELINE).write_text(text)
    line = text.splitlines().index('    "test_bot.py::test_refund @ app.py:ask #1": {') + 1
    result = run(project)
    assert result.ret == 2
    result.stdout.fnmatch_lines([f"*{BASELINE}:{line}: entry 'test_bot.py::test_refund @ app.py:ask #1' has no "
                                 "'input_tokens'. Fix: *"])


def test_unused_entries_only_for_tests_that_ran_or_are_gone(project: pytest.Pytester) -> None:
    record(project)
    # -k, skipped and deselected tests are not unused, and neither is a file run on its own.
    assert_no_unused(run(project, "-k", "order"))
    project.makepyfile(test_bot=TESTS.replace("def test_refund", "@pytest.mark.skip\ndef test_refund"))
    skipped = run(project)
    skipped.assert_outcomes(passed=2, skipped=1)
    assert_no_unused(skipped)
    # A test that makes one request fewer, and a renamed test, in a full run: unused, removed by an update.
    project.makepyfile(test_bot=TESTS.replace('    app.ask(openai_client, "And when does it arrive?")\n', "")
                       .replace("def test_short", "def test_brief"))
    # Named on the command line, the collection may be partial: only the test that ran counts.
    run(project, "test_bot.py").stdout.fnmatch_lines(["compared with *: 1 new, 2 unchanged; 1 unused",
                                                      "*", "*", "*",
                                                      "  UNUSED test_bot.py::test_order @ app.py:ask #2", "=*"])
    result = run(project)
    result.stdout.fnmatch_lines([
        "compared with *: 1 new, 2 unchanged; 2 unused",
        "  NEW test_bot.py::test_brief @ app.py:ask #1",
        "2 unused: *",
        "  UNUSED test_bot.py::test_order @ app.py:ask #2",
        "  UNUSED test_bot.py::test_short @ app.py:ask #1",
    ])
    run(project, "--tokenbudget-add-new").stdout.fnmatch_lines(["*: 0 entries updated, 1 added, 2 unused"])
    run(project, "--tokenbudget-update").stdout.fnmatch_lines(["*: 0 entries updated, 0 added, 2 removed"])
    assert sorted(json.loads((project.path / BASELINE).read_text())["entries"]) == [
        "test_bot.py::test_brief @ app.py:ask #1", "test_bot.py::test_order @ app.py:ask #1",
        "test_bot.py::test_refund @ app.py:ask #1",
    ]
    # A test that lost its budget marker still ran: its entries are unused, not kept forever.
    project.makepyfile(test_bot=TESTS.replace(
        '@pytest.mark.token_budget(max_input_tokens=5000)\ndef test_refund(openai_client):\n'
        '    app.ask(openai_client, "I want a refund for order A-1042.")', "def test_refund():\n    pass"))
    run(project).stdout.fnmatch_lines(["*: 2 new, 1 unchanged; 2 unused", "*", "*", "*", "*",
                                       "  UNUSED test_bot.py::test_brief @ app.py:ask #1",
                                       "  UNUSED test_bot.py::test_refund @ app.py:ask #1"])


def test_keys_survive_edits_above_the_call_and_async_arrival_order(inner: pytest.Pytester) -> None:
    inner.makepyfile(test_async=textwrap.dedent('''
        import asyncio, os, random
        import pytest

        async def ask(client, question):
            return await client.chat.completions.create(
                model="gpt-4o-mini", max_tokens=64, messages=[{"role": "user", "content": question}])

        @pytest.mark.token_budget(max_input_tokens=5000)
        def test_fan_out(async_openai_client):
            questions = ["short?", "a longer question about " * 5, "the longest question of all " * 20]
            random.Random(os.environ["ORDER_SEED"]).shuffle(questions)
            async def main():
                await asyncio.gather(*(ask(async_openai_client, q) for q in questions))
            asyncio.run(main())
    '''))
    monkeypatch = pytest.MonkeyPatch()
    try:
        monkeypatch.setenv("ORDER_SEED", "1")
        inner.runpytest("-p", "no:cacheprovider", "--tokenbudget-update").assert_outcomes(passed=1)
        recorded = (inner.path / BASELINE).read_text()
        assert len(json.loads(recorded)["entries"]) == 3
        source = (inner.path / "test_async.py").read_text()
        (inner.path / "test_async.py").write_text("# an edit above every call\n\n\n" + source)
        for seed in ("2", "3", "4"):
            monkeypatch.setenv("ORDER_SEED", seed)
            result = inner.runpytest("-p", "no:cacheprovider")
            result.assert_outcomes(passed=1)
            result.stdout.fnmatch_lines(["compared with *: 3 unchanged"])
    finally:
        monkeypatch.undo()
    assert (inner.path / BASELINE).read_text() == recorded


def test_a_tokenizer_change_is_reported_and_never_a_regression(project: pytest.Pytester) -> None:
    data = json.loads(record(project))
    for entry in data["entries"].values():
        entry["tokenizer_version"] = "tiktoken 0.0.1"
        entry["input_tokens"] -= 30  # counted differently: not a growth of the prompt
    (project.path / BASELINE).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    result = run(project)
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines([
        "compared with *: 4 tokenizer changed",
        "4 tokenizer changed: counted by another tokenizer or version than the baseline*re-baseline with "
        "pytest --tokenbudget-update",
    ])


def test_the_baseline_path_from_the_option_and_the_project(project: pytest.Pytester) -> None:
    run(project, "--tokenbudget-update", "--tokenbudget-baseline=ci/sizes.json").assert_outcomes(passed=3)
    assert (project.path / "ci" / "sizes.json").is_file() and not (project.path / BASELINE).exists()
    project.makepyprojecttoml('[tool.tokenbudget]\nbaseline = "ci/sizes.json"\n')
    run(project).stdout.fnmatch_lines(["compared with ci/sizes.json: 4 unchanged"])
    project.makepyprojecttoml('[tool.tokenbudget]\nbaseline = 3\n')
    result = run(project)
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*pyproject.toml: ?tool.tokenbudget? baseline must be a path string like "
                                 '"tokenbudget-baseline.json", got 3'])


# Only the plugins these runs need: three interpreters loading every installed plugin cost seconds each.
XDIST = ("-p", "xdist", "-p", "pytest_tokenbudget.plugin", "-n", "2")


def test_under_xdist_the_controller_writes_and_growth_fails(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("xdist")
    serial = record(project)
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    (project.path / BASELINE).unlink()
    result = project.runpytest_subprocess("-p", "no:cacheprovider", *XDIST, "--tokenbudget-update")
    result.assert_outcomes(passed=3)
    assert (project.path / BASELINE).read_bytes() == serial  # same keys and entries whichever worker ran what
    assert not list(project.path.glob(".tokenbudget-baseline.json.*"))  # no temporary file left behind

    grow_system_prompt(project, 1.2)
    result = project.runpytest_subprocess("-p", "no:cacheprovider", *XDIST, "-k", "order or refund")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*messages?0? system: 152 -> 182 (+30, +19.7%)", "compared with *: 3 grew",
                                 "TOKEN BUDGET test_bot.py::test_order - Failed: prompt grew past its baseline*"])
    assert_no_unused(result)

    (project.path / BASELINE).write_bytes(serial[:150])
    broken = project.runpytest_subprocess("-p", "no:cacheprovider", *XDIST)
    assert broken.ret == 2
    broken.stdout.fnmatch_lines(["*tokenbudget-baseline.json:*: is not valid JSON*"])
    assert (project.path / BASELINE).read_bytes() == serial[:150]


PROPERTY_TESTS = '''
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
import app

@settings(max_examples=5, database=None, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(min_size=1, max_size=40))
@pytest.mark.token_budget(max_input_tokens=5000)
def test_any_question(openai_client, question):
    app.ask(openai_client, question)
'''


def test_property_tests_are_judged_by_their_budget_but_never_baselined(project: pytest.Pytester) -> None:
    pytest.importorskip("hypothesis")
    project.makepyfile(test_property=PROPERTY_TESTS)
    result = run(project, "--tokenbudget-update")
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines(["*tokenbudget-baseline.json: 0 entries updated, 4 added, 0 removed",
                                 "1 property test (Hypothesis) not baselined: each run draws other prompts;*"])
    entries = json.loads((project.path / BASELINE).read_text())["entries"]
    assert entries and not [key for key in entries if "test_property.py" in key]

    grow_system_prompt(project, 3)  # past the 5% tolerance: the example tests fail, the property test does not
    result = run(project, "test_property.py")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["1 property test (Hypothesis) not baselined*"])

    project.makepyfile(test_property=PROPERTY_TESTS.replace("5000", "100"))  # its budget still holds it
    result = run(project, "test_property.py")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*TOKEN BUDGET*"])
