"""The CI reports built from plain request records: baseline fields passed through, outcomes,
Markdown cells, URLs without keys, a report that cannot be written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_tokenbudget import count_request
from pytest_tokenbudget._capture import CapturedRequest
from pytest_tokenbudget._ci_reports import (
    CIReports,
    build_report,
    junit_properties,
    next_outcome,
    report_text,
    step_summary,
)
from pytest_tokenbudget._report import public_url, request_record


def record(index: int, words: int, baseline: dict[str, Any] | None = None) -> dict[str, Any]:
    body = {"model": "gpt-4o", "max_tokens": 64, "messages": [{"role": "user", "content": "parcel " * words}]}
    request = CapturedRequest(index, "openai.chat", "https://api.openai.com/v1/chat/completions", "gpt-4o",
                              "/project/app.py:7 in answer", "call", False, count=count_request(body), body=body)
    data = request_record(request, "/project")
    if baseline is not None:  # what the baseline comparison adds to a record (issue 11a)
        data["baseline_key"] = f"tests/test_app.py::test_answer @ app.py:7 #{index}"
        data["baseline"] = baseline
    return data


def grew(before: int, after: int, over: bool) -> dict[str, Any]:
    return {"status": "grew", "before": before, "after": after, "delta": after - before,
            "delta_pct": round(100.0 * (after - before) / before, 2), "over_tolerance": over, "tolerance": "5%"}


def test_baseline_fields_pass_through_to_json_junit_and_the_summary() -> None:
    regression = record(1, 120, grew(100, 130, over=True))
    small = record(2, 10, grew(100, 102, over=False))
    test = {"nodeid": "tests/test_app.py::test_answer", "requests": [regression, small],
            "limits": {"max_input_tokens": 1000}, "problems": [], "blocked": [], "no_request": False}
    report = build_report([test], {"tests/test_app.py::test_answer": "failed"}, 1)
    (entry,) = report["tests"]
    assert entry["requests"][0]["baseline"] == regression["baseline"]
    assert entry["requests"][0]["baseline_key"] == regression["baseline_key"]
    assert report["totals"]["baseline_regressions"] == 1
    assert "0 over budget, 1 baseline regression." in step_summary(report, rows=10)
    json.loads(report_text(report))  # plain JSON all the way down

    properties = dict(junit_properties(test))
    assert properties["tokenbudget_baseline_delta"] == 32 and properties["tokenbudget_baseline_delta_pct"] == 16.0
    assert properties["tokenbudget_max_input_tokens"] == 1000

    markdown = step_summary(report, rows=10)
    section = markdown.split("### Baseline regressions (1)", 1)[1].split("###", 1)[0]
    assert "| `tests/test_app.py::test_answer` | 1 | 100 | 130 | +30 (+30.0%) | `app.py:7 in answer` |" in section
    assert "| 2 |" not in section  # grew within its tolerance: not a regression
    assert "Baseline |" in markdown.split("### Heaviest prompts", 1)[1]


def test_records_without_baseline_fields_have_no_baseline_columns() -> None:
    test = {"nodeid": "t.py::t", "requests": [record(1, 5)], "limits": None, "problems": []}
    report = build_report([test], {}, 0)
    markdown = step_summary(report, rows=10)
    assert "0 over budget." in markdown and "aseline" not in markdown
    assert not any(name.startswith("tokenbudget_baseline") for name, _ in junit_properties(test))


def test_rows_zero_lists_every_prompt_and_long_failure_lists_are_cut() -> None:
    tests = [{"nodeid": f"t.py::test_{i:03}", "requests": [record(1, 3 + i % 7)], "limits": {"max_input_tokens": 1},
              "problems": [{"message": "prompt 9 tokens > budget 1 (gpt-4o, o200k_base, exact)\nmore", "request": 1}]}
             for i in range(130)]
    report = build_report(tests, {}, 1)
    everything = step_summary(report, rows=0)
    assert everything.count("[1] | `app.py:7 in answer` |") == 130
    assert "... and 30 more (the JSON report, --tokenbudget-json, lists all)" in everything
    assert "(top 5 of 130)" in step_summary(report, rows=5)


def test_expected_budget_failures_are_not_listed_as_failures() -> None:
    problem = [{"message": "prompt 9 tokens > budget 1 (gpt-4o, o200k_base, exact)", "request": 1}]
    tests = [{"nodeid": f"t.py::test_{name}", "requests": [record(1, 3)], "limits": {"max_input_tokens": 1},
              "problems": problem} for name in ("real", "expected")]
    markdown = step_summary(build_report(tests, {"t.py::test_real": "failed", "t.py::test_expected": "xfailed"}, 1), 10)
    assert "1 over budget (and 1 expected to be, xfail)." in markdown and "### Budget failures (1)" in markdown
    assert "| `t.py::test_real` |" in markdown and "| `t.py::test_expected` |" not in markdown


@pytest.mark.parametrize(("phases", "outcome"), [
    ([("setup", "passed"), ("call", "passed"), ("teardown", "passed")], "passed"),
    ([("setup", "passed"), ("call", "failed"), ("teardown", "passed")], "failed"),
    ([("setup", "failed"), ("teardown", "passed")], "error"),
    ([("setup", "passed"), ("call", "passed"), ("teardown", "failed")], "error"),
    ([("setup", "skipped"), ("teardown", "passed")], "skipped"),
])
def test_outcomes_read_like_pytest(phases: list[tuple[str, str]], outcome: str) -> None:
    state = None
    for when, result in phases:
        state = next_outcome(state, when, result, xfail=False)
    assert state == outcome
    assert next_outcome("passed", "call", "skipped", xfail=True) == "xfailed"


def test_urls_lose_query_fragment_and_user_info() -> None:
    assert public_url("https://user:pw@gen.example.com:8443/v1/models/x:generate?key=AIza-SECRET#frag") == \
        "https://gen.example.com:8443/v1/models/x:generate"


def test_a_report_that_cannot_be_written_is_said_not_raised(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    reports = CIReports(json_path=blocker / "report.json")
    reports.finish([{"nodeid": "t.py::t", "requests": [record(1, 3)]}], 0)
    ((message, is_error),) = reports.messages
    assert is_error and message.startswith(f"could not write the token budget JSON report {blocker / 'report.json'}")
