"""`tokenbudget compare` and the baseline file format, on entries counted by the real counting core."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_tokenbudget import _baseline, count_request
from pytest_tokenbudget._capture import CapturedRequest
from pytest_tokenbudget._report import request_record
from pytest_tokenbudget.cli import main

SYSTEM = "You are the support assistant of an outdoor shop. Answer briefly and politely. "


def records(nodeid: str, system_repeats: int, questions: list[str], call_site: str = "app/bot.py:12 in ask") -> list[dict]:
    """Request records as the plugin makes them, for prompts counted by the real tokenizer."""
    made = []
    for index, question in enumerate(questions, start=1):
        body = {"model": "gpt-4o", "max_tokens": 200, "messages": [
            {"role": "system", "content": SYSTEM * system_repeats}, {"role": "user", "content": question}]}
        request = CapturedRequest(index, "openai.chat", "https://api.openai.com/v1/chat/completions", "gpt-4o",
                                  f"/project/{call_site}", "call", False, count=count_request(body))
        made.append(request_record(request, "/project"))
    _baseline.annotate(nodeid, made, None, _baseline.parse_tolerance("5%"))
    return made


def baseline_file(path: Path, tests: dict[str, list[dict]]) -> Path:
    entries = {r["baseline_key"]: _baseline.entry_from_record(nodeid, r) for nodeid, recs in tests.items() for r in recs}
    path.write_text(_baseline.render(entries))
    return path


@pytest.fixture
def old_and_new(tmp_path: Path) -> tuple[Path, Path]:
    old = baseline_file(tmp_path / "old.json", {
        "tests/test_bot.py::test_order": records("tests/test_bot.py::test_order", 10, ["Where is my order?", "When?"]),
        "tests/test_bot.py::test_gone": records("tests/test_bot.py::test_gone", 10, ["Bye"]),
        "tests/test_bot.py::test_small": records("tests/test_bot.py::test_small", 10, ["Hi"]),
    })
    new = baseline_file(tmp_path / "new.json", {
        "tests/test_bot.py::test_order": records("tests/test_bot.py::test_order", 12, ["Where is my order?", "When?"]),
        "tests/test_bot.py::test_small": records("tests/test_bot.py::test_small", 5, ["Hi"]),
        "tests/test_bot.py::test_new": records("tests/test_bot.py::test_new", 10, ["Hello"]),
    })
    return old, new


def test_text_report_lists_growth_first_with_the_parts_and_fails(old_and_new, capsys) -> None:
    old, new = old_and_new
    assert main(["compare", str(old), str(new)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "2 grew, 1 shrank, 1 new, 1 gone"
    assert out[1] == "FAILED: 2 prompts grew by more than 5%"
    assert out[3].startswith("GREW (over) tests/test_bot.py::test_order @ app/bot.py:ask #") and "(+30, +1" in out[3]
    assert out[4] == "    messages[0] system: 152 -> 182 (+30, +19.7%)"
    assert any(line.startswith("SHRANK tests/test_bot.py::test_small @ app/bot.py:ask #1: 163 -> 88 input tokens (-75, -46.0%)") for line in out)
    assert "NEW tests/test_bot.py::test_new @ app/bot.py:ask #1: - -> 163 input tokens" in out
    assert "GONE tests/test_bot.py::test_gone @ app/bot.py:ask #1: 163 -> - input tokens" in out


def test_fail_on_absolute_tokens_and_percent(old_and_new, capsys) -> None:
    old, new = old_and_new
    assert main(["compare", str(old), str(new), "--fail-on", "30"]) == 0
    assert "ok: no prompt grew by more than 30 tokens" in capsys.readouterr().out
    assert main(["compare", str(old), str(new), "--fail-on", "29"]) == 1
    assert main(["compare", str(old), str(new), "--fail-on", "20%"]) == 0
    assert main(["compare", str(old), str(old)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "ok: no prompt grew by more than 5%"


def test_markdown_is_a_pull_request_comment(old_and_new, capsys) -> None:
    old, new = old_and_new
    main(["compare", str(old), str(new), "--format", "markdown"])
    text = capsys.readouterr().out
    assert text.startswith("### Prompt sizes: regression\n\nFAILED: 2 prompts grew by more than 5% (2 grew, 1 shrank")
    assert "| | Request | Before | After | Change |\n|---|---|---:|---:|---:|\n| **grew** | `tests/test_bot.py::test_order" in text
    assert "| shrank | `tests/test_bot.py::test_small @ app/bot.py:ask #1` | 163 | 88 | -75 (-46.0%) |" in text
    assert "| gone | `tests/test_bot.py::test_gone @ app/bot.py:ask #1` | 163 | - |  |" in text
    assert "<details><summary>What grew</summary>" in text and "- messages[0] system: 152 -> 182 (+30, +19.7%)" in text


def test_json_output(old_and_new, capsys) -> None:
    old, new = old_and_new
    main(["compare", str(old), str(new), "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert data["failed"] is True and data["fail_on"] == "5%"
    assert data["counts"] == {"grew": 2, "shrank": 1, "new": 1, "gone": 1, "tokenizer changed": 0, "unchanged": 0}
    grew = data["changes"][0]
    assert grew["status"] == "grew" and grew["delta"] == 30 and grew["over_tolerance"] is True
    assert grew["parts"] == [{"label": "messages[0] system", "before": 152, "after": 182}]
    assert grew["test"] == "tests/test_bot.py::test_order"


def test_two_reports_with_baseline_keys_compare_like_baselines(tmp_path: Path, capsys) -> None:
    def report(path: Path, repeats: int) -> Path:
        recs = records("tests/test_bot.py::test_order", repeats, ["Where is my order?"])
        for record in recs:  # a JSON report may write the breakdown as objects
            record["breakdown"] = [{"label": label, "tokens": tokens} for label, tokens in record["breakdown"]]
        path.write_text(json.dumps({"tests": [{"nodeid": "tests/test_bot.py::test_order", "requests": recs}]}))
        return path

    assert main(["compare", str(report(tmp_path / "a.json", 10)), str(report(tmp_path / "b.json", 12))]) == 1
    assert capsys.readouterr().out.startswith("1 grew\n")


@pytest.mark.parametrize(("text", "message"), [
    ('{"entries": {', "bad.json:1: is not valid JSON"),
    ('{"hello": 1}', 'bad.json:1: is neither a baseline (an "entries" object) nor a report (a "tests" list)'),
    ('{"format": 9, "entries": {}}', "bad.json:1: has format 9, newer than this pytest-tokenbudget reads (1)"),
    ('{"tests": [{"requests": []}]}', 'tests[0] has no "nodeid" string and "requests" list'),
])
def test_bad_input_exits_2_naming_the_file(tmp_path: Path, old_and_new, capsys, text: str, message: str) -> None:
    (tmp_path / "bad.json").write_text(text)
    assert main(["compare", str(old_and_new[0]), str(tmp_path / "bad.json")]) == 2
    assert message in capsys.readouterr().err
    assert main(["compare", str(old_and_new[0]), str(tmp_path / "missing.json")]) == 2
    with pytest.raises(SystemExit) as usage_error:  # argparse's own exit, as for every command
        main(["compare", str(old_and_new[0]), str(old_and_new[1]), "--fail-on", "lots"])
    assert usage_error.value.code == 2
    assert '--fail-on: write a percentage like "5%"' in capsys.readouterr().err


def test_merge_conflict_markers_are_named(tmp_path: Path, old_and_new) -> None:
    text = old_and_new[0].read_text().splitlines(keepends=True)
    conflicted = "".join([*text[:5], "<<<<<<< HEAD\n", *text[5:9], "=======\n", *text[5:9], ">>>>>>> branch\n", *text[9:]])
    (tmp_path / "conflict.json").write_text(conflicted)
    with pytest.raises(_baseline.BaselineError, match=r"conflict\.json:6: holds an unresolved merge conflict"):
        _baseline.load(tmp_path / "conflict.json")


def test_render_is_sorted_and_stable(old_and_new) -> None:
    text = old_and_new[0].read_text()
    entries = _baseline.load(old_and_new[0]).entries
    assert _baseline.render(dict(reversed(list(entries.items())))) == text
    assert text.endswith("}\n") and '"format": 1' in text


@pytest.mark.parametrize(("value", "allowed"), [("5%", 5.0), ("12.5 %", 12.5), (200, 200), ("5", 5), ("1_000", 1000), ("0", 0)])
def test_tolerances(value, allowed) -> None:
    assert _baseline.parse_tolerance(value).allowed(100) == allowed


@pytest.mark.parametrize("value", ["five", -1, True, 0.05, "5%%", None])
def test_bad_tolerances_say_how_to_write_one(value) -> None:
    with pytest.raises(ValueError, match='write a percentage like "5%" or a whole number of tokens like 200'):
        _baseline.parse_tolerance(value)


def test_keys_ignore_line_numbers_and_arrival_order() -> None:
    one = records("t::x", 10, ["short", "a much longer question " * 5], call_site="app/bot.py:12 in ask")
    other = records("t::x", 10, ["a much longer question " * 5, "short"], call_site="app/bot.py:40 in ask")
    assert {r["baseline_key"]: r["input_tokens"] for r in one} == {r["baseline_key"]: r["input_tokens"] for r in other}
    assert sorted(r["baseline_key"] for r in one) == ["t::x @ app/bot.py:ask #1", "t::x @ app/bot.py:ask #2"]
