"""Budget coverage: which of the project's LLM call sites did the tests exercise under a budget?

The static side is the checker's inventory (``checker.inventory``); the dynamic side is, for each
test, the stacks of the LLM requests it sent: (filename, line) of every user-code frame, collected
at the observation point. A site is covered when a budgeted test's request passed through one of
its lines. Everything here works on plain data, so it runs on the xdist controller from what the
workers sent. Importing this module does not import pytest.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

__all__ = ["CoverageSettings", "coverage_result", "coverage_lines", "fails_under"]

COVERED = "covered"
UNBUDGETED = "exercised, unbudgeted"
NOT_EXERCISED = "not exercised"
EXCLUDED = "excluded"


@dataclass(frozen=True)
class CoverageSettings:
    """``--tokenbudget-coverage`` and ``[tool.tokenbudget.coverage]``: where to look, what to leave out."""

    paths: tuple[str, ...]  # absolute
    exclude: tuple[str, ...] = ()  # globs on the path relative to the project root
    fail_under: float | None = None
    given: tuple[str, ...] = field(default=(), compare=False)  # the paths as written, for messages


def settings_from(option: Sequence[Any] | None, table: Mapping[str, Any], rootpath: Path, invocation_dir: Path,
                  fail_under: float | None, where: str) -> CoverageSettings | None:
    """The coverage settings, or None when coverage is off. Raises ValueError naming the key."""
    if not option:
        return None
    unknown = sorted(set(table) - {"source", "exclude", "fail-under"})
    if unknown:
        raise ValueError(f"{where} {unknown[0]} is not a coverage setting (use source, exclude, fail-under)")
    for key in ("source", "exclude"):
        value = table.get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ValueError(f"{where} {key} must be a list of strings, e.g. {key} = [\"src\"]")
    given_on_command_line = [str(item) for item in option if item is not True]
    if given_on_command_line:
        given = given_on_command_line
        paths = [str((invocation_dir / item).resolve()) if not os.path.isabs(item) else item for item in given]
    elif table.get("source"):
        given = list(table["source"])
        paths = [str((rootpath / item).resolve()) for item in given]
    else:
        given, paths = [str(rootpath)], [str(rootpath)]
    if fail_under is None and "fail-under" in table:
        value = table["fail-under"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
            raise ValueError(f"{where} fail-under must be a number from 0 to 100, e.g. fail-under = 90")
        fail_under = float(value)
    return CoverageSettings(tuple(paths), tuple(table.get("exclude", [])), fail_under, tuple(given))


def coverage_result(
    inventory: Mapping[str, Any],
    tests: Iterable[Mapping[str, Any]],
    settings: CoverageSettings,
    imported: set[str] | None = None,
    rootpath: str | None = None,
) -> dict[str, Any]:
    """The coverage of ``inventory`` (``checker.inventory.Inventory.as_dict()``) by ``tests``
    (plain dicts with ``nodeid``, ``budgeted`` and ``stacks``), as plain data a JSON report can
    hold as is. ``imported``: real paths of the files the run imported (None: unknown).
    ``rootpath``: sites are shown (and exclude globs matched) relative to it, like pytest's node ids."""
    real: dict[str, str] = {}

    def realpath(name: str) -> str:
        found = real.get(name)
        if found is None:
            found = real[name] = os.path.realpath(name)
        return found

    sites = []
    by_file: dict[str, list[dict[str, Any]]] = {}
    for site in inventory.get("sites", []):
        entry = {key: site[key] for key in ("file", "line", "end_line", "api", "provider", "model", "cap")}
        if rootpath and site["path"].startswith(rootpath.rstrip(os.sep) + os.sep):
            entry["file"] = Path(os.path.relpath(site["path"], rootpath)).as_posix()
        entry.update(status=NOT_EXERCISED, budgeted_tests=[], unbudgeted_tests=[], excluded_by=None)
        if site.get("no_cover"):
            entry["excluded_by"] = "# tokenbudget: no-cover"
        else:
            glob = next((g for g in settings.exclude if fnmatch.fnmatchcase(site["file"], g)), None)
            if glob is not None:
                entry["excluded_by"] = f"exclude {glob!r}"
        if entry["excluded_by"]:
            entry["status"] = EXCLUDED
        sites.append(entry)
        by_file.setdefault(realpath(site["path"]), []).append(entry)
        entry["_path"] = realpath(site["path"])
    for test in tests:
        key = "budgeted_tests" if test.get("budgeted") else "unbudgeted_tests"
        for stack in test.get("stacks") or ():
            for filename, line in stack:
                for entry in by_file.get(realpath(filename), ()):
                    if entry["line"] <= line <= entry["end_line"] and test["nodeid"] not in entry[key]:
                        entry[key].append(test["nodeid"])
    for entry in sites:
        path = entry.pop("_path")
        if entry["status"] == EXCLUDED:
            continue
        if entry["budgeted_tests"]:
            entry["status"] = COVERED
        elif entry["unbudgeted_tests"]:
            entry["status"] = UNBUDGETED
        elif imported is not None:
            entry["file_imported"] = path in imported
    counted = [entry for entry in sites if entry["status"] != EXCLUDED]
    covered = sum(1 for entry in counted if entry["status"] == COVERED)
    percent = 100.0 * covered / len(counted) if counted else 100.0
    return {
        "covered": covered,
        "total": len(counted),
        "excluded": len(sites) - len(counted),
        "percent": round(percent, 2),
        "fail_under": settings.fail_under,
        "paths": list(settings.given),
        "sites": sites,
        "problems": list(inventory.get("problems", [])),
        "inventory_failed": bool(inventory.get("failed")),  # no sites known: nothing was measured
    }


def fails_under(result: Mapping[str, Any]) -> bool:
    limit = result.get("fail_under")
    return limit is not None and (result["percent"] < limit or result["inventory_failed"])


def coverage_lines(result: Mapping[str, Any], verbosity: int = 0) -> list[str]:
    """The terminal summary's section: the share, then every site not covered, then what was left out."""
    total, covered = result["total"], result["covered"]
    if result["inventory_failed"]:
        lines = ["budget coverage was not measured: the LLM call sites could not be listed"]
    elif total == 0:
        lines = [f"no LLM call sites found under {', '.join(result['paths'])}"]
    else:
        lines = [f"LLM call sites exercised under a budget: {covered} of {total} ({result['percent']:.0f}%)"]
    for entry in result["sites"]:
        where = f"{entry['file']}:{entry['line']}"
        if entry["status"] == UNBUDGETED:
            tests = entry["unbudgeted_tests"]
            shown = ", ".join(tests[:3]) + (f" and {len(tests) - 3} more" if len(tests) > 3 else "")
            lines.append(f"  {where}  {UNBUDGETED}: {shown} (add a token_budget marker)")
        elif entry["status"] == NOT_EXERCISED:
            never = " (the run never imported this file)" if entry.get("file_imported") is False else ""
            lines.append(f"  {where}  {NOT_EXERCISED}{never}")
        elif entry["status"] == COVERED and verbosity > 0:
            lines.append(f"  {where}  {COVERED} by {', '.join(entry['budgeted_tests'])}")
    excluded = [entry for entry in result["sites"] if entry["status"] == EXCLUDED]
    if excluded and verbosity > 0:
        lines.append("excluded: " + ", ".join(f"{e['file']}:{e['line']} ({e['excluded_by']})" for e in excluded))
    elif excluded:
        plural = "s" if len(excluded) != 1 else ""
        lines.append(f"excluded: {len(excluded)} site{plural} (no-cover comment or exclude glob; -v lists them)")
    for problem in result["problems"]:
        lines.append(f"warning: {problem}")
    if fails_under(result) and result["inventory_failed"]:
        lines.append(f"FAIL Required token budget coverage of {result['fail_under']:g}% could not be checked")
    elif fails_under(result):
        lines.append(f"FAIL Required token budget coverage of {result['fail_under']:g}% not reached. "
                     f"Total coverage: {result['percent']:.2f}%")
    return lines
