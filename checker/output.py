"""Output formats: text, concise, json, github, sarif, junit; plus --statistics."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path
from typing import Callable, Optional, Sequence

from checker.diagnostics import Diagnostic

FORMATS = ("text", "concise", "json", "github", "sarif", "junit")
INFORMATION_URI = "https://pypi.org/project/pytest-tokenbudget/"

SourceLookup = Callable[[str], Optional[str]]


def display_path(filename: str) -> str:
    try:
        relative = os.path.relpath(filename)
    except ValueError:  # another drive on Windows
        return filename
    return filename if relative.startswith("..") else relative


def _fix_marker(diagnostic: Diagnostic) -> str:
    return "[*] " if diagnostic.fix is not None and diagnostic.fix.is_safe else ""


def concise(diagnostics: Sequence[Diagnostic]) -> str:
    return "".join(
        f"{display_path(d.filename)}:{d.line}:{d.column}: {d.code} {_fix_marker(d)}{d.message}\n" for d in diagnostics
    )


def text(diagnostics: Sequence[Diagnostic], source_of: SourceLookup) -> str:
    out: list[str] = []
    sources: dict[str, Optional[list[str]]] = {}
    for d in diagnostics:
        out.append(f"{display_path(d.filename)}:{d.line}:{d.column}: {d.code} {_fix_marker(d)}{d.message}\n")
        if d.filename not in sources:
            source = source_of(d.filename)
            sources[d.filename] = source.splitlines() if source is not None else None
        lines = sources[d.filename]
        if lines and 1 <= d.line <= len(lines):
            first = max(1, d.line - 1)
            last = min(len(lines), d.line + 1)
            width = len(str(last))
            out.append(f"{' ' * width} |\n")
            for number in range(first, last + 1):
                out.append(f"{number:>{width}} | {lines[number - 1]}\n")
                if number == d.line:
                    line_text = lines[number - 1]
                    end = d.end_column if d.end_line == d.line else len(line_text) + 1
                    carets = "^" * max(1, end - d.column)
                    out.append(f"{' ' * width} | {' ' * (d.column - 1)}{carets} {d.code}\n")
            out.append(f"{' ' * width} |\n")
        if d.fix is not None:
            note = "" if d.fix.is_safe else " (unsafe: needs --unsafe-fixes)"
            out.append(f"  = help: {d.fix.message}{note}\n")
        out.append("\n")
    return "".join(out)


def summary(diagnostics: Sequence[Diagnostic], unsafe_fixes: bool, fixed: int = 0) -> str:
    lines = []
    if fixed:
        lines.append(f"Fixed {fixed} error{'s' if fixed != 1 else ''}.")
    if not diagnostics:
        if not fixed:
            lines.append("All checks passed!")
        return "\n".join(lines) + "\n"
    count = len(diagnostics)
    lines.append(f"Found {count} error{'s' if count != 1 else ''}.")
    safe = sum(1 for d in diagnostics if d.fix is not None and d.fix.is_safe)
    unsafe = sum(1 for d in diagnostics if d.fix is not None and not d.fix.is_safe)
    if unsafe_fixes:
        safe, unsafe = safe + unsafe, 0
    if safe:
        lines.append(f"[*] {safe} fixable with the `--fix` option" + (f" ({unsafe} hidden fixes can be enabled with the `--unsafe-fixes` option)." if unsafe else "."))
    elif unsafe:
        lines.append(f"No fixes available ({unsafe} hidden fixes can be enabled with the `--unsafe-fixes` option).")
    return "\n".join(lines) + "\n"


def as_json(diagnostics: Sequence[Diagnostic]) -> str:
    import json  # here, not at the top: most runs print text, and one-file runs count every import

    return json.dumps([d.to_json() for d in diagnostics], indent=2) + "\n"


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


def github(diagnostics: Sequence[Diagnostic]) -> str:
    command = {"error": "error", "warning": "warning", "info": "notice"}
    out = []
    for d in diagnostics:
        path = display_path(d.filename)
        properties = ",".join(
            [
                f"title={_escape_property(f'tokenbudget ({d.code})')}",
                f"file={_escape_property(path)}",
                f"line={d.line}",
                f"col={d.column}",
                f"endLine={d.end_line}",
                f"endColumn={d.end_column}",
            ]
        )
        message = _escape_data(f"{path}:{d.line}:{d.column}: {d.code} {d.message}")
        out.append(f"::{command.get(d.severity, 'error')} {properties}::{message}\n")
    return "".join(out)


def _artifact_uri(filename: str) -> str:
    import urllib.parse

    path = display_path(filename)
    if os.path.isabs(path):
        return Path(path).as_uri()
    return urllib.parse.quote(Path(path).as_posix())


def sarif(diagnostics: Sequence[Diagnostic], rules: Sequence[type], version: str) -> str:
    level = {"error": "error", "warning": "warning", "info": "note"}
    rule_index = {rule.code: index for index, rule in enumerate(rules)}
    driver_rules = []
    for rule in rules:
        documentation = rule.documentation()
        driver_rules.append(
            {
                "id": rule.code,
                "name": rule.name,
                "shortDescription": {"text": rule.message},
                "fullDescription": {"text": rule.summary() or rule.message},
                "help": {"text": documentation, "markdown": documentation},
                "helpUri": INFORMATION_URI,
                "defaultConfiguration": {"level": level.get(rule.severity, "warning")},
                "properties": {"tags": ["tokenbudget"]},
            }
        )
    results = []
    for d in diagnostics:
        uri = _artifact_uri(d.filename)
        location = {"artifactLocation": {"uri": uri}}
        if not uri.startswith("file:"):
            location["artifactLocation"]["uriBaseId"] = "%SRCROOT%"
        location["region"] = {
            "startLine": d.line,
            "startColumn": d.column,
            "endLine": d.end_line,
            "endColumn": max(d.end_column, d.column) if d.end_line == d.line else d.end_column,
        }
        result = {
            "ruleId": d.code,
            "level": level.get(d.severity, "warning"),
            "message": {"text": d.message},
            "locations": [{"physicalLocation": location}],
        }
        if d.code in rule_index:
            result["ruleIndex"] = rule_index[d.code]
        if d.fix is not None:
            result["fixes"] = [
                {
                    "description": {"text": d.fix.message},
                    "artifactChanges": [
                        {
                            "artifactLocation": dict(location["artifactLocation"]),
                            "replacements": [
                                {
                                    "deletedRegion": {
                                        "startLine": e.line,
                                        "startColumn": e.column,
                                        "endLine": e.end_line,
                                        "endColumn": e.end_column,
                                    },
                                    "insertedContent": {"text": e.content},
                                }
                                for e in d.fix.edits
                            ],
                        }
                    ],
                }
            ]
        results.append(result)
    document = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "tokenbudget",
                        "informationUri": INFORMATION_URI,
                        "version": version,
                        "rules": driver_rules,
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"uri": Path.cwd().as_uri() + "/"}},
                "results": results,
            }
        ],
    }
    import json

    return json.dumps(document, indent=2) + "\n"


def junit(diagnostics: Sequence[Diagnostic]) -> str:
    from xml.etree import ElementTree

    suites = ElementTree.Element("testsuites", name="tokenbudget", tests=str(max(1, len(diagnostics))),
                                 failures=str(len(diagnostics)), errors="0")  # fmt: skip
    if not diagnostics:
        suite = ElementTree.SubElement(suites, "testsuite", name="tokenbudget", tests="1", failures="0", errors="0")
        ElementTree.SubElement(suite, "testcase", name="No errors found", classname="tokenbudget")
    by_file: dict[str, list[Diagnostic]] = {}
    for d in diagnostics:
        by_file.setdefault(display_path(d.filename), []).append(d)
    for path, found in by_file.items():
        suite = ElementTree.SubElement(
            suites, "testsuite", name=path, tests=str(len(found)), failures=str(len(found)), errors="0"
        )
        for d in found:
            case = ElementTree.SubElement(
                suite, "testcase", name=f"org.tokenbudget.{d.code}", classname=path, file=path, line=str(d.line)
            )
            failure = ElementTree.SubElement(case, "failure", message=d.message, type=d.code)
            failure.text = f"line {d.line}, col {d.column}, {d.code} {d.message}"
    ElementTree.indent(suites) if hasattr(ElementTree, "indent") else None
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(suites, encoding="unicode") + "\n"


def statistics(diagnostics: Sequence[Diagnostic], rules: dict[str, type], as_json_output: bool) -> str:
    counts = Counter(d.code for d in diagnostics)
    fixable = {d.code for d in diagnostics if d.fix is not None and d.fix.is_safe}
    rows = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    if as_json_output:
        import json

        return json.dumps(
            [
                {"code": code, "name": getattr(rules.get(code), "name", ""), "count": count, "fixable": code in fixable}
                for code, count in rows
            ],
            indent=2,
        ) + "\n"
    width = max((len(str(count)) for _, count in rows), default=1)
    return "".join(
        f"{count:>{width}}\t{code}\t{'[*]' if code in fixable else '[ ]'} {getattr(rules.get(code), 'name', '')}\n"
        for code, count in rows
    )
