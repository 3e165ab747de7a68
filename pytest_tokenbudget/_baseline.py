"""Prompt-size baselines: a committed file of what each test's requests cost, and the comparison with it.

Hard budgets catch disasters; a baseline catches the creep. The file holds one entry per test and
request, keyed so that the key survives unrelated edits and scheduling:

    <test node id> @ <path>:<function> #<occurrence>

The call site is the first frame in the user's code (see ``_capture``) without its line number, so
an edit above the call does not rename the entry. Requests from one call site are numbered after
sorting them by their shape (number of parts, then size), not by arrival: concurrent requests
(``asyncio.gather``, threads) arrive in any order, a conversation loop's turns grow in parts.

Everything works on plain data (the records of ``_report.request_record``), so the xdist controller
can write the file from what workers reported. No pytest import: the CLI compares files with it.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._errors import TokenBudgetError
from ._files import write_text_atomically

__all__ = [
    "DEFAULT_FILENAME", "FORMAT_VERSION", "Baseline", "BaselineError", "Change", "Tolerance", "UpdatePlan",
    "annotate", "compare", "entry_from_record", "load", "parse_tolerance", "plan_update", "render",
]

DEFAULT_FILENAME = "tokenbudget-baseline.json"
FORMAT_VERSION = 1
DEFAULT_TOLERANCE = "5%"

# Statuses of a request compared with its entry.
NEW, UNCHANGED, GREW, SHRANK, TOKENIZER_CHANGED, GONE = "new", "unchanged", "grew", "shrank", "tokenizer changed", "gone"

_ENTRY_FIELDS: dict[str, tuple[type, ...]] = {
    "test": (str,), "call_site": (str,), "model": (str,), "tokenizer": (str,), "tokenizer_version": (str,),
    "provenance": (str,), "input_tokens": (int,), "max_output_tokens": (int, type(None)), "breakdown": (dict,),
}
_RESTORE_FIX = "restore it from version control (git checkout -- {name}), or delete it and re-record with pytest --tokenbudget-update"


class BaselineError(TokenBudgetError):
    """A baseline file we cannot use; the message names the file, the line and the fix."""

    def __init__(self, path: object, line: int | None, problem: str, fix: str) -> None:
        self.path, self.line = str(path), line
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {problem}. Fix: {fix}")


# --- tolerance -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tolerance:
    """How much a prompt may grow over its entry: a fraction of the entry (``"5%"``) or a number of tokens."""

    fraction: float | None = None
    tokens: int | None = None

    def allowed(self, before: int) -> float:
        return self.tokens if self.tokens is not None else before * (self.fraction or 0.0)

    def __str__(self) -> str:
        if self.tokens is not None:
            return f"{self.tokens:,} token{'s' if self.tokens != 1 else ''}"
        return f"{(self.fraction or 0) * 100:g}%"


_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")


def parse_tolerance(value: Any) -> Tolerance:
    """``"5%"`` (relative) or ``200`` / ``"200"`` (tokens). Raises ValueError saying how to write it."""
    usage = f'write a percentage like "5%" or a whole number of tokens like 200, got {value!r}'
    if isinstance(value, bool):
        raise ValueError(usage)
    if isinstance(value, int):
        if value < 0:
            raise ValueError(usage)
        return Tolerance(tokens=value)
    if isinstance(value, str):
        match = _PERCENT.match(value)
        if match:
            return Tolerance(fraction=float(match.group(1)) / 100)
        text = value.strip().replace("_", "").replace(",", "")
        if text.isdigit():
            return Tolerance(tokens=int(text))
    if isinstance(value, float) and math.isfinite(value) and value.is_integer() and value >= 0:
        return Tolerance(tokens=int(value))
    raise ValueError(usage)


# --- keys and entries ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)  # every request of every test asks, for the same few call sites
def call_site_key(call_site: str) -> str:
    """``app/bot.py:41 in answer`` -> ``app/bot.py:answer``: the line number is left out on purpose."""
    location, _, function = call_site.rpartition(" in ")
    if not location:
        return call_site.replace("\\", "/")
    path = re.sub(r":\d+$", "", location)
    return f"{path.replace(chr(92), '/')}:{function}"


def _shape(record: Mapping[str, Any]) -> tuple[Any, ...]:
    parts = _parts(record.get("breakdown"))
    return (len(parts), record.get("input_tokens") or 0, record.get("max_output_tokens") or 0,
            record.get("model") or "", sorted(parts))


def annotate(
    nodeid: str,
    records: Sequence[dict[str, Any]],
    entries: Mapping[str, Mapping[str, Any]] | None,
    tolerance: Tolerance,
    shrink_tolerance: Tolerance | None = None,
) -> list[tuple[dict[str, Any], Change]]:
    """Give each counted record its ``baseline_key``; with ``entries``, also its comparison as ``baseline``.

    Returns (record, change) pairs for the records that were compared.
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        record.setdefault("baseline_key", None)
        record.setdefault("baseline", None)
        if record.get("input_tokens") is None:
            continue  # not counted (unknown model, unreadable body): that is already a failure
        groups.setdefault(call_site_key(record["call_site"]), []).append(record)
    compared = []
    for site, group in groups.items():
        ordered = sorted(group, key=_shape) if len(group) > 1 else group  # one request: no order to settle
        for occurrence, record in enumerate(ordered, start=1):
            record["baseline_key"] = f"{nodeid} @ {site} #{occurrence}"
            if entries is None:
                continue
            change = compare(record["baseline_key"], entries.get(record["baseline_key"]),
                             entry_from_record(nodeid, record), tolerance, shrink_tolerance)
            record["baseline"] = change.as_record()
            compared.append((record, change))
    return compared


def entry_from_record(nodeid: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """What the baseline file keeps of a request record: sizes and how they were counted, never text."""
    breakdown: dict[str, int] = {}
    for label, tokens in _parts(record.get("breakdown")):
        breakdown[label] = breakdown.get(label, 0) + tokens  # two images can share a label
    return {
        "test": nodeid,
        "call_site": call_site_key(record["call_site"]),
        "model": record["model"],
        "tokenizer": record["tokenizer"],
        "tokenizer_version": record.get("tokenizer_version") or "",
        "provenance": record["provenance"],
        "input_tokens": record["input_tokens"],
        "max_output_tokens": record.get("max_output_tokens"),
        "breakdown": breakdown,
    }


def _parts(breakdown: Any) -> list[tuple[str, int]]:
    """A breakdown as (label, tokens) pairs, from pairs, {"label", "tokens"} objects or a label -> tokens object."""
    if isinstance(breakdown, Mapping):
        return list(breakdown.items())
    return [(part["label"], part["tokens"]) if isinstance(part, Mapping) else (part[0], part[1]) for part in breakdown or ()]


# --- comparing ----------------------------------------------------------------------------------


@dataclass
class Change:
    """One request compared with its entry (either side may be missing: new, gone)."""

    key: str
    status: str
    before: Mapping[str, Any] | None
    after: Mapping[str, Any] | None
    tolerance: Tolerance
    over_tolerance: bool = False  # grew by more than the tolerance
    shrank_too_much: bool = False  # shrank by more than the shrink tolerance
    parts: list[tuple[str, int | None, int | None]] = field(default_factory=list)  # label, before, after

    @property
    def delta(self) -> int | None:
        if self.before is None or self.after is None:
            return None
        return self.after["input_tokens"] - self.before["input_tokens"]

    @property
    def delta_pct(self) -> float | None:
        if self.delta is None or not self.before or not self.before["input_tokens"]:
            return None
        return round(100.0 * self.delta / self.before["input_tokens"], 2)

    @property
    def test(self) -> str:
        side = self.after if self.after is not None else self.before
        return str(side["test"]) if side else ""

    def as_record(self) -> dict[str, Any]:
        """Plain data for reports: sizes only."""
        return {
            "status": self.status,
            "before": self.before["input_tokens"] if self.before else None,
            "after": self.after["input_tokens"] if self.after else None,
            "delta": self.delta,
            "delta_pct": self.delta_pct,
            "over_tolerance": self.over_tolerance,
            "tolerance": str(self.tolerance),
        }

    def sizes(self) -> str:
        """``1,000 -> 1,200 input tokens (+200, +20.0%)``."""
        before = self.before["input_tokens"] if self.before else None
        after = self.after["input_tokens"] if self.after else None
        return f"{_num(before)} -> {_num(after)} input tokens{_signed(self.delta, self.delta_pct)}"

    def describe(self, parts_shown: int | None = 8) -> list[str]:
        """The change and the components whose counts changed, largest change first."""
        lines = [f"{self.key}: {self.status}, {self.sizes()}"]
        if self.status == TOKENIZER_CHANGED and self.before and self.after:
            lines.append(f"  counted with {_counter(self.after)}, baseline with {_counter(self.before)}")
        shown = self.parts if parts_shown is None else self.parts[:parts_shown]
        for label, before, after in shown:
            delta = None if before is None or after is None else after - before
            pct = None if delta is None or not before else round(100.0 * delta / before, 1)
            lines.append(f"    {label}: {_num(before)} -> {_num(after)}{_signed(delta, pct)}")
        if len(shown) < len(self.parts):
            lines.append(f"    ... {len(self.parts) - len(shown)} more changed parts (-v shows all)")
        return lines


def compare(
    key: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    tolerance: Tolerance,
    shrink_tolerance: Tolerance | None = None,
) -> Change:
    if before is None:
        return Change(key, NEW, None, after, tolerance)
    if after is None:
        return Change(key, GONE, before, None, tolerance)
    parts = _changed_parts(before.get("breakdown") or {}, after.get("breakdown") or {})
    if _counter(before) != _counter(after):
        # Another tokenizer counts differently: a re-baseline, never a regression.
        return Change(key, TOKENIZER_CHANGED, before, after, tolerance, parts=parts)
    delta = after["input_tokens"] - before["input_tokens"]
    if delta > 0:
        return Change(key, GREW, before, after, tolerance, over_tolerance=delta > tolerance.allowed(before["input_tokens"]),
                      parts=parts)
    if delta < 0:
        too_much = shrink_tolerance is not None and -delta > shrink_tolerance.allowed(before["input_tokens"])
        return Change(key, SHRANK, before, after, tolerance, shrank_too_much=too_much, parts=parts)
    return Change(key, UNCHANGED, before, after, tolerance, parts=parts)


def _counter(entry: Mapping[str, Any]) -> str:
    return f"{entry.get('tokenizer')} ({entry.get('tokenizer_version') or 'unknown version'}, {entry.get('provenance')})"


def _changed_parts(before: Mapping[str, int], after: Mapping[str, int]) -> list[tuple[str, int | None, int | None]]:
    labels = list(dict.fromkeys([*after, *before]))
    changed = [(label, before.get(label), after.get(label)) for label in labels if before.get(label) != after.get(label)]
    return sorted(changed, key=lambda part: -abs((part[2] or 0) - (part[1] or 0)))


def _num(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _signed(delta: int | None, pct: float | None) -> str:
    if delta is None:
        return ""
    return f" ({delta:+,}" + (f", {pct:+.1f}%)" if pct is not None else ")")


def compare_sets(
    old: Mapping[str, Mapping[str, Any]], new: Mapping[str, Mapping[str, Any]], tolerance: Tolerance
) -> list[Change]:
    """Every key of either side compared, in key order (what ``tokenbudget compare`` reports)."""
    return [compare(key, old.get(key), new.get(key), tolerance) for key in sorted({*old, *new})]


# --- the file -------------------------------------------------------------------------------------


@dataclass
class Baseline:
    path: Path
    entries: dict[str, dict[str, Any]]


def load(path: Path) -> Baseline | None:
    """The baseline at ``path``, or None when there is none. Raises BaselineError for a broken file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise BaselineError(path, None, f"cannot be read ({error})", "check the path and permissions") from None
    return Baseline(path, parse(text, path))


def parse(text: str, path: Path) -> dict[str, dict[str, Any]]:
    fix = _RESTORE_FIX.format(name=path.name)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        if "<<<<<<<" in text:
            conflict = next(i for i, line in enumerate(text.splitlines(), 1) if line.startswith("<<<<<<<"))
            raise BaselineError(path, conflict, "holds an unresolved merge conflict",
                                "keep either side, then run pytest --tokenbudget-update to re-record the changed "
                                "entries") from None
        raise BaselineError(path, error.lineno, f"is not valid JSON ({error.msg})", fix) from None
    if not isinstance(data, dict) or "entries" not in data:
        raise BaselineError(path, 1, 'is not a pytest-tokenbudget baseline (no "entries" object at the top)', fix)
    version = data.get("format")
    if version != FORMAT_VERSION:
        problem = (f"has format {version!r}, newer than this pytest-tokenbudget reads ({FORMAT_VERSION})"
                   if isinstance(version, int) and version > FORMAT_VERSION else f"has format {version!r}, not {FORMAT_VERSION}")
        raise BaselineError(path, _line_of(text, '"format"'), problem,
                            "upgrade pytest-tokenbudget, or re-record the file with pytest --tokenbudget-update")
    entries = data["entries"]
    if not isinstance(entries, dict):
        raise BaselineError(path, _line_of(text, '"entries"'), '"entries" must be an object', fix)
    for key, entry in entries.items():
        problem = _entry_problem(entry)
        if problem:
            raise BaselineError(path, _line_of(text, json.dumps(key)), f"entry {key!r} {problem}", fix)
    return entries


def _entry_problem(entry: Any) -> str | None:
    if not isinstance(entry, dict):
        return "must be an object"
    for name, types in _ENTRY_FIELDS.items():
        if name not in entry:
            return f"has no {name!r}"
        value = entry[name]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            return f"has a bad {name!r}: {value!r}"
    if entry["input_tokens"] < 0 or not all(isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)
                                            for k, v in entry["breakdown"].items()):
        return "has negative or non-integer token counts"
    return None


def _line_of(text: str, needle: str) -> int | None:
    position = text.find(needle)
    return text.count("\n", 0, position) + 1 if position >= 0 else None


def load_any(path: Path) -> dict[str, dict[str, Any]]:
    """The entries of a baseline file, or of a JSON report whose requests carry ``baseline_key``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise BaselineError(path, None, f"cannot be read ({getattr(error, 'strerror', None) or error})",
                            "pass a baseline file or a --tokenbudget-json report") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise BaselineError(path, error.lineno, f"is not valid JSON ({error.msg})",
                            "pass a baseline file or a --tokenbudget-json report") from None
    if isinstance(data, dict) and "entries" in data:
        return parse(text, path)
    if isinstance(data, dict) and isinstance(data.get("tests"), list):
        return _report_entries(data["tests"], path, text)
    raise BaselineError(path, 1, 'is neither a baseline (an "entries" object) nor a report (a "tests" list)',
                        "pass a baseline file or a --tokenbudget-json report")


def _report_entries(tests: list[Any], path: Path, text: str) -> dict[str, dict[str, Any]]:
    entries: dict[str, dict[str, Any]] = {}
    for number, test in enumerate(tests):
        nodeid = test.get("nodeid") or test.get("test") if isinstance(test, dict) else None
        requests = test.get("requests") if isinstance(test, dict) else None
        if not isinstance(nodeid, str) or not isinstance(requests, list):
            raise BaselineError(path, None, f"tests[{number}] has no \"nodeid\" string and \"requests\" list",
                                "pass a report written by pytest --tokenbudget-json")
        for record in requests:
            if not isinstance(record, dict) or not record.get("baseline_key") or record.get("input_tokens") is None:
                continue  # not counted: nothing to compare
            try:
                entry = entry_from_record(nodeid, record)
            except (KeyError, TypeError, IndexError) as error:
                raise BaselineError(path, _line_of(text, json.dumps(record["baseline_key"])),
                                    f"request {record['baseline_key']!r} lacks {error}",
                                    "pass a report written by pytest --tokenbudget-json") from None
            entries[record["baseline_key"]] = entry
    return entries


def render(entries: Mapping[str, Mapping[str, Any]]) -> str:
    """The file's text: sorted keys, one field per line, a trailing newline, so diffs show what grew."""
    data = {"format": FORMAT_VERSION, "generated_by": "pytest-tokenbudget", "entries": dict(entries)}
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# --- updating -------------------------------------------------------------------------------------


@dataclass
class UpdatePlan:
    """What an update run would do to the file."""

    entries: dict[str, dict[str, Any]]
    added: list[str]
    updated: list[str]
    unused: list[str]  # removed by a full update, kept by an add-new-only one
    changed_file: bool

    def summary(self, removed: bool) -> str:
        """``2 entries updated, 1 added, 3 unused``, the way snapshot tools say it."""
        updated = len(self.updated)
        unused = f"{len(self.unused)} {'removed' if removed else 'unused'}"
        return f"{updated} entr{'y' if updated == 1 else 'ies'} updated, {len(self.added)} added, {unused}"


def unused_keys(
    entries: Mapping[str, Mapping[str, Any]],
    produced: Iterable[str],
    completed_tests: Iterable[str],
    collected: Iterable[str] | None,
) -> list[str]:
    """Entries no request produced, among tests that ran to the end; with a full unfiltered
    collection (``collected``), also the entries of tests that no longer exist."""
    produced, completed = set(produced), set(completed_tests)
    existing = set(collected) if collected is not None else None
    unused = []
    for key, entry in entries.items():
        test = entry.get("test")
        if key in produced:
            continue
        if test in completed or (existing is not None and test not in existing):
            unused.append(key)
    return sorted(unused)


def plan_update(
    entries: Mapping[str, Mapping[str, Any]],
    current: Mapping[str, Mapping[str, Any]],
    unused: Sequence[str],
    *,
    only_new: bool,
) -> UpdatePlan:
    merged = {key: dict(entry) for key, entry in entries.items()}
    added = sorted(key for key in current if key not in entries)
    updated = [] if only_new else sorted(key for key in current if key in entries and dict(entries[key]) != dict(current[key]))
    for key in (*added, *updated):
        merged[key] = dict(current[key])
    if not only_new:
        for key in unused:
            merged.pop(key, None)
    changed = bool(added or updated or (unused and not only_new))
    return UpdatePlan(merged, added, updated, list(unused), changed)


# --- a pytest session with a baseline -------------------------------------------------------------


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


class BaselineRun:
    """The baseline side of one pytest process: read everywhere, judged per test, written by the
    xdist controller only (workers send their records on the teardown reports)."""

    _LISTED = 10  # keys listed per kind in the summary without -v

    def __init__(self, config: Any, table: Mapping[str, Any], pyproject: Path | None) -> None:
        import pytest

        self.config = config
        self.update: bool = config.getoption("tokenbudget_update")
        self.add_new: bool = config.getoption("tokenbudget_add_new")
        if self.update and self.add_new:
            raise pytest.UsageError("pytest-tokenbudget: use --tokenbudget-update or --tokenbudget-add-new, not both")
        self.controller = not hasattr(config, "workerinput")
        self.path = self._path(config, table, pyproject)
        where = f"{pyproject}: [tool.tokenbudget]"
        self.tolerance = self._tolerance(table, "baseline-tolerance", where) or parse_tolerance(DEFAULT_TOLERANCE)
        self.shrink_tolerance = self._tolerance(table, "baseline-shrink-tolerance", where)
        self.baseline: Baseline | None = None
        self.collected: set[str] = set()
        self.filtered = False  # something besides the configured test paths chose the tests
        self.plan: UpdatePlan | None = None
        self.refused_in_ci = False
        self.unused: list[str] = []
        self.changes: list[Mapping[str, Any]] = []
        self.passed: set[str] = set()  # tests whose call phase passed, budgeted or not
        self.property_tests = 0  # budgeted Hypothesis tests, judged by their budgets but never baselined

    @property
    def shown_path(self) -> str:
        """The file as the user would type it: relative to where pytest was started, when inside it."""
        try:
            return str(self.path.relative_to(Path(self.config.invocation_params.dir).resolve()))
        except ValueError:
            return str(self.path)

    @staticmethod
    def _path(config: Any, table: Mapping[str, Any], pyproject: Path | None) -> Path:
        import pytest

        given = config.getoption("tokenbudget_baseline")
        if given:
            return Path(config.invocation_params.dir, given).resolve()
        configured = table.get("baseline")
        if configured is None:
            return Path(config.rootpath, DEFAULT_FILENAME)
        if not isinstance(configured, str) or not configured.strip():
            raise pytest.UsageError(f"pytest-tokenbudget: {pyproject}: [tool.tokenbudget] baseline must be a path "
                                    f'string like "{DEFAULT_FILENAME}", got {configured!r}')
        return Path(pyproject.parent if pyproject else config.rootpath, configured).resolve()

    @staticmethod
    def _tolerance(table: Mapping[str, Any], key: str, where: str) -> Tolerance | None:
        import pytest

        if table.get(key) is None:
            return None
        try:
            return parse_tolerance(table[key])
        except ValueError as error:
            raise pytest.UsageError(f"pytest-tokenbudget: {where} {key}: {error}") from None

    # --- during the session ---------------------------------------------------------------------

    def load(self) -> None:
        import pytest

        try:
            self.baseline = load(self.path)
        except BaselineError as error:
            pytest.exit(f"pytest-tokenbudget: {error}", returncode=2)

    def annotate(self, capture: Any, records: Sequence[dict[str, Any]]) -> list[tuple[dict[str, Any], Change]]:
        if not capture.baselined:
            for record in records:
                record.setdefault("baseline_key", None)
                record.setdefault("baseline", None)
            return []
        spec = capture.spec
        entries = self.baseline.entries if self.baseline is not None and spec is not None else None
        tolerance = (spec.baseline_tolerance if spec is not None else None) or self.tolerance
        return annotate(capture.nodeid, records, entries, tolerance, self.shrink_tolerance)

    def judges(self, capture: Any) -> bool:
        """Whether :meth:`problems` can find anything for this test: callers skip building its records when not."""
        return not self.update and self.baseline is not None and capture.baselined and capture.spec is not None

    def problems(self, capture: Any, records: Sequence[dict[str, Any]], verbosity: int) -> list[tuple[str, int | None]]:
        """Growth past the tolerance (and, when configured, a large shrink) as budget problems."""
        if not self.judges(capture):
            return []  # this run rewrites the baseline, or there is nothing to compare with
        found = []
        for record, change in self.annotate(capture, records):
            if change.over_tolerance:
                sentence = (f"prompt grew past its baseline: request {record['index']} {change.sizes()}, "
                            f"more than the {change.tolerance} tolerance")
                hint = ("if the growth is intended, record it with pytest --tokenbudget-update "
                        "(or allow more with baseline_tolerance= on the marker)")
            elif change.shrank_too_much:
                sentence = (f"prompt shrank past its baseline: request {record['index']} {change.sizes()}, more "
                            f"than the {self.shrink_tolerance} shrink tolerance")
                hint = "record the smaller prompt with pytest --tokenbudget-update, so the baseline stays tight"
            else:
                continue
            detail = change.describe(None if verbosity > 0 else 8)
            detail[0] = f"  baseline entry {change.key!r} ({self.path.name})"
            found.append(("\n".join([sentence, *detail, f"  {hint}"]), record["index"]))
        return found

    def note_collected(self, nodeids: Iterable[str]) -> None:
        self.collected.update(nodeids)

    def note_passed(self, nodeid: str) -> None:
        self.passed.add(nodeid)

    def note_filtered(self) -> None:
        self.filtered = True

    def _full_collection(self) -> bool:
        """Whether every test of the project was collected, so a missing test is really gone."""
        option = self.config.option
        narrowed = (getattr(option, name, None) for name in ("keyword", "markexpr", "lf", "deselect", "ignore",
                                                              "ignore_glob"))
        explicit_args = self.config.args_source == type(self.config).ArgsSource.ARGS
        return bool(self.collected) and not self.filtered and not explicit_args and not any(narrowed)

    # --- at the end -------------------------------------------------------------------------------

    def finish(self, session: Any, tests: Sequence[Mapping[str, Any]]) -> None:
        import pytest

        if not self.controller:
            self.config.workeroutput["tokenbudget_filtered"] = self.filtered
            return
        if session.exitstatus == pytest.ExitCode.INTERRUPTED or (self.baseline is None and not (self.update or self.add_new)):
            return
        current: dict[str, dict[str, Any]] = {}
        completed = set(self.passed)  # a test that lost its marker ran without its entries: they are unused
        for test in tests:
            if not test.get("budgeted"):
                continue
            if not test.get("baselined", True):
                self.property_tests += 1
            if test.get("completed"):
                completed.add(test["nodeid"])
            for record in test["requests"]:
                if record.get("baseline_key"):
                    current[record["baseline_key"]] = entry_from_record(test["nodeid"], record)
                if record.get("baseline"):
                    self.changes.append({"key": record["baseline_key"], **record["baseline"]})
        entries = self.baseline.entries if self.baseline is not None else {}
        self.unused = unused_keys(entries, current, completed, self.collected if self._full_collection() else None)
        if not (self.update or self.add_new):
            return
        self.plan = plan_update(entries, current, self.unused, only_new=self.add_new)
        if not self.plan.changed_file:
            return
        if _in_ci():
            self.refused_in_ci = True
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
            return
        write_text_atomically(self.path, render(self.plan.entries))

    def summary(self, terminal: Any, verbosity: int) -> None:
        if not self.controller or (self.plan is None and not self.changes and not self.unused and not self.property_tests):
            return
        terminal.write_sep("=", "token budget baseline", red=self.refused_in_ci, bold=self.refused_in_ci)
        self._write_changes(terminal, None if verbosity > 0 else self._LISTED)
        if self.property_tests:
            plural = self.property_tests != 1
            terminal.write_line(f"{self.property_tests} property test{'s' if plural else ''} (Hypothesis) not "
                                "baselined: each run draws other prompts; their budgets still apply")

    def _write_changes(self, terminal: Any, shown: int | None) -> None:
        if self.plan is not None:
            removed = not self.add_new
            if self.refused_in_ci:
                terminal.write_line(f"{self.shown_path}: NOT written: {self.plan.summary(removed)} would change it, and an "
                                    "update run must not rewrite the baseline in CI (the CI environment variable is "
                                    "set). Run pytest --tokenbudget-update locally and commit the file.", red=True)
            elif self.plan.changed_file:
                terminal.write_line(f"{self.shown_path}: {self.plan.summary(removed)}")
            else:
                terminal.write_line(f"{self.shown_path}: up to date ({len(self.plan.entries)} entries)")
            for label, keys in (("ADDED", self.plan.added), ("UPDATED", self.plan.updated),
                                ("REMOVED" if removed else "UNUSED", self.plan.unused)):
                self._list(terminal, label, keys, shown)
            return
        counts: dict[str, int] = {}
        for change in self.changes:
            counts[change["status"]] = counts.get(change["status"], 0) + 1
        said = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
        terminal.write_line(f"compared with {self.shown_path}: {said or 'no requests'}" +
                            (f"; {len(self.unused)} unused" if self.unused else ""))
        new = [c["key"] for c in self.changes if c["status"] == NEW]
        self._list(terminal, "NEW", new, shown, "not in the baseline yet: pytest --tokenbudget-update records them")
        retokenized = [c["key"] for c in self.changes if c["status"] == TOKENIZER_CHANGED]
        self._list(terminal, "TOKENIZER CHANGED", retokenized, shown,
                   "counted by another tokenizer or version than the baseline, so not compared as a regression: "
                   "re-baseline with pytest --tokenbudget-update")
        self._list(terminal, "UNUSED", self.unused, shown, "no test produced these: the next "
                   "pytest --tokenbudget-update removes them")

    @staticmethod
    def _list(terminal: Any, label: str, keys: Sequence[str], shown: int | None, hint: str = "") -> None:
        if not keys:
            return
        if hint:
            terminal.write_line(f"{len(keys)} {label.lower()}: {hint}")
        for key in keys[:shown] if shown is not None else keys:
            terminal.write_line(f"  {label} {key}")
        if shown is not None and len(keys) > shown:
            terminal.write_line(f"  ... and {len(keys) - shown} more (-v lists all)")
