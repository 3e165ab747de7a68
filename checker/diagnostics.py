"""Positioned findings, as every output format and the cache see them (no libcst objects here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional


@dataclass(frozen=True)
class Edit:
    """Replace the text from (line, column) to (end_line, end_column) (1-based, end exclusive)."""

    content: str
    line: int
    column: int
    end_line: int
    end_column: int

    def to_json(self) -> dict[str, Any]:
        return {
            "content": self.content,
            "location": {"row": self.line, "column": self.column},
            "end_location": {"row": self.end_line, "column": self.end_column},
        }


@dataclass(frozen=True)
class Fix:
    applicability: str  # "safe" | "unsafe"
    message: str
    edits: tuple[Edit, ...]

    @property
    def is_safe(self) -> bool:
        return self.applicability == "safe"

    def to_json(self) -> dict[str, Any]:
        return {"applicability": self.applicability, "message": self.message, "edits": [e.to_json() for e in self.edits]}


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    filename: str
    line: int  # 1-based
    column: int  # 1-based
    end_line: int
    end_column: int
    severity: str = "warning"  # "error" | "warning" | "info"
    fix: Optional[Fix] = None

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.filename, self.line, self.column, self.code)

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "message": self.message,
            "severity": self.severity,
            "filename": self.filename,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
            "fix": self.fix.to_json() if self.fix else None,
        }

    # compact, picklable/marshalable form for the cache and worker processes
    def to_tuple(self) -> tuple[Any, ...]:
        fix = None
        if self.fix is not None:
            fix = (
                self.fix.applicability,
                self.fix.message,
                tuple((e.content, e.line, e.column, e.end_line, e.end_column) for e in self.fix.edits),
            )
        return (self.code, self.message, self.line, self.column, self.end_line, self.end_column, self.severity, fix)

    @classmethod
    def from_tuple(cls, filename: str, data: tuple[Any, ...]) -> "Diagnostic":
        code, message, line, column, end_line, end_column, severity, fix = data
        fix_obj = None
        if fix is not None:
            fix_obj = Fix(fix[0], fix[1], tuple(Edit(*edit) for edit in fix[2]))
        return cls(code, message, filename, line, column, end_line, end_column, severity, fix_obj)
