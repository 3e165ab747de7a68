"""One walk of a module's ``ast`` tree that feeds every rule's ``visit_<Node>`` / ``leave_<Node>``.

Node names are CPython ``ast`` class names (``visit_Call``, ``leave_AsyncFunctionDef``). The walk
uses an explicit stack, so deeply nested code cannot hit the recursion limit, and skips the leaf
markers (``Load``, ``Add``, ``Eq``...: a third of all nodes), which rules read through their parent.
"""

from __future__ import annotations

import ast
from typing import Any, Callable, Iterator, Optional

_MARKER_FIELDS = frozenset({"ctx", "op", "ops"})
_child_fields: dict[type, tuple[str, ...]] = {}


def child_fields(kind: type) -> tuple[str, ...]:
    """The fields of an ast class that may hold child nodes, leaf markers left out."""
    fields = _child_fields.get(kind)
    if fields is None:
        fields = _child_fields[kind] = tuple(f for f in kind._fields if f not in _MARKER_FIELDS)
    return fields


def iter_children(node: ast.AST) -> Iterator[ast.AST]:
    """Children of ``node`` in field order (source order), leaf markers left out."""
    for name in child_fields(type(node)):
        value = getattr(node, name, None)
        if type(value) is list:
            for item in value:
                if isinstance(item, ast.AST):
                    yield item
        elif isinstance(value, ast.AST):
            yield value


def walk(root: ast.AST, on_visit: Callable[[ast.AST], Any],
         on_leave: Optional[Callable[[ast.AST], Any]] = None) -> None:
    """Depth-first, in source order; ``on_visit`` returning False skips the node's children."""
    stack: list[tuple[ast.AST, bool]] = [(root, False)]
    pop, push = stack.pop, stack.append
    while stack:
        node, leaving = pop()
        if leaving:
            on_leave(node)  # type: ignore[misc]
            continue
        if on_visit(node) is False:
            continue
        if on_leave is not None:
            push((node, True))
        for child in reversed(list(iter_children(node))):
            push((child, False))


class Dispatcher:
    """Calls ``visit_<Node>`` / ``leave_<Node>`` of several visitors in one walk; ``guard`` wraps
    each call (the engine turns a crashing rule into a TB000 and lets the others go on)."""

    def __init__(self, visitors: list[Any], guard: Optional[Callable[[Any, Callable[[], Any]], None]] = None) -> None:
        self.visit_table: dict[str, list[Callable[[ast.AST], Any]]] = {}
        self.leave_table: dict[str, list[Callable[[ast.AST], Any]]] = {}
        self.owner: dict[Callable[..., Any], Any] = {}
        self.guard = guard
        for visitor in visitors:
            for attribute in dir(type(visitor)):
                for prefix, table in (("visit_", self.visit_table), ("leave_", self.leave_table)):
                    if attribute.startswith(prefix) and attribute.count("_") == 1:
                        handler = getattr(visitor, attribute)
                        table.setdefault(attribute[len(prefix):], []).append(handler)
                        self.owner[handler] = visitor

    def __bool__(self) -> bool:
        return bool(self.visit_table or self.leave_table)

    def _call(self, handler: Callable[[ast.AST], Any], node: ast.AST) -> None:
        if self.guard is None:
            handler(node)
        else:
            self.guard(self.owner[handler], lambda: handler(node))

    def _visit(self, node: ast.AST) -> None:
        for handler in self.visit_table.get(type(node).__name__, ()):
            self._call(handler, node)

    def _leave(self, node: ast.AST) -> None:
        for handler in self.leave_table.get(type(node).__name__, ()):
            self._call(handler, node)

    def run(self, root: ast.AST) -> None:
        walk(root, self._visit, self._leave if self.leave_table else None)
