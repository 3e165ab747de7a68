"""Fixes a team commits as they are: a keyword argument added to a call in the call's own layout.

- A one-line call stays one line when the result fits the project's line length; otherwise it
  is split as ruff's formatter splits it: the arguments on one indented line, or, when that is
  too long too, one per line with a trailing comma.
- Arguments already on their own lines: the new one gets its own line, at their indentation,
  with the call's trailing-comma style; the closing parenthesis stays where it was.
- No comment is moved or copied, and no line is left with trailing whitespace.
"""

from __future__ import annotations

import re
import sys
from functools import lru_cache
from pathlib import Path
from typing import Optional, Sequence

import libcst as cst

DEFAULT_LINE_LENGTH = 88  # ruff's and black's
_PRAGMA = re.compile(r"#\s*(noqa|type:|pyright:|pylint:|nosec|fmt:|isort:)", re.I)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10
    import tomli as tomllib


@lru_cache(maxsize=64)
def line_length(project_root: Optional[Path]) -> int:
    """``line-length`` of ``[tool.ruff]`` (or ``[tool.black]``) in the project's pyproject.toml,
    else 88: the width the project's formatter keeps lines within."""
    if project_root is None:
        return DEFAULT_LINE_LENGTH
    for name in ("ruff.toml", ".ruff.toml"):
        try:
            value = tomllib.loads((project_root / name).read_text(encoding="utf-8")).get("line-length")
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue
        if isinstance(value, int) and value > 0:
            return value
    try:
        tool = tomllib.loads((project_root / "pyproject.toml").read_text(encoding="utf-8")).get("tool", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return DEFAULT_LINE_LENGTH
    for section in ("ruff", "black"):
        value = tool.get(section, {}).get("line-length") if isinstance(tool.get(section), dict) else None
        if isinstance(value, int) and value > 0:
            return value
    return DEFAULT_LINE_LENGTH


class Layout:
    """Where the call sits in the file: its start column, the text after it on its last line,
    the indentation of its first line, and the line length to keep within."""

    def __init__(self, source_lines: Sequence[str], start_line: int, start_column: int, end_line: int,
                 end_column: int, limit: int) -> None:
        first = source_lines[start_line - 1] if start_line - 1 < len(source_lines) else ""
        last = source_lines[end_line - 1] if end_line - 1 < len(source_lines) else ""
        self.prefix_width = start_column  # 0-based column of the call's first character
        suffix = last[end_column:].rstrip("\r\n")
        pragma = _PRAGMA.search(suffix)  # ruff leaves pragma comments out of a line's width
        self.suffix_width = len((suffix[: pragma.start()] if pragma else suffix).rstrip())
        self.indent = first[: len(first) - len(first.lstrip(" \t"))]
        self.limit = limit
        self._second_line = source_lines[start_line] if end_line > start_line and start_line < len(source_lines) else None

    def fits(self, code: str, original: str) -> bool:
        """Whether ``code``, replacing the call rendered as ``original``, keeps within the limit.
        A node rendered alone lacks its block's indentation on every line after the first:
        the call's own second line says how much."""
        block = 0
        original_lines = original.split("\n")
        if self._second_line is not None and len(original_lines) > 1:
            block = max(0, len(self._second_line.rstrip("\r\n")) - len(original_lines[1]))
        widths = [len(line) + (block if index else 0) for index, line in enumerate(code.split("\n"))]
        widths[0] += self.prefix_width
        widths[-1] += self.suffix_width
        return max(widths) <= self.limit


def _newline(indent: str) -> cst.ParenthesizedWhitespace:
    return cst.ParenthesizedWhitespace(
        first_line=cst.TrailingWhitespace(), empty_lines=[], indent=False, last_line=cst.SimpleWhitespace(indent)
    )


def _has_newline(node: cst.CSTNode) -> bool:
    return isinstance(node, cst.ParenthesizedWhitespace)


def _code(node: cst.CSTNode) -> str:
    return cst.Module([]).code_for_node(node)


def keyword_arg(name: str, value: cst.BaseExpression) -> cst.Arg:
    return cst.Arg(
        keyword=cst.Name(name),
        value=value,
        equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""), whitespace_after=cst.SimpleWhitespace("")),
    )


def add_keyword(call: cst.Call, new_arg: cst.Arg, layout: Optional[Layout] = None) -> cst.Call:
    """``call`` with ``new_arg`` appended, in the call's layout (see the module docstring)."""
    args = list(call.args)
    if not args:
        return call.with_changes(args=[new_arg])
    last = args[-1]
    trailing_comma = isinstance(last.comma, cst.Comma)
    # The whitespace that starts each argument's line: after the previous argument's comma, or
    # after the parenthesis for a lone argument in a call with a trailing comma.
    if len(args) >= 2 and isinstance(args[-2].comma, cst.Comma):
        line_start = args[-2].comma.whitespace_after
    else:
        line_start = call.whitespace_before_args if trailing_comma else cst.SimpleWhitespace("")
    if _has_newline(line_start):
        return _on_own_line(call, list(args), new_arg, line_start)  # type: ignore[arg-type]
    inline = _inline(call, list(args), new_arg)
    # A call already wider than the line length: the project does not keep to it, so neither do we.
    original = _code(call)
    if layout is None or layout.fits(_code(inline), original) or not layout.fits(original, original) \
            or _has_comment(call):
        return inline
    return _split(call, args + [new_arg], layout)


def _on_own_line(call: cst.Call, args: list, new_arg: cst.Arg, line_start: cst.ParenthesizedWhitespace) -> cst.Call:
    last = args[-1]
    # A fresh line at the arguments' indentation: no comment of another argument is copied.
    own_line = line_start.with_changes(first_line=cst.TrailingWhitespace(), empty_lines=[])
    if isinstance(last.comma, cst.Comma):
        after = last.comma.whitespace_after  # the last argument's comment, then the line of `)`
        if _has_newline(after):
            args[-1] = last.with_changes(comma=last.comma.with_changes(
                whitespace_after=after.with_changes(indent=own_line.indent, last_line=own_line.last_line)))
            closing = after.with_changes(first_line=cst.TrailingWhitespace(), empty_lines=[])
        else:  # `b=2,)`
            args[-1] = last.with_changes(comma=last.comma.with_changes(whitespace_after=own_line))
            closing = after
        args.append(new_arg.with_changes(comma=cst.Comma(whitespace_after=closing)))
    else:
        after = last.whitespace_after_arg
        if _has_newline(after):
            separator = after.with_changes(indent=own_line.indent, last_line=own_line.last_line)
            closing = after.with_changes(first_line=cst.TrailingWhitespace(), empty_lines=[])
        else:  # `b=2)`: the parenthesis stays right after the last argument
            separator, closing = own_line, after
        args[-1] = last.with_changes(comma=cst.Comma(whitespace_after=separator),
                                     whitespace_after_arg=cst.SimpleWhitespace(""))
        args.append(new_arg.with_changes(whitespace_after_arg=closing))
    return call.with_changes(args=args)


def _inline(call: cst.Call, args: list, new_arg: cst.Arg) -> cst.Call:
    last = args[-1]
    space = cst.SimpleWhitespace(" ")
    if isinstance(last.comma, cst.Comma):
        args[-1] = last.with_changes(comma=last.comma.with_changes(whitespace_after=space))
        args.append(new_arg.with_changes(comma=cst.Comma(whitespace_after=last.comma.whitespace_after)))
    else:
        # What followed the last argument (spaces, a newline before `)`, a comment) follows the new one.
        args[-1] = last.with_changes(comma=cst.Comma(whitespace_after=space),
                                     whitespace_after_arg=cst.SimpleWhitespace(""))
        args.append(new_arg.with_changes(whitespace_after_arg=last.whitespace_after_arg))
    return call.with_changes(args=args)


def _has_comment(call: cst.Call) -> bool:
    """Comments between the parentheses: splitting the call would have to move them."""
    text = _code(call.with_changes(func=cst.Name("f")))
    if "#" not in text:
        return False
    import io
    import tokenize

    try:
        return any(t.type == tokenize.COMMENT for t in tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        return True


class _Indent:
    """The part of a Layout that splitting reads."""

    def __init__(self, indent: str, limit: int) -> None:
        self.indent, self.limit = indent, limit


def split_enclosing(outer: cst.Call, index: int, inner: cst.Call, layout: Layout) -> Optional[cst.Call]:
    """``outer`` with its argument ``index`` replaced by ``inner``, split as ruff's formatter
    splits a call whose argument made the line too long: at the outer parentheses first, then,
    if the argument's own line is still too long, at the argument's. None when ``outer`` holds
    comments or arguments spanning lines (its layout is not one the formatter would give)."""
    args = list(outer.args)
    args[index] = args[index].with_changes(value=inner)
    if _has_comment(outer) or any("\n" in _code(arg.with_changes(comma=cst.MaybeSentinel.DEFAULT,
                                                                    whitespace_after_arg=cst.SimpleWhitespace("")))
                                  for arg in args):
        return None  # one argument per line already, or arguments spanning lines
    if isinstance(args[-1].comma, cst.Comma) or any(
            isinstance(arg.comma, cst.Comma) and _has_newline(arg.comma.whitespace_after) for arg in args):
        return None  # one argument per line (a trailing comma asks for it): the new one fits in
    return _split(outer, args, layout, nested=index)


def _split(call: cst.Call, args: list, layout: "Layout | _Indent", nested: Optional[int] = None) -> cst.Call:
    """As ruff's formatter splits a call too long for one line: the arguments together on one
    indented line if it fits, else one per line with a trailing comma. ``nested``: the argument
    holding a call that is split in turn when its line is still too long."""
    inner = layout.indent + "    "
    bare = [arg.with_changes(comma=cst.MaybeSentinel.DEFAULT, whitespace_after_arg=cst.SimpleWhitespace(""))
            for arg in args]
    hugged = [arg.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" "))) for arg in bare[:-1]]
    hugged.append(bare[-1].with_changes(whitespace_after_arg=_newline(layout.indent)))
    candidate = call.with_changes(whitespace_before_args=_newline(inner), args=hugged)
    hugged_line = inner + ", ".join(_code(arg) for arg in bare)
    if len(hugged_line) <= layout.limit and "\n" not in hugged_line:
        return candidate
    if nested is not None and isinstance(bare[nested].value, cst.Call):
        value = bare[nested].value
        if len(inner) + len(_code(bare[nested])) + 1 > layout.limit and value.args:
            bare[nested] = bare[nested].with_changes(value=_split(value, list(value.args), _Indent(inner, layout.limit)))
    exploded = [arg.with_changes(comma=cst.Comma(whitespace_after=_newline(inner))) for arg in bare[:-1]]
    exploded.append(bare[-1].with_changes(comma=cst.Comma(whitespace_after=_newline(layout.indent))))
    return call.with_changes(whitespace_before_args=_newline(inner), args=exploded)


def fluent_chain(chain: cst.BaseExpression, call: cst.Call, inner: cst.Call, layout: Layout) -> Optional[cst.BaseExpression]:
    """``chain`` (``call(...).choices[0].message.content``) with ``call`` replaced by ``inner``,
    laid out as ruff's formatter lays out a too-long chain of two or more accesses after a call
    or subscript: in parentheses (the chain's own, when the formatter had added them), the call
    on its own line (split in turn if still too long), then one line per such access. None for
    other chains."""
    links = []
    node = chain
    while node is not call:
        if isinstance(node, cst.Attribute):
            links.append(node)
        elif not isinstance(node, cst.Subscript):
            return None
        node = node.value
    if sum(isinstance(link.value, (cst.Call, cst.Subscript)) for link in links) < 2:
        return None
    if chain.lpar:  # parenthesized already, the chain on its own line: those parentheses are kept
        if len(chain.lpar) != 1 or not _has_newline(chain.lpar[0].whitespace_after) \
                or not _has_newline(chain.rpar[0].whitespace_before):
            return None
        opening, closing = chain.lpar[0].whitespace_after, chain.rpar[0].whitespace_before
        # The replacement is rendered alone: the block's indentation, implied in libcst's
        # whitespace, is written out (the call's line gives it).
        block = layout.indent[: len(layout.indent) - len(opening.last_line.value)] if opening.indent else ""
        inner_indent = layout.indent
        lpar = chain.lpar[0].with_changes(whitespace_after=opening.with_changes(indent=False, last_line=cst.SimpleWhitespace(inner_indent)))
        rpar = chain.rpar[0].with_changes(whitespace_before=closing.with_changes(
            indent=False, last_line=cst.SimpleWhitespace((block if closing.indent else "") + closing.last_line.value)))
    else:
        inner_indent = layout.indent + "    "
        lpar = cst.LeftParen(whitespace_after=_newline(inner_indent))
        rpar = cst.RightParen(whitespace_before=_newline(layout.indent))
    if len(inner_indent) + len(_code(inner)) > layout.limit and inner.args:
        inner = _split(inner, list(inner.args), _Indent(inner_indent, layout.limit))

    def rebuild(node: cst.BaseExpression) -> cst.BaseExpression:
        if node is call:
            return inner
        value = rebuild(node.value)  # type: ignore[attr-defined]
        if isinstance(node, cst.Attribute) and isinstance(node.value, (cst.Call, cst.Subscript)):
            return node.with_changes(value=value, dot=cst.Dot(whitespace_before=_newline(inner_indent)))
        return node.with_changes(value=value)

    return rebuild(chain).with_changes(lpar=[lpar], rpar=[rpar])
