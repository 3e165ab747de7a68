"""The module as libcst sees it: where fixes are built.

Rules find their mistakes on CPython's ``ast`` (fast, and the engine parses it anyway). A fix
must keep every comment and every space it does not touch, which only a concrete syntax tree
can do, so a rule's ``fix`` callable gets this view: the libcst node at the same source range as
an ``ast`` node, its parent, its position. libcst is parsed here, on first use, only in files
where a finding has a fix.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Optional

from checker.source import SourceLines

if TYPE_CHECKING:
    import libcst as cst
    from libcst.metadata import CodeRange

# libcst classes an ast class may appear as, when several nodes share one source range (an
# expression statement and its call; a string and its concatenation).
_SAME_NODE: dict[str, tuple[str, ...]] = {
    "Constant": ("Integer", "Float", "Imaginary", "SimpleString", "ConcatenatedString", "Name", "Ellipsis"),
    "keyword": ("Arg",),
    "JoinedStr": ("FormattedString", "ConcatenatedString"),
    "BinOp": ("BinaryOperation",),
    "BoolOp": ("BooleanOperation",),
    "UnaryOp": ("UnaryOperation",),
    "Compare": ("Comparison",),
    "AsyncFunctionDef": ("FunctionDef",),
    "AsyncFor": ("For",),
    "AsyncWith": ("With",),
    "Starred": ("Arg", "StarredElement"),
}


class CstUnavailable(Exception):
    """libcst cannot parse the module (syntax newer than it knows): no fix is offered."""


class CstView:
    def __init__(self, source: str, lines: Optional[SourceLines] = None) -> None:
        import libcst as cst

        self.source = source
        self.lines = lines or SourceLines(source)
        try:
            self.module: cst.Module = cst.parse_module(source)
        except (cst.ParserSyntaxError, RecursionError) as error:
            raise CstUnavailable(str(error)) from error
        self._positions: Optional[dict] = None
        self._by_start: Optional[dict[tuple[int, int], list["cst.CSTNode"]]] = None
        self._parents: Optional[dict["cst.CSTNode", "cst.CSTNode"]] = None

    def position(self, node: "cst.CSTNode") -> "CodeRange":
        return self._position_table()[node]

    def _position_table(self) -> dict:
        if self._positions is None:
            from libcst.metadata import MetadataWrapper, PositionProvider

            wrapper = MetadataWrapper(self.module, unsafe_skip_copy=True)
            try:
                # Through the provider's generator: `resolve()` adds a second visit of the module.
                self._positions = PositionProvider()._gen(wrapper)
            except Exception:  # noqa: BLE001 - an interface change in libcst: the public way
                self._positions = wrapper.resolve(PositionProvider)
        return self._positions

    def node(self, node: ast.AST) -> "cst.CSTNode":
        """The libcst node spanning exactly what ``node`` spans (KeyError when there is none)."""
        if self._by_start is None:
            by_start: dict[tuple[int, int], list] = {}
            for cst_node, where in self._position_table().items():
                by_start.setdefault((where.start.line, where.start.column), []).append(cst_node)
            self._by_start = by_start
        span = self.lines.span(node)
        candidates = [c for c in self._by_start.get((span.line, span.column), ())
                      if (self.position(c).end.line, self.position(c).end.column) == (span.end_line, span.end_column)]
        if not candidates:
            raise KeyError(f"no libcst node at {span}")
        kind = type(node).__name__
        names = (kind, *_SAME_NODE.get(kind, ()))
        for name in names:
            for candidate in candidates:
                if type(candidate).__name__ == name:
                    return candidate
        return candidates[-1]

    def parent(self, node: "cst.CSTNode") -> Optional["cst.CSTNode"]:
        """The syntactic parent (formatting nodes such as commas and whitespace skipped)."""
        if self._parents is None:
            parents: dict = {}
            stack = [self.module]
            while stack:
                current = stack.pop()
                for child in _children(current):
                    parents[child] = current
                    stack.append(child)
            self._parents = parents
        return self._parents.get(node)


# Fields holding formatting only (whitespace, parentheses, punctuation, blank lines).
_FORMATTING_FIELDS = frozenset(
    {
        "lpar", "rpar", "dot", "comma", "equal", "colon", "semicolon", "lbracket", "rbracket",
        "lbrace", "rbrace", "leading_lines", "lines_after_decorators", "header", "footer",
        "trailing_whitespace", "indent", "newline", "asynchronous", "star_tok", "whitespace",
    }
)  # fmt: skip
_child_fields: dict[type, tuple[str, ...]] = {}


def _children(node: "cst.CSTNode") -> list["cst.CSTNode"]:
    """Syntactic children in field order, read from the dataclass fields: libcst's visitor
    machinery rebuilds every node it passes and costs ten times more."""
    import dataclasses

    import libcst as cst

    names = _child_fields.get(type(node))
    if names is None:
        names = _child_fields[type(node)] = tuple(
            f.name for f in dataclasses.fields(node)
            if f.name not in _FORMATTING_FIELDS and not f.name.startswith("whitespace"))
    out: list = []
    for name in names:
        value = getattr(node, name)
        if isinstance(value, (tuple, list)):
            out.extend(item for item in value if isinstance(item, cst.CSTNode))
        elif isinstance(value, cst.CSTNode):
            out.append(value)
    return out
