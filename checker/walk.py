"""A fast, iterative walk over a libcst tree.

``Module.visit`` rebuilds every node it passes (it is the transformer machinery) and costs about
ten times more than reading the tree; it also visits every whitespace and comma node. This walk
reads the dataclass fields directly, skips pure formatting nodes, and uses an explicit stack, so
deeply nested code cannot hit the recursion limit.

Visitors are plain objects with ``visit_<Node>(node)`` / ``leave_<Node>(node)`` methods (libcst
class names), or anything with ``on_visit(node) -> bool | None`` / ``on_leave(node)``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterator, Optional

import libcst as cst

# Fields holding formatting only (whitespace, parentheses, punctuation, blank lines).
_FORMATTING_FIELDS = frozenset(
    {
        "lpar", "rpar", "dot", "comma", "equal", "colon", "semicolon", "lbracket", "rbracket",
        "lbrace", "rbrace", "leading_lines", "lines_after_decorators", "header", "footer",
        "trailing_whitespace", "indent", "newline", "asynchronous", "star_tok", "whitespace",
    }
)  # fmt: skip

_fields_cache: dict[type, tuple[str, ...]] = {}


def _child_fields(cls: type) -> tuple[str, ...]:
    names = _fields_cache.get(cls)
    if names is None:
        names = tuple(
            f.name
            for f in dataclasses.fields(cls)
            if f.name not in _FORMATTING_FIELDS and not f.name.startswith("whitespace")
        )
        _fields_cache[cls] = names
    return names


_is_node_type: dict[type, bool] = {}


def _is_node(value: Any) -> bool:
    # isinstance against the CSTNode ABC is slow; node classes are few, so remember the answer
    kind = type(value)
    known = _is_node_type.get(kind)
    if known is None:
        known = _is_node_type[kind] = isinstance(value, cst.CSTNode)
    return known


def iter_children(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """Syntactic children of ``node`` in field order (formatting nodes left out)."""
    for name in _child_fields(type(node)):
        value = getattr(node, name)
        if type(value) is tuple or type(value) is list:
            for item in value:
                if _is_node(item):
                    yield item
        elif _is_node(value):
            yield value


def walk(
    root: cst.CSTNode,
    on_visit: Callable[[cst.CSTNode], Any],
    on_leave: Optional[Callable[[cst.CSTNode], Any]] = None,
) -> None:
    """Depth-first walk; ``on_visit`` returning False skips the node's children."""
    stack: list[tuple[cst.CSTNode, bool]] = [(root, False)]
    pop = stack.pop
    push = stack.append
    while stack:
        node, leaving = pop()
        if leaving:
            on_leave(node)  # type: ignore[misc]
            continue
        if on_visit(node) is False:
            continue
        if on_leave is not None:
            push((node, True))
        children = list(iter_children(node))
        for child in reversed(children):
            push((child, False))


class Dispatcher:
    """Calls ``visit_<Node>`` / ``leave_<Node>`` of several visitors in one walk."""

    def __init__(self, visitors: list[Any], guard: Optional[Callable[[Any, Callable[[], Any]], None]] = None) -> None:
        self.visit_table: dict[str, list[Callable[[cst.CSTNode], Any]]] = {}
        self.leave_table: dict[str, list[Callable[[cst.CSTNode], Any]]] = {}
        self.owner: dict[Callable[..., Any], Any] = {}
        self.guard = guard
        for visitor in visitors:
            for attribute in dir(type(visitor)):
                if attribute.startswith("visit_") and attribute.count("_") == 1:
                    handler = getattr(visitor, attribute)
                    self.visit_table.setdefault(attribute[6:], []).append(handler)
                    self.owner[handler] = visitor
                elif attribute.startswith("leave_") and attribute.count("_") == 1:
                    handler = getattr(visitor, attribute)
                    self.leave_table.setdefault(attribute[6:], []).append(handler)
                    self.owner[handler] = visitor

    def __bool__(self) -> bool:
        return bool(self.visit_table or self.leave_table)

    def _call(self, handler: Callable[[cst.CSTNode], Any], node: cst.CSTNode) -> None:
        if self.guard is None:
            handler(node)
        else:
            self.guard(self.owner[handler], lambda: handler(node))

    def on_visit(self, node: cst.CSTNode) -> bool:
        handlers = self.visit_table.get(type(node).__name__)
        if handlers:
            for handler in handlers:
                self._call(handler, node)
        return True

    def on_leave(self, node: cst.CSTNode) -> None:
        handlers = self.leave_table.get(type(node).__name__)
        if handlers:
            for handler in handlers:
                self._call(handler, node)

    def run(self, root: cst.CSTNode) -> None:
        walk(root, self.on_visit, self.on_leave if self.leave_table else None)
