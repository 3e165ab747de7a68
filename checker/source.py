"""A module's text as the engine and the fixes address it: lines, node spans, character offsets.

CPython's ``ast`` gives each node ``lineno``/``end_lineno`` (1-based) and ``col_offset``/
``end_col_offset`` in UTF-8 *bytes*; diagnostics, fixes and editors count *characters*. Lines are
numbered as tokenize and libcst number them (:func:`checker.noqa.physical_lines`). A node's source
text is the shared index's (``ModuleIndex.code`` / ``line_text``).
"""

from __future__ import annotations

import ast
from typing import NamedTuple


class Span(NamedTuple):
    """A source range: 1-based lines, 0-based character columns (libcst's CodeRange layout)."""

    line: int
    column: int
    end_line: int
    end_column: int


class SourceLines:
    def __init__(self, source: str) -> None:
        from checker.noqa import physical_lines

        self.source = source
        self.lines = physical_lines(source)
        self._encoded: dict[int, bytes] = {}

    def _bytes(self, line: int) -> bytes:
        data = self._encoded.get(line)
        if data is None:
            text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
            data = self._encoded[line] = text.encode("utf-8", "surrogatepass")
        return data

    def column(self, line: int, byte_column: int) -> int:
        """The character column of ``byte_column`` (ast's offset) on ``line``."""
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        if text.isascii():
            return byte_column
        return len(self._bytes(line)[:byte_column].decode("utf-8", "surrogatepass"))

    def span(self, node: ast.AST) -> Span:
        line, end_line = node.lineno, node.end_lineno or node.lineno  # type: ignore[attr-defined]
        end_column = node.end_col_offset if node.end_col_offset is not None else node.col_offset  # type: ignore[attr-defined]
        return Span(line, self.column(line, node.col_offset), end_line,  # type: ignore[attr-defined]
                    self.column(end_line, end_column))

    def offset(self, line: int, column: int) -> int:
        """Character offset in the source of (1-based line, 0-based character column)."""
        offsets = self.__dict__.get("_offsets")
        if offsets is None:
            offsets = [0]
            for text in self.lines:
                offsets.append(offsets[-1] + len(text))
            self._offsets = offsets
        return offsets[line - 1] + column if line - 1 < len(offsets) else len(self.source)
