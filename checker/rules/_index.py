"""One pass over a module that the heuristic rules (TB2xx-TB5xx) share.

The heuristic rules ask the same questions many times: what is this node's parent, which function
is it in, what was this name assigned, what does this import alias stand for. Answering them from
one index built in a single walk keeps the cost of nine rules close to the cost of one, and keeps
each rule file about its own mistake rather than about tree plumbing.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Callable, Iterator, Sequence, TypeAlias

import libcst as cst

from ..calls import dotted

# A FunctionDef, or the Module itself. A string: libcst is only loaded when a file needs it.
Scope: TypeAlias = "cst.CSTNode"


@dataclass
class Assignment:
    """`target = value` (or `target: T = value`, `target += value`) in some scope."""

    target: str  # dotted text of the target: "prompt", "self.messages"
    value: cst.BaseExpression | None
    node: cst.CSTNode  # the Assign / AnnAssign / AugAssign statement node
    scope: Scope
    augmented: bool = False


@dataclass
class ModuleIndex:
    module: cst.Module
    parents: dict[int, cst.CSTNode] = field(default_factory=dict)
    calls: list[cst.Call] = field(default_factory=list)
    functions: list[cst.FunctionDef] = field(default_factory=list)
    classes: list[cst.ClassDef] = field(default_factory=list)
    assignments: list[Assignment] = field(default_factory=list)
    # local alias -> dotted origin: {"tk": "tiktoken", "retry": "tenacity.retry"}
    imports: dict[str, str] = field(default_factory=dict)
    subscripts: list[cst.Subscript] = field(default_factory=list)
    binops: list[cst.BinaryOperation] = field(default_factory=list)
    comparisons: list[cst.Comparison] = field(default_factory=list)
    dicts: list[cst.Dict] = field(default_factory=list)
    loops: list[cst.CSTNode] = field(default_factory=list)  # For / While
    returns: list[cst.Return] = field(default_factory=list)
    preorder: dict[int, int] = field(default_factory=dict)  # id(node) -> pre-order number
    sizes: dict[int, int] = field(default_factory=dict)  # id(node) -> nodes in its subtree
    scopes: dict[int, cst.CSTNode] = field(default_factory=dict)  # scope_of() answers

    # ---- tree navigation -------------------------------------------------------------------
    def parent(self, node: cst.CSTNode) -> cst.CSTNode | None:
        return self.parents.get(id(node))

    def ancestors(self, node: cst.CSTNode) -> Iterator[cst.CSTNode]:
        current = self.parent(node)
        while current is not None:
            yield current
            current = self.parent(current)

    def scope_of(self, node: cst.CSTNode) -> Scope:
        cached = self.scopes.get(id(node))
        if cached is not None:
            return cached
        scope: Scope = self.module
        for ancestor in self.ancestors(node):
            if isinstance(ancestor, cst.FunctionDef):
                scope = ancestor
                break
        self.scopes[id(node)] = scope
        return scope

    def enclosing(self, node: cst.CSTNode, kinds: tuple[type, ...], stop_at_scope: bool = True):
        for ancestor in self.ancestors(node):
            if isinstance(ancestor, kinds):
                return ancestor
            if stop_at_scope and isinstance(ancestor, (cst.FunctionDef, cst.ClassDef)):
                return None
        return None

    def statement_of(self, node: cst.CSTNode) -> cst.CSTNode:
        """The smallest statement (simple line or compound statement) holding `node`."""
        current: cst.CSTNode = node
        while True:
            if isinstance(current, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
                return current
            parent = self.parent(current)
            if parent is None:
                return current
            current = parent

    def in_scope(self, node: cst.CSTNode, scope: Scope) -> bool:
        return self.scope_of(node) is scope

    def contains(self, outer: cst.CSTNode, inner: cst.CSTNode) -> bool:
        if outer is inner:
            return True
        start, inside = self.preorder.get(id(outer)), self.preorder.get(id(inner))
        if start is not None and inside is not None:
            # Pre-order numbers: a subtree is a contiguous range, so containment is O(1).
            return start < inside < start + self.sizes[id(outer)]
        return any(a is outer for a in self.ancestors(inner))

    def code(self, node: cst.CSTNode) -> str:
        return self.module.code_for_node(node)

    # ---- names -----------------------------------------------------------------------------
    def qualified(self, expr: cst.BaseExpression) -> str | None:
        """Dotted name with the leading import alias expanded: `tk.get_encoding` with
        `import tiktoken as tk` gives "tiktoken.get_encoding"."""
        text = dotted(expr)
        if text is None:
            return None
        head, _, rest = text.partition(".")
        origin = self.imports.get(head)
        if origin is None:
            return text
        return origin + ("." + rest if rest else "")

    def assignments_to(self, target: str, scope: Scope | None = None) -> list[Assignment]:
        return [a for a in self.assignments
                if a.target == target and (scope is None or a.scope is scope)]

    def calls_in(self, node: cst.CSTNode) -> list[cst.Call]:
        return [c for c in self.calls if self.contains(node, c)]


def last_name(expr: cst.CSTNode | None) -> str | None:
    """The rightmost identifier of a name, attribute, call or string-keyed subscript:
    `self.cfg.max_tokens` -> "max_tokens", `cfg["max_tokens"]` -> "max_tokens"."""
    if isinstance(expr, cst.Name):
        return expr.value
    if isinstance(expr, cst.Attribute):
        return expr.attr.value
    if isinstance(expr, cst.Call):
        return last_name(expr.func)
    if isinstance(expr, cst.Subscript):
        key = subscript_key(expr)
        if key is not None:
            return key
        return last_name(expr.value)
    return None


def subscript_key(expr: cst.Subscript) -> str | None:
    if len(expr.slice) != 1:
        return None
    index = expr.slice[0].slice
    if isinstance(index, cst.Index):
        return string_value(index.value)
    return None


def string_value(expr: cst.CSTNode | None) -> str | None:
    if isinstance(expr, cst.SimpleString):
        try:
            value = expr.evaluated_value
        except Exception:  # malformed escapes: treat as not a constant
            return None
        return value if isinstance(value, str) else None
    if isinstance(expr, cst.ConcatenatedString):
        left, right = string_value(expr.left), string_value(expr.right)
        if left is not None and right is not None:
            return left + right
    return None


def number_value(expr: cst.CSTNode | None) -> float | int | None:
    """Value of an int/float literal, also `-4`, `100_000`, `1e6`; None otherwise."""
    if isinstance(expr, cst.Integer):
        try:
            return int(expr.value.replace("_", ""), 0)
        except ValueError:
            return int(expr.value.replace("_", ""))
    if isinstance(expr, cst.Float):
        return float(expr.value.replace("_", ""))
    if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Minus):
        inner = number_value(expr.expression)
        return -inner if inner is not None else None
    if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, cst.Multiply):
        left, right = number_value(expr.left), number_value(expr.right)
        if left is not None and right is not None:
            return left * right
    return None


def keyword_arg(call: cst.Call, name: str) -> cst.Arg | None:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg
    return None


def positional_args(call: cst.Call) -> list[cst.Arg]:
    return [a for a in call.args if a.keyword is None and not a.star]


def children_of(node: cst.CSTNode) -> list[cst.CSTNode]:
    """The code children of `node` (whitespace and punctuation left out)."""
    return _children(node)


def iter_nodes(node: cst.CSTNode) -> Iterator[cst.CSTNode]:
    """`node` and everything under it (code nodes only, no whitespace), in pre-order, without
    libcst's visitor machinery (which rebuilds each node it passes)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(_children(current)))


def names_in(node: cst.CSTNode) -> set[str]:
    """Every dotted name read inside `node` (and each of its prefixes): `self.msgs[0]` gives
    {"self", "self.msgs"}."""
    found: set[str] = set()
    for current in iter_nodes(node):
        if type(current) is cst.Name:
            found.add(current.value)
        elif type(current) is cst.Attribute:
            text = dotted(current)
            if text is not None:
                found.add(text)
    return found


def target_texts(target: cst.BaseExpression) -> list[str]:
    if isinstance(target, (cst.Tuple, cst.List)):
        out: list[str] = []
        for element in target.elements:
            out.extend(target_texts(element.value))
        return out
    text = dotted(target)
    if text is not None:
        return [text]
    if isinstance(target, cst.Subscript):
        base = dotted(target.value)
        key = subscript_key(target)
        if base is not None and key is not None:
            return [f"{base}[{key!r}]"]
    return []


class _Indexer:
    """Fills a ModuleIndex in one pre-order walk.

    libcst's visitor machinery rebuilds every node it passes (to support transformers), which made
    a read-only walk cost more than parsing the file; reading the dataclass fields directly visits
    the same nodes several times faster. Whitespace, comments and punctuation are skipped: no rule
    asks for their parents.
    """

    def __init__(self, index: ModuleIndex) -> None:
        self.index = index

    def walk(self, root: cst.CSTNode) -> None:
        parents = self.index.parents
        preorder = self.index.preorder
        handlers = _handlers()
        order: list[cst.CSTNode] = []
        stack: list[cst.CSTNode] = [root]
        while stack:
            node = stack.pop()
            preorder[id(node)] = len(order)
            order.append(node)
            handler = handlers.get(type(node))
            if handler is not None:
                handler(self, node)
            children = _children(node)
            for child in children:
                parents[id(child)] = node
            stack.extend(reversed(children))
        sizes = self.index.sizes
        for node in order:
            sizes[id(node)] = 1
        for node in reversed(order):
            parent = parents.get(id(node))
            if parent is not None:
                sizes[id(parent)] += sizes[id(node)]

    def _return(self, node: cst.Return) -> None:
        self.index.returns.append(node)

    def _call(self, node: cst.Call) -> None:
        self.index.calls.append(node)

    def _function(self, node: cst.FunctionDef) -> None:
        self.index.functions.append(node)

    def _class(self, node: cst.ClassDef) -> None:
        self.index.classes.append(node)

    def _subscript(self, node: cst.Subscript) -> None:
        self.index.subscripts.append(node)

    def _binop(self, node: cst.BinaryOperation) -> None:
        self.index.binops.append(node)

    def _comparison(self, node: cst.Comparison) -> None:
        self.index.comparisons.append(node)

    def _dict(self, node: cst.Dict) -> None:
        self.index.dicts.append(node)

    def _loop(self, node: cst.CSTNode) -> None:
        self.index.loops.append(node)

    def _assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            for text in target_texts(target.target):
                self.index.assignments.append(Assignment(text, node.value, node, _PENDING))

    def _ann_assign(self, node: cst.AnnAssign) -> None:
        for text in target_texts(node.target):
            self.index.assignments.append(Assignment(text, node.value, node, _PENDING))

    def _aug_assign(self, node: cst.AugAssign) -> None:
        for text in target_texts(node.target):
            self.index.assignments.append(Assignment(text, node.value, node, _PENDING, augmented=True))

    def _import(self, node: cst.Import) -> None:
        for alias in node.names:
            name = dotted(alias.name)
            if name is None:
                continue
            if alias.asname is not None:
                local = dotted(alias.asname.name)
                if local:
                    self.index.imports[local] = name
            else:
                head = name.split(".")[0]
                self.index.imports.setdefault(head, head)

    def _import_from(self, node: cst.ImportFrom) -> None:
        module = dotted(node.module) if node.module is not None else ""
        if isinstance(node.names, cst.ImportStar):
            return
        for alias in node.names:
            name = dotted(alias.name)
            if name is None:
                continue
            local = dotted(alias.asname.name) if alias.asname is not None else name
            if local:
                self.index.imports[local] = f"{module}.{name}" if module else name



_PENDING: Any = None  # replaced by the real scope once parents are known

# Fields that hold whitespace, comments or punctuation, never code a rule looks at.
_SKIPPED_FIELDS = {"lpar", "rpar", "comma", "semicolon", "leading_lines", "lines_after_decorators", "header",
                   "footer", "trailing_whitespace", "newline", "equal", "colon", "dot", "whitespace",
                   "lbracket", "rbracket", "lbrace", "rbrace", "star_tok", "whitespace_before_colon"}
_FIELDS: dict[type, tuple[str, ...]] = {}


def _children(node: cst.CSTNode) -> list[cst.CSTNode]:
    names = _FIELDS.get(type(node))
    if names is None:
        names = tuple(f.name for f in dataclasses.fields(node)
                      if f.name not in _SKIPPED_FIELDS and not f.name.startswith("whitespace"))
        _FIELDS[type(node)] = names
    out: list[cst.CSTNode] = []
    for name in names:
        value = getattr(node, name)
        if isinstance(value, cst.CSTNode):
            out.append(value)
        elif isinstance(value, (tuple, list)):
            out.extend(v for v in value if isinstance(v, cst.CSTNode))
    return out


@lru_cache(maxsize=None)
def _handlers() -> dict[type, Callable[..., None]]:
    return {
        cst.Return: _Indexer._return,
        cst.Call: _Indexer._call,
        cst.FunctionDef: _Indexer._function,
        cst.ClassDef: _Indexer._class,
        cst.Subscript: _Indexer._subscript,
        cst.BinaryOperation: _Indexer._binop,
        cst.Comparison: _Indexer._comparison,
        cst.Dict: _Indexer._dict,
        cst.For: _Indexer._loop,
        cst.While: _Indexer._loop,
        cst.Assign: _Indexer._assign,
        cst.AnnAssign: _Indexer._ann_assign,
        cst.AugAssign: _Indexer._aug_assign,
        cst.Import: _Indexer._import,
        cst.ImportFrom: _Indexer._import_from,
    }

_CACHE: list[tuple[cst.Module, ModuleIndex]] = []


def index_module(module: cst.Module) -> ModuleIndex:
    """The index of `module`, built once however many rules ask for it (the engine runs every
    rule over one module before it moves to the next, so remembering the last one is enough)."""
    for cached_module, cached in _CACHE:
        if cached_module is module:
            return cached
    index = ModuleIndex(module)
    _Indexer(index).walk(module)
    for assignment in index.assignments:
        assignment.scope = index.scope_of(assignment.node)
    _CACHE[:] = [(module, index)]
    return index


def words(identifier: str | None) -> list[str]:
    """Lower-case words of an identifier: "maxContextTokens" / "MAX_CONTEXT_TOKENS" ->
    ["max", "context", "tokens"]."""
    if not identifier:
        return []
    out: list[str] = []
    current = ""
    for ch in identifier:
        if ch in "_.[]'\" ":
            if current:
                out.append(current.lower())
            current = ""
        elif ch.isupper() and current and current[-1].islower():
            out.append(current.lower())
            current = ch
        else:
            current += ch
    if current:
        out.append(current.lower())
    return out


def has_word(identifier: str | None, candidates: Sequence[str]) -> bool:
    """True if any word of `identifier` starts with one of `candidates` ("tok" matches
    "tokens", "token_limit")."""
    return any(w.startswith(c) for w in words(identifier) for c in candidates)


# Plural nouns that usually name one string, not a collection.
_STRING_PLURALS = {"instructions", "contents", "details", "news", "notes", "status", "analysis", "basis",
                   "class", "process", "address", "progress", "access", "success", "alias", "canvas",
                   "this", "its", "is", "was", "has", "does", "series", "specs", "args", "kwargs", "terms",
                   "comments", "remarks", "thoughts", "tokens"}


def is_plural_collection(name: str | None) -> bool:
    """`query_tasks`, `contexts`, `results`: the last word is a plural noun, so `len()` of it is
    a number of items and a slice of it keeps items. ("tokens" is handled by the callers.)"""
    parts = words(name)
    if not parts:
        return False
    last = parts[-1]
    return len(last) > 3 and last.endswith("s") and not last.endswith("ss") and last not in _STRING_PLURALS
