"""Line ``# noqa`` directives: where they are, what they suppress, and the edits that add codes
to them (``--add-noqa``) or take unused ones out (TB001).

Only real comments count (a ``"# noqa"`` inside a string is text), so every function here reads
the source through ``tokenize``.
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass
from typing import Iterable, Mapping, Optional

from checker.diagnostics import Edit

LINE_NOQA = re.compile(r"#\s*noqa(?!\w)(?:\s*:\s*(?P<codes>[A-Z]+[0-9]+(?:[\s,]+[A-Z]+[0-9]+)*))?", re.I)
_CODE_SEPARATOR = re.compile(r"[\s,]+")
OUR_CODE = re.compile(r"^TB\d{3}$")


@dataclass(frozen=True)
class Directive:
    """One ``# noqa`` in a comment. Columns are 0-based character offsets in the line."""

    line: int
    start: int  # of the directive's ``#``
    end: int  # just after its last code
    codes: Optional[tuple[str, ...]]  # upper-cased, in written order; None: a bare ``# noqa``
    comment_start: int
    comment: str  # the whole comment token (it may hold other text and directives)


def _tokens(source: str) -> list[tokenize.TokenInfo]:
    try:
        return list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        return []


def directives(source: str, tokens: Optional[list[tokenize.TokenInfo]] = None) -> list[Directive]:
    found = []
    for token in _tokens(source) if tokens is None else tokens:
        if token.type != tokenize.COMMENT:
            continue
        match = LINE_NOQA.search(token.string)
        if match is None:
            continue
        codes = None
        if match.group("codes"):
            codes = tuple(dict.fromkeys(c.upper() for c in _CODE_SEPARATOR.split(match.group("codes")) if c))
        line, column = token.start
        found.append(Directive(line, column + match.start(), column + match.end(), codes, column, token.string))
    return found


def line_noqa(source: str) -> dict[int, Optional[frozenset[str]]]:
    """``{line: None (all codes) | {codes}}`` for every ``# noqa`` comment."""
    result: dict[int, Optional[frozenset[str]]] = {}
    for directive in directives(source):
        if directive.codes is None:
            result[directive.line] = None
        elif not (directive.line in result and result[directive.line] is None):
            result[directive.line] = (result.get(directive.line) or frozenset()) | frozenset(directive.codes)
    return result


def physical_lines(source: str) -> list[str]:
    """The lines as tokenize and libcst number them (``str.splitlines`` also splits at form
    feeds and other separators that may sit inside strings), with their endings."""
    return io.StringIO(source).readlines()


def _render(codes: Iterable[str]) -> str:
    return "# noqa: " + ", ".join(codes)


# -- --add-noqa ---------------------------------------------------------------------------------


def _uncommentable_lines(source: str, tokens: list[tokenize.TokenInfo]) -> set[int]:
    """Lines whose end a comment cannot follow: inside a multi-line string, or continued by a
    backslash."""
    blocked: set[int] = set()
    fstring_starts: list[int] = []
    fstring_start = getattr(tokenize, "FSTRING_START", None)  # 3.12+: f-strings are split up
    fstring_end = getattr(tokenize, "FSTRING_END", None)
    commented = set()
    for token in tokens:
        if token.type == tokenize.STRING and token.end[0] > token.start[0]:
            blocked.update(range(token.start[0], token.end[0]))
        elif fstring_start is not None and token.type == fstring_start:
            fstring_starts.append(token.start[0])
        elif fstring_end is not None and token.type == fstring_end and fstring_starts:
            blocked.update(range(fstring_starts.pop(), token.end[0]))
        elif token.type == tokenize.COMMENT:
            commented.add(token.start[0])
    for number, text in enumerate(physical_lines(source), 1):
        if text.rstrip("\r\n").endswith("\\") and number not in commented:
            blocked.add(number)
    return blocked


def add_codes(
    source: str, wanted: Mapping[int, Iterable[tuple[int, str]]], stale: Optional[Mapping[int, Edit]] = None
) -> tuple[str, int, int]:
    """Suppress findings with ``# noqa`` codes. ``wanted``: ``{first line: [(last line, code)]}``
    per finding; the directive goes on the first line, or on the last when the first ends inside
    a string. Codes merge into a ``# noqa: ...`` already on the line; everything else on the line
    is kept. ``stale``: ``{line: TB001's edit}`` taking the codes that suppress nothing out of a
    directive; applied where codes merge into it, so the merged directive holds no stale code
    (as ruff's ``--add-noqa`` does). Returns (new source, codes added, findings that had no line
    to take a comment)."""
    wanted = {line: list(findings) for line, findings in wanted.items()}
    tokens = _tokens(source)
    if not tokens and source.strip():
        return source, 0, sum(len(list(v)) for v in wanted.values())
    blocked = _uncommentable_lines(source, tokens)
    existing: dict[int, Directive] = {}
    for directive in directives(source, tokens):
        existing.setdefault(directive.line, directive)
    per_line: dict[int, list[str]] = {}
    skipped = 0
    for first, findings in wanted.items():
        for last, code in findings:
            line = first if first not in blocked else last if last not in blocked else None
            if line is None:
                skipped += 1
                continue
            held = existing.get(line)
            if held is not None and (held.codes is None or code in held.codes):
                continue  # suppressed already (a finding may be reported on both of its lines)
            codes = per_line.setdefault(line, [])
            if code not in codes:
                codes.append(code)
    lines = physical_lines(source)
    merged_stale = [line for line in per_line if line in existing and line in (stale or {})]
    if merged_stale:
        for line in merged_stale:
            edit = stale[line]  # type: ignore[index]
            text = lines[line - 1]
            lines[line - 1] = text[: edit.column - 1] + edit.content + text[edit.end_column - 1 :]
        return add_codes("".join(lines), wanted)  # the same lines: the edits stay within them
    added = 0
    for line, codes in per_line.items():
        text = lines[line - 1]
        body = text.rstrip("\r\n")
        ending = text[len(body):]
        held = existing.get(line)
        if held is not None:
            merged = list(held.codes or ()) + sorted(codes)
            body = body[: held.start] + _render(merged) + body[held.end :]
        else:
            body = body.rstrip() + "  " + _render(sorted(codes))
        lines[line - 1] = body + ending
        added += len(codes)
    return "".join(lines), added, skipped


# -- TB001: removing codes that suppress nothing --------------------------------------------------


def removal_edit(source_line: str, directive: Directive, unused: Iterable[str]) -> Edit:
    """The edit taking ``unused`` out of ``directive``: the other codes stay; a directive left
    without codes goes, and with it a comment left empty and the spaces before it."""
    drop = set(unused)
    kept = [code for code in directive.codes or () if code not in drop]
    line = directive.line
    if kept:
        return Edit(_render(kept), line, directive.start + 1, line, directive.end + 1)
    comment_end = directive.comment_start + len(directive.comment)
    before = source_line[directive.comment_start : directive.start].rstrip()
    after = source_line[directive.end : comment_end]
    if before:  # `# why  # noqa: TB101`: the comment before the directive stays
        return Edit("", line, directive.comment_start + len(before) + 1, line, directive.end + 1)
    rest = after.strip().lstrip("-:;,").strip()
    if rest:  # `# noqa: TB101 - legacy client`: the explanation stays, as a comment
        return Edit("# " + rest, line, directive.comment_start + 1, line, comment_end + 1)
    code_end = len(source_line[: directive.comment_start].rstrip())
    return Edit("", line, code_end + 1, line, comment_end + 1)


def unused_codes(
    directive: Directive, used: set[tuple[int, str]], judged: frozenset[str], known: Iterable[str]
) -> tuple[list[str], list[str]]:
    """(unused, unknown) TB codes of ``directive``. ``used``: (line, code) pairs that suppressed
    a finding; ``judged``: the codes whose rules ran, or could have, on this file. Codes of other
    tools (``E501``), of rules not selected for the file, and a bare ``# noqa`` are left alone."""
    unused, unknown = [], []
    known = set(known)
    for code in directive.codes or ():
        if not OUR_CODE.match(code) or code == "TB001":
            continue
        if code not in known:
            unknown.append(code)
        elif code in judged and (directive.line, code) not in used:
            unused.append(code)
    return unused, unknown


__all__ = ["Directive", "LINE_NOQA", "add_codes", "directives", "line_noqa", "removal_edit", "unused_codes"]
