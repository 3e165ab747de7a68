"""``tokenbudget compare OLD NEW``: what grew, shrank, appeared and went between two baselines (or reports).

Made for CI: ``--format markdown`` is a pull-request comment, and the exit code says whether a
prompt grew past ``--fail-on`` (1) or not (0); unreadable input exits 2.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from . import _baseline
from ._baseline import (
    GONE,
    GREW,
    NEW,
    SHRANK,
    TOKENIZER_CHANGED,
    UNCHANGED,
    Change,
    Tolerance,
)
from ._coverage import COVERED

_ORDER = (GREW, SHRANK, NEW, GONE, TOKENIZER_CHANGED, UNCHANGED)


def run_compare(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="tokenbudget compare",
        description="Compare two prompt-size baselines (or two --tokenbudget-json reports): what grew, shrank, "
        "is new or gone. Exits 1 when a prompt grew past --fail-on.",
    )
    parser.add_argument("old", type=Path, help="the baseline (or report) before, e.g. from the main branch")
    parser.add_argument("new", type=Path, help="the baseline (or report) after")
    parser.add_argument("--format", choices=("text", "markdown", "json"), default="text",
                        help="text (default), markdown (for a pull-request comment) or json")
    parser.add_argument("--fail-on", default=_baseline.DEFAULT_TOLERANCE, metavar="TOLERANCE",
                        help='growth that fails: a percentage like "5%%" (default) or a number of tokens like 200')
    options = parser.parse_args(list(argv))
    try:
        fail_on = _baseline.parse_tolerance(options.fail_on)
    except ValueError as error:
        parser.error(f"--fail-on: {error}")
    changes = _baseline.compare_sets(_baseline.load_any(options.old), _baseline.load_any(options.new), fail_on)
    coverage = coverage_change(_coverage_of(options.old), _coverage_of(options.new))
    render = {"text": text_report, "markdown": markdown_report, "json": json_report}[options.format]
    print(render(changes, fail_on, coverage), end="")
    return 1 if any(change.over_tolerance for change in changes) else 0


def _coverage_of(path: Path) -> Mapping[str, Any] | None:
    """The budget coverage a --tokenbudget-json report holds (a baseline holds none); load_any has read it already."""
    data = json.loads(path.read_text(encoding="utf-8"))
    coverage = data.get("coverage") if isinstance(data, dict) else None
    if isinstance(coverage, dict) and isinstance(coverage.get("sites"), list) and not coverage.get("inventory_failed"):
        return coverage
    return None


def coverage_change(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Coverage before and after, and the call sites that lost their budget; None unless both sides measured it."""
    if old is None or new is None:
        return None
    # Sites are matched by file and line: a call that moved is listed as lost (its new line counts in "after").
    covered_before = {(site.get("file"), site.get("line")) for site in old["sites"] if site.get("status") == COVERED}
    lost = [f"{site.get('file')}:{site.get('line')}" for site in new["sites"]
            if site.get("status") != COVERED and (site.get("file"), site.get("line")) in covered_before]
    return {"before": _share(old), "after": _share(new), "lost": lost}


def _share(coverage: Mapping[str, Any]) -> dict[str, Any]:
    return {key: coverage.get(key) for key in ("covered", "total", "percent")}


def _coverage_figures(coverage: Mapping[str, Any]) -> str:
    before, after = coverage["before"], coverage["after"]
    return (f"{before['percent']:.0f}% ({before['covered']} of {before['total']}) -> "
            f"{after['percent']:.0f}% ({after['covered']} of {after['total']})")


def _counts(changes: Sequence[Change]) -> str:
    counted = {status: sum(1 for c in changes if c.status == status) for status in _ORDER}
    return ", ".join(f"{n} {status}" for status, n in counted.items() if n) or "nothing to compare"


def _sorted(changes: Sequence[Change]) -> list[Change]:
    """Worst first: growth by size of the change, then the other kinds."""
    return sorted((c for c in changes if c.status != UNCHANGED),
                  key=lambda c: (_ORDER.index(c.status), -abs(c.delta or 0), c.key))


def _verdict(changes: Sequence[Change], fail_on: Tolerance) -> str:
    failing = sum(1 for change in changes if change.over_tolerance)
    if failing:
        return f"FAILED: {failing} prompt{'s' if failing != 1 else ''} grew by more than {fail_on}"
    return f"ok: no prompt grew by more than {fail_on}"


def text_report(changes: Sequence[Change], fail_on: Tolerance, coverage: Mapping[str, Any] | None = None) -> str:
    lines = [f"{_counts(changes)}", _verdict(changes, fail_on)]
    if coverage is not None:
        lines.append(f"budget coverage: {_coverage_figures(coverage)}")
        lines += [f"  no longer under a budget: {site}" for site in coverage["lost"]]
    for change in _sorted(changes):
        mark = " (over)" if change.over_tolerance else ""
        lines.append("")
        lines.append(f"{change.status.upper()}{mark} {change.key}: {change.sizes()}")
        lines += change.describe()[1:]
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown_report(changes: Sequence[Change], fail_on: Tolerance, coverage: Mapping[str, Any] | None = None) -> str:
    failing = any(change.over_tolerance for change in changes)
    lines = [f"### Prompt sizes: {'regression' if failing else 'no regression'}", "",
             f"{_verdict(changes, fail_on)} ({_counts(changes)}).", ""]
    if coverage is not None:
        lines += [f"Budget coverage: {_coverage_figures(coverage)}.", ""]
        lines += [f"- no longer under a budget: `{_cell(site)}`" for site in coverage["lost"]]
        lines += [""] if coverage["lost"] else []
    shown = _sorted(changes)
    if shown:
        lines += ["| | Request | Before | After | Change |", "|---|---|---:|---:|---:|"]
        for change in shown:
            status = f"**{change.status}**" if change.over_tolerance else change.status
            before = change.before["input_tokens"] if change.before else None
            after = change.after["input_tokens"] if change.after else None
            delta = "" if change.delta is None else f"{change.delta:+,}" + (
                f" ({change.delta_pct:+.1f}%)" if change.delta_pct is not None else "")
            lines.append(f"| {status} | `{_cell(change.key)}` | {_number(before)} | {_number(after)} | {delta} |")
        grown = [change for change in shown if change.status == GREW and change.parts]
        if grown:
            lines += ["", "<details><summary>What grew</summary>", ""]
            for change in grown:
                lines.append(f"`{_cell(change.key)}`")
                lines.append("")
                lines += [f"- {line.strip()}" for line in change.describe(None)[1:]]
                lines.append("")
            lines.append("</details>")
    return "\n".join(lines) + "\n"


def _number(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def json_report(changes: Sequence[Change], fail_on: Tolerance, coverage: Mapping[str, Any] | None = None) -> str:
    data: dict[str, Any] = {
        "coverage": coverage,
        "fail_on": str(fail_on),
        "failed": any(change.over_tolerance for change in changes),
        "counts": {status: sum(1 for c in changes if c.status == status) for status in _ORDER},
        "changes": [
            {"key": change.key, "test": change.test, **change.as_record(),
             "parts": [{"label": label, "before": before, "after": after} for label, before, after in change.parts]}
            for change in _sorted(changes)
        ],
    }
    return json.dumps(data, indent=2, sort_keys=True) + "\n"
