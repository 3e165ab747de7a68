"""What a test run's LLM requests cost, for CI: a JSON report, JUnit XML properties, GitHub's step summary.

Everything here works from the plain data the plugin keeps per test (``report.tokenbudget``:
request records from ``_report.request_record`` plus the test's limits and problems), so it is
right under pytest-xdist, where only the controller writes files. Fields other modules add to a
record (the baseline's ``baseline_key`` and ``baseline``) are passed through as they are.

Never in any of these: request headers (they never reach the capture), URL query strings and
user info (some APIs take the key there), and prompt text, unless the user opts in to the
request bodies with ``--tokenbudget-json-bodies`` (which ``tokenbudget record`` needs to count a
Claude request it has no entry for).

Nothing here imports pytest: ``tokenbudget record`` reads the JSON report through this module.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._coverage import COVERED, EXCLUDED
from ._report import public_blocked, public_url

__all__ = [
    "REPORT_KEY",
    "REPORT_VERSION",
    "STEP_SUMMARY_ENV",
    "CIReports",
    "ReportError",
    "ReportRequest",
    "build_report",
    "is_report",
    "junit_properties",
    "report_requests",
    "step_summary",
]

REPORT_KEY = "tokenbudget_report"
REPORT_VERSION = 1
STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"

# Rows of the step summary's heaviest-prompts table when --tokenbudget-summary does not say.
DEFAULT_SUMMARY_ROWS = 10
# GitHub refuses a step summary over 1 MiB: long failure lists are cut, the JSON report has them all.
_MAX_LISTED = 100

# "stacks" (budget coverage) are summed up in the report's "coverage" section instead.
_RECORDED_ELSEWHERE = ("nodeid", "requests", "limits", "problems", "blocked", "stacks")


# --- per test, on the process that ran it ------------------------------------------------------------


def add_test_details(data: dict[str, Any], capture: Any, problems: Sequence[tuple[str, int | None]],
                     *, lock_keys: bool, bodies: bool) -> None:
    """Complete a test's plain data with its limits, its problems and, for the JSON report, per request
    the lock-file key of a Claude request (``lock_keys``) and the request body (``bodies``)."""
    data["limits"] = capture.spec.limits() if capture.spec is not None else None
    data["problems"] = [{"message": message, "request": index} for message, index in problems]
    if not (lock_keys or bodies):
        return
    for record, request in zip(data["requests"], capture.requests, strict=True):
        if lock_keys:
            record["lock_key"] = _lock_key(request)
        if bodies:
            record["body"] = dict(request.body)


def _lock_key(request: Any) -> str | None:
    """The key ``tokenbudget record`` stores this request's exact count under (Claude Messages requests only)."""
    count = request.count
    if count is None or count.model.provider != "anthropic" or count.api != "anthropic.messages":
        return None
    from ._recorded import canonical_key

    try:
        return canonical_key(request.body, count.model.id)
    except TypeError:  # a body the SDK sent cannot be unserialisable; a hand-made one might be
        return None


def junit_properties(data: Mapping[str, Any]) -> list[tuple[str, object]]:
    """Per-test properties for ``--junitxml``: request count, input tokens, models, limits, baseline delta."""
    records = data["requests"]
    counted = [record["input_tokens"] for record in records if record.get("input_tokens") is not None]
    properties: list[tuple[str, object]] = [
        ("tokenbudget_requests", len(records)),
        ("tokenbudget_input_tokens", sum(counted)),
    ]
    if counted:
        properties.append(("tokenbudget_largest_request_input_tokens", max(counted)))
    models = sorted({record["model"] for record in records if record.get("model")})
    if models:
        properties.append(("tokenbudget_model", ", ".join(models)))
    properties += [(f"tokenbudget_{key}", value) for key, value in (data.get("limits") or {}).items()]
    changes = [record["baseline"] for record in records if _baseline_delta(record) is not None]
    if changes:
        delta = sum(change["delta"] for change in changes)
        properties.append(("tokenbudget_baseline_delta", delta))
        before = [change.get("before") for change in changes]
        if all(isinstance(value, int) and value > 0 for value in before):
            properties.append(("tokenbudget_baseline_delta_pct", round(100.0 * delta / sum(before), 2)))
    if data.get("problems"):
        properties.append(("tokenbudget_problem", data["problems"][0]["message"].splitlines()[0]))
    return properties


def _baseline_delta(record: Mapping[str, Any]) -> int | None:
    baseline = record.get("baseline")
    delta = baseline.get("delta") if isinstance(baseline, Mapping) else None
    return delta if isinstance(delta, int) and not isinstance(delta, bool) else None


def is_regression(record: Mapping[str, Any]) -> bool:
    """A request that grew past its baseline's tolerance (when the record carries a baseline comparison)."""
    baseline = record.get("baseline")
    if not isinstance(baseline, Mapping):
        return False
    if "over_tolerance" in baseline:
        return bool(baseline["over_tolerance"])
    return baseline.get("status") == "grew"


# --- outcomes, on the controller --------------------------------------------------------------------


def next_outcome(previous: str | None, when: str, outcome: str, xfail: bool) -> str:
    """A test's outcome after one more phase report, in pytest's own words (error = setup or teardown failed)."""
    if when == "call":
        if xfail:
            return "xfailed" if outcome == "skipped" else "xpassed"
        return outcome
    if outcome == "failed":
        return "error" if previous in (None, "passed", "xpassed") else previous
    if outcome == "skipped" and when == "setup":
        return "skipped"
    return previous or outcome


# --- the JSON report ---------------------------------------------------------------------------------


def _request_entry(record: Mapping[str, Any]) -> dict[str, Any]:
    entry = dict(record)
    entry["url"] = public_url(str(record.get("url") or ""))
    entry["breakdown"] = [
        {"label": part[0], "tokens": part[1]} if not isinstance(part, Mapping) else dict(part)
        for part in record.get("breakdown") or ()
    ]
    return entry


def build_report(tests: Iterable[Mapping[str, Any]], outcomes: Mapping[str, str], exit_status: int | None,
                 coverage: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The JSON report: every test with captured requests (sorted by node id, so runs diff well), totals,
    and the budget coverage when it was measured."""
    entries = []
    for data in sorted(tests, key=lambda test: test["nodeid"]):
        entry = {key: value for key, value in data.items() if key not in _RECORDED_ELSEWHERE}
        entry.update({
            "nodeid": data["nodeid"],
            "outcome": outcomes.get(data["nodeid"]),
            "limits": data.get("limits"),
            "problems": list(data.get("problems") or ()),
            "blocked": [public_blocked(entry) for entry in data.get("blocked") or ()],
            "requests": [_request_entry(record) for record in sorted(data["requests"], key=lambda r: r["index"])],
        })
        entries.append(entry)
    report = {REPORT_KEY: REPORT_VERSION, "tests": entries, "totals": _totals(entries), "exit_status": exit_status}
    if coverage is not None:
        report["coverage"] = dict(coverage)
    return report


def _totals(entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    records = [record for entry in entries for record in entry["requests"]]
    counted = [record for record in records if record.get("input_tokens") is not None]
    costs = [record["cost_usd"] for record in counted if record.get("cost_usd") is not None]
    provenance: dict[str, int] = {}
    for record in counted:
        provenance[record["provenance"]] = provenance.get(record["provenance"], 0) + 1
    models: dict[str, dict[str, int]] = {}
    for record in counted:
        row = models.setdefault(record["model"], {"requests": 0, "input_tokens": 0})
        row["requests"] += 1
        row["input_tokens"] += record["input_tokens"]
    return {
        "tests": len(entries),
        "requests": len(records),
        "uncounted_requests": len(records) - len(counted),
        "input_tokens": sum(record["input_tokens"] for record in counted),
        "max_output_tokens": sum(record.get("max_output_tokens") or 0 for record in counted),
        "cost_usd": round(sum(costs), 6) if costs else None,
        "tests_over_budget": sum(1 for entry in entries if entry["problems"]),
        "baseline_regressions": sum(1 for record in records if is_regression(record)),
        "provenance": dict(sorted(provenance.items())),
        "models": dict(sorted(models.items())),
    }


def report_text(report: Mapping[str, Any]) -> str:
    # Not sorted: the records keep their fields in a reading order, and everything is built in a fixed order.
    return json.dumps(report, indent=2, ensure_ascii=False) + "\n"


@dataclass(frozen=True)
class ReportRequest:
    """A Claude Messages request of a JSON report, as ``tokenbudget record`` needs it."""

    where: str  # "report.json: tests/test_x.py::test_y request 2"
    model: str
    lock_key: str | None
    body: Mapping[str, Any] | None  # only in reports written with --tokenbudget-json-bodies


class ReportError(ValueError):
    """A file that claims to be a JSON report but is not one this version reads."""


def is_report(data: Any) -> bool:
    return isinstance(data, Mapping) and REPORT_KEY in data


def report_requests(data: Mapping[str, Any], where: str) -> Iterator[ReportRequest]:
    """The Claude Messages requests of a JSON report (``where`` names the file). Raises ReportError."""
    if data.get(REPORT_KEY) != REPORT_VERSION:
        raise ReportError(f"{where}: JSON report version {data.get(REPORT_KEY)!r} is not supported (expected "
                          f"{REPORT_VERSION}); write it again with this version's pytest --tokenbudget-json")
    tests = data.get("tests")
    if not isinstance(tests, list):
        raise ReportError(f"{where}: a JSON report needs a \"tests\" list; write it again with pytest --tokenbudget-json")
    for test in tests:
        if not isinstance(test, Mapping) or not isinstance(test.get("requests"), list):
            raise ReportError(f"{where}: every test needs a \"requests\" list; write it again with pytest --tokenbudget-json")
        for record in test["requests"]:
            if not isinstance(record, Mapping):
                raise ReportError(f"{where}: a request of {test.get('nodeid')} is not an object")
            if record.get("api") != "anthropic.messages" or not str(record.get("model") or "").startswith("claude"):
                continue
            body = record.get("body")
            yield ReportRequest(
                where=f"{where}: {test.get('nodeid')} request {record.get('index')}",
                model=str(record["model"]),
                lock_key=record.get("lock_key") if isinstance(record.get("lock_key"), str) else None,
                body=body if isinstance(body, Mapping) else None,
            )


# --- GitHub's step summary ---------------------------------------------------------------------------


def _cell(value: Any) -> str:
    """Text for a Markdown table cell: pipes and line breaks would end the cell or the row."""
    return str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _code(value: Any) -> str:
    text = _cell(value).replace("`", "'")
    return f"`{text}`"


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:,}"


def _signed(baseline: Mapping[str, Any] | None) -> str:
    if not isinstance(baseline, Mapping) or baseline.get("delta") is None:
        return _cell(baseline.get("status", "")) if isinstance(baseline, Mapping) else ""
    pct = baseline.get("delta_pct")
    pct_text = f" ({pct:+.1f}%)" if isinstance(pct, (int, float)) else ""
    return f"{baseline['delta']:+,}{pct_text}"


def step_summary(report: Mapping[str, Any], rows: int) -> str:
    """Markdown for ``$GITHUB_STEP_SUMMARY``: totals, every budget failure, every baseline regression, the heaviest prompts."""
    totals = report["totals"]
    lines = ["## Token budget", ""]
    said = (f"{totals['requests']:,} LLM request{'' if totals['requests'] == 1 else 's'} in {totals['tests']:,} "
            f"test{'' if totals['tests'] == 1 else 's'}, {totals['input_tokens']:,} input tokens")
    if totals.get("cost_usd") is not None:
        said += f", at most ${totals['cost_usd']:.4f} if sent"
    over = [test for test in report["tests"] if test["problems"]]
    failed = [test for test in over if test.get("outcome") != "xfailed"]  # an expected failure is no news
    said += f"; {len(failed)} over budget" + (f" (and {len(over) - len(failed)} expected to be, xfail)" if len(over) > len(failed) else "")
    compared = any(isinstance(record.get("baseline"), Mapping) for test in report["tests"] for record in test["requests"])
    if compared:
        said += f", {totals['baseline_regressions']} baseline regression{'' if totals['baseline_regressions'] == 1 else 's'}"
    lines += [said + ".", ""]
    if failed:
        lines += [f"### Budget failures ({len(failed)})", "", "| Test | Problem |", "| --- | --- |"]
        for test in failed[:_MAX_LISTED]:
            lines.append(f"| {_code(test['nodeid'])} | {_cell(test['problems'][0]['message'].splitlines()[0])} |")
        lines += _cut(len(failed))
    requests = [(record, test) for test in report["tests"] for record in test["requests"]]
    regressions = [(record, test) for record, test in requests if is_regression(record)]
    if regressions:
        lines += [f"### Baseline regressions ({len(regressions)})", "",
                  "| Test | Request | Before | After | Change | Called at |", "| --- | ---: | ---: | ---: | ---: | --- |"]
        for record, test in regressions[:_MAX_LISTED]:
            baseline = record["baseline"]
            lines.append(f"| {_code(test['nodeid'])} | {record['index']} | {_num(baseline.get('before'))} | "
                         f"{_num(baseline.get('after'))} | {_signed(baseline)} | {_code(record['call_site'])} |")
        lines += _cut(len(regressions))
    lines += _coverage_section(report.get("coverage"))
    heaviest = sorted((pair for pair in requests if pair[0].get("input_tokens") is not None),
                      key=lambda pair: pair[0]["input_tokens"], reverse=True)
    shown = heaviest if rows == 0 else heaviest[:rows]
    if shown:
        has_baseline = any(isinstance(record.get("baseline"), Mapping) for record, _ in shown)
        header = "| Input tokens | Limit | Output cap | Model | Test | Called at |" + (" Baseline |" if has_baseline else "")
        lines += [f"### Heaviest prompts{'' if rows == 0 or len(heaviest) <= rows else f' (top {rows} of {len(heaviest)})'}",
                  "", header, "| ---: | ---: | ---: | --- | --- | --- |" + (" ---: |" if has_baseline else "")]
        for record, test in shown:
            limit = (test.get("limits") or {}).get("max_input_tokens")
            row = (f"| {_num(record['input_tokens'])} | {_num(limit)} | {_num(record.get('max_output_tokens'))} | "
                   f"{_cell(record['model'])} ({_cell(record.get('provenance'))}) | {_code(test['nodeid'])} "
                   f"[{record['index']}] | {_code(record['call_site'])} |")
            lines.append(row + (f" {_signed(record.get('baseline'))} |" if has_baseline else ""))
    return "\n".join(lines) + "\n\n"


def _coverage_section(coverage: Mapping[str, Any] | None) -> list[str]:
    """The share of call sites under a budget, and every site that is not (what to add a marker to)."""
    if not coverage:
        return []
    if coverage.get("inventory_failed"):
        return ["### Budget coverage", "", "Not measured: the LLM call sites could not be listed.", ""]
    lines = ["### Budget coverage", "",
             f"LLM call sites exercised under a budget: {coverage['covered']} of {coverage['total']} "
             f"({coverage['percent']:.0f}%)" + (f", required {coverage['fail_under']:g}%" if coverage.get("fail_under") is not None else "")
             + ".", ""]
    missing = [site for site in coverage.get("sites", ()) if site.get("status") not in (COVERED, EXCLUDED)]
    if missing:
        lines += ["| Call site | Status | Tests |", "| --- | --- | --- |"]
        for site in missing[:_MAX_LISTED]:
            tests = ", ".join(_code(test) for test in site.get("unbudgeted_tests", ())[:3])
            where = f"{site['file']}:{site['line']}"
            lines.append(f"| {_code(where)} | {_cell(site['status'])} | {tests} |")
        lines += _cut(len(missing))
        lines.append("")
    return lines


def _cut(count: int) -> list[str]:
    extra = ["", f"... and {count - _MAX_LISTED} more (the JSON report, --tokenbudget-json, lists all)"] if count > _MAX_LISTED else []
    return [*extra, ""]


# --- the run's reports, as the plugin drives them ----------------------------------------------------


@dataclass
class CIReports:
    """The reports one pytest run writes; the plugin feeds it every phase report and, at the end, the tests."""

    json_path: Path | None = None
    bodies: bool = False
    step_summary_path: Path | None = None
    summary_rows: int = DEFAULT_SUMMARY_ROWS
    outcomes: dict[str, str] = field(default_factory=dict)
    messages: list[tuple[str, bool]] = field(default_factory=list)  # (line for the terminal, is an error)

    @property
    def wants_lock_keys(self) -> bool:
        return self.json_path is not None

    def note_phase(self, nodeid: str, when: str, outcome: str, xfail: bool) -> None:
        if self.json_path is None and self.step_summary_path is None:
            return  # only the reports read the outcomes (see finish)
        self.outcomes[nodeid] = next_outcome(self.outcomes.get(nodeid), when, outcome, xfail)

    def finish(self, tests: Sequence[Mapping[str, Any]], exit_status: int | None,
               coverage: Mapping[str, Any] | None = None) -> None:
        """Write the JSON report and append the step summary; a failure to write is said, not raised."""
        if self.json_path is None and self.step_summary_path is None:
            return
        report = build_report(tests, self.outcomes, exit_status, coverage)
        if self.json_path is not None:
            from ._files import write_text_atomically

            try:
                write_text_atomically(self.json_path, report_text(report))
            except OSError as error:
                self.messages.append((f"could not write the token budget JSON report {self.json_path}: "
                                      f"{error.strerror or error}", True))
            else:
                totals = report["totals"]
                self.messages.append((f"token budget JSON report: {self.json_path} ({totals['requests']} requests "
                                      f"in {totals['tests']} tests)", False))
        if self.step_summary_path is not None and report["tests"]:
            try:
                with open(self.step_summary_path, "a", encoding="utf-8") as handle:
                    handle.write(step_summary(report, self.summary_rows))
            except OSError as error:
                self.messages.append((f"could not append to ${STEP_SUMMARY_ENV} ({self.step_summary_path}): "
                                      f"{error.strerror or error}", True))


def step_summary_path(environ: Mapping[str, str] = os.environ) -> Path | None:
    value = environ.get(STEP_SUMMARY_ENV, "").strip()
    return Path(value) if value else None
