"""One pass over a module that the heuristic rules (TB2xx-TB5xx) share.

The heuristic rules ask the same questions many times: what is this node's parent, which function
is it in, what was this name assigned, what does this import alias stand for. Answering them from
one index built in a single walk keeps the cost of nine rules close to the cost of one, and keeps
each rule file about its own mistake rather than about tree plumbing.

The tree is CPython's `ast` (the engine parses it anyway). Its positions are UTF-8 byte offsets,
so `code()` slices the encoded source; comments are not in the tree, `line_text()` reads them.
"""

from __future__ import annotations

import ast
import re
from bisect import bisect_right
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any, Iterator, Sequence, TypeAlias

from ..calls import dotted

# A FunctionDef / AsyncFunctionDef, or the Module itself.
Scope: TypeAlias = ast.AST

FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
LOOPS = (ast.For, ast.AsyncFor, ast.While)
WITHS = (ast.With, ast.AsyncWith)
TRIES: tuple[type, ...] = (ast.Try, ast.TryStar) if hasattr(ast, "TryStar") else (ast.Try,)
_FUNCTION_TYPES = frozenset(FUNCTIONS)
_SCOPE_STOPS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


@dataclass
class Assignment:
    """`target = value` (or `target: T = value`, `target += value`) in some scope."""

    target: str  # dotted text of the target: "prompt", "self.messages"
    value: ast.expr | None
    node: ast.stmt  # the Assign / AnnAssign / AugAssign statement
    scope: Scope
    augmented: bool = False


@dataclass
class ModuleIndex:
    module: ast.Module
    source: str = ""
    parents: dict[int, ast.AST] = field(default_factory=dict)
    calls: list[ast.Call] = field(default_factory=list)
    functions: list[ast.FunctionDef | ast.AsyncFunctionDef] = field(default_factory=list)
    classes: list[ast.ClassDef] = field(default_factory=list)
    assignments: list[Assignment] = field(default_factory=list)
    # local alias -> dotted origin: {"tk": "tiktoken", "retry": "tenacity.retry"}
    imports: dict[str, str] = field(default_factory=dict)
    subscripts: list[ast.Subscript] = field(default_factory=list)
    binops: list[ast.BinOp] = field(default_factory=list)
    comparisons: list[ast.Compare] = field(default_factory=list)
    dicts: list[ast.Dict] = field(default_factory=list)
    loops: list[ast.For | ast.AsyncFor | ast.While] = field(default_factory=list)
    returns: list[ast.Return] = field(default_factory=list)
    preorder: dict[int, int] = field(default_factory=dict)  # id(node) -> pre-order number
    sizes: list[int] = field(default_factory=list)  # pre-order number -> nodes in its subtree
    scopes: dict[int, ast.AST] = field(default_factory=dict)  # scope_of() answers
    _encoded: bytes | None = None
    _line_starts: list[int] | None = None  # byte offset where each line starts (0-based lines)

    # ---- tree navigation -------------------------------------------------------------------
    def parent(self, node: ast.AST) -> ast.AST | None:
        return self.parents.get(id(node))

    def ancestors(self, node: ast.AST) -> Iterator[ast.AST]:
        parents = self.parents
        current = parents.get(id(node))
        while current is not None:
            yield current
            current = parents.get(id(current))

    def scope_of(self, node: ast.AST) -> Scope:
        """The nearest (async) function holding `node` (its decorators, defaults and annotations
        included), else the Module. Every node passed on the way up is answered too, so asking
        about all calls of a module costs about one walk up per function."""
        scopes = self.scopes
        cached = scopes.get(id(node))
        if cached is not None:
            return cached
        parents = self.parents
        passed: list[int] = []
        scope: ast.AST = self.module
        current = parents.get(id(node))
        while current is not None:
            if type(current) in _FUNCTION_TYPES:
                scope = current
                break
            known = scopes.get(id(current))
            if known is not None:
                scope = known
                break
            passed.append(id(current))
            current = parents.get(id(current))
        scopes[id(node)] = scope
        for key in passed:
            scopes[key] = scope
        return scope

    def enclosing(self, node: ast.AST, kinds: tuple[type, ...], stop_at_scope: bool = True):
        for ancestor in self.ancestors(node):
            if isinstance(ancestor, kinds):
                return ancestor
            if stop_at_scope and isinstance(ancestor, _SCOPE_STOPS):
                return None
        return None

    def statement_of(self, node: ast.AST) -> ast.AST:
        """The smallest statement holding `node` (`node` itself if it is one)."""
        current: ast.AST = node
        while not isinstance(current, ast.stmt):
            parent = self.parents.get(id(current))
            if parent is None:
                return current
            current = parent
        return current

    def in_scope(self, node: ast.AST, scope: Scope) -> bool:
        return self.scope_of(node) is scope

    def contains(self, outer: ast.AST, inner: ast.AST) -> bool:
        if outer is inner:
            return True
        start, inside = self.preorder.get(id(outer)), self.preorder.get(id(inner))
        if start is not None and inside is not None:
            # Pre-order numbers: a subtree is a contiguous range, so containment is O(1).
            return start < inside < start + self.sizes[start]
        return any(a is outer for a in self.ancestors(inner))

    # ---- source text -----------------------------------------------------------------------
    def _offsets(self) -> tuple[bytes, list[int]]:
        if self._line_starts is None:
            data = self.source.encode("utf-8", "surrogatepass")
            # The tokenizer ends lines at \n, \r\n and a lone \r (not at \f or \u2028, which
            # str.splitlines would split at).
            if b"\r" in data:
                starts = [0, *(m.end() for m in _NEWLINE.finditer(data))]
            else:
                starts = [0, *accumulate(len(line) + 1 for line in data.split(b"\n"))][:-1]
            self._encoded, self._line_starts = data, starts
        return self._encoded, self._line_starts  # type: ignore[return-value]

    def _byte_span(self, node: Any) -> tuple[int, int] | None:
        data, starts = self._offsets()
        if isinstance(node, list):
            spans = [s for s in (self._byte_span(n) for n in node) if s is not None]
            return (spans[0][0], spans[-1][1]) if spans else None
        lineno = getattr(node, "lineno", None)
        if lineno is None or getattr(node, "end_lineno", None) is None:
            if isinstance(node, ast.Module):
                return 0, len(data)
            # comprehension, withitem, match_case, arguments: no positions of their own
            spans = [s for s in (self._byte_span(c) for c in children_of(node)) if s is not None]
            return (min(s[0] for s in spans), max(s[1] for s in spans)) if spans else None
        return starts[lineno - 1] + node.col_offset, starts[node.end_lineno - 1] + node.end_col_offset

    def code(self, node: ast.AST | Sequence[ast.AST]) -> str:
        """The exact source text of `node` (of a statement list: from its first statement's start
        to its last one's end). Parentheses around an expression are not part of it."""
        span = self._byte_span(node)
        if span is None:
            return ""
        return self._encoded[span[0]:span[1]].decode("utf-8", "surrogatepass")  # type: ignore[index]

    def line_text(self, node: ast.AST | Sequence[ast.AST]) -> str:
        """The whole source lines `node` spans (first to last line, comments included, without the
        final line break): what a rule reads when a comment on the line matters."""
        data, starts = self._offsets()
        first = node[0] if isinstance(node, list) else node
        last = node[-1] if isinstance(node, list) else node
        lineno, end_lineno = getattr(first, "lineno", None), getattr(last, "end_lineno", None)
        if lineno is None or end_lineno is None:
            span = self._byte_span(node)
            if span is None:
                return ""
            lineno, end_lineno = _line_of(starts, span[0]), _line_of(starts, span[1])
        end = starts[end_lineno] if end_lineno < len(starts) else len(data)
        return data[starts[lineno - 1]:end].decode("utf-8", "surrogatepass").rstrip("\r\n")

    # ---- names -----------------------------------------------------------------------------
    def qualified(self, expr: ast.AST) -> str | None:
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

    def calls_in(self, node: ast.AST | Sequence[ast.AST]) -> list[ast.Call]:
        """The calls inside `node` (or inside any node of a statement list such as `try_.body`)."""
        nodes = node if isinstance(node, list) else [node]
        return [c for c in self.calls if any(self.contains(n, c) for n in nodes)]


_NEWLINE = re.compile(rb"\r\n|\r|\n")


def _line_of(starts: list[int], offset: int) -> int:
    return bisect_right(starts, offset)


def all_params(fn: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> list[ast.arg]:
    """Every parameter of a function or lambda in source order: positional-only, ordinary,
    `*args`, keyword-only, `**kwargs`."""
    a = fn.args
    out = [*a.posonlyargs, *a.args]
    if a.vararg is not None:
        out.append(a.vararg)
    out.extend(a.kwonlyargs)
    if a.kwarg is not None:
        out.append(a.kwarg)
    return out


def last_name(expr: ast.AST | None) -> str | None:
    """The rightmost identifier of a name, attribute, call or string-keyed subscript:
    `self.cfg.max_tokens` -> "max_tokens", `cfg["max_tokens"]` -> "max_tokens"."""
    while True:
        if isinstance(expr, ast.Name):
            return expr.id
        if isinstance(expr, ast.Attribute):
            return expr.attr
        if isinstance(expr, ast.Call):
            expr = expr.func
            continue
        if isinstance(expr, ast.Subscript):
            key = subscript_key(expr)
            if key is not None:
                return key
            expr = expr.value
            continue
        return None


def subscript_key(expr: ast.Subscript) -> str | None:
    """The string key of `x["key"]`, else None. `x["key",]` (a one-element tuple written without
    parentheses) counts as keyed by "key", as in the libcst index; `x[("key",)]` does not."""
    index = expr.slice
    if isinstance(index, ast.Tuple):
        if len(index.elts) != 1:
            return None
        element = index.elts[0]
        if (element.lineno, element.col_offset) != (index.lineno, index.col_offset):
            return None  # parenthesised: the key is a tuple
        index = element
    if isinstance(index, ast.Constant) and isinstance(index.value, str):
        return index.value
    return None


def string_value(expr: ast.AST | None) -> str | None:
    """A str literal's value (implicit concatenation is one Constant); bytes and f-strings: None."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return expr.value
    return None


def number_value(expr: ast.AST | None) -> float | int | None:
    """Value of an int/float literal, also `-4`, `100_000`, `1e6`, `4 * 1024`; None otherwise
    (`True` is not a number)."""
    if isinstance(expr, ast.Constant):
        value = expr.value
        if type(value) is int or type(value) is float:
            return value
        return None
    if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.USub):
        inner = number_value(expr.operand)
        return -inner if inner is not None else None
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Mult):
        left, right = number_value(expr.left), number_value(expr.right)
        if left is not None and right is not None:
            return left * right
    return None


def keyword_arg(call: ast.Call, name: str) -> ast.keyword | None:
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword
    return None


def positional_args(call: ast.Call) -> list[ast.expr]:
    """The positional argument expressions (`*x` left out)."""
    return [a for a in call.args if not isinstance(a, ast.Starred)]


def argument_values(call: ast.Call) -> list[ast.expr]:
    """Every argument's value: positional ones (what a `*x` stars), then keyword ones (`**x`
    included), i.e. the `arg.value`s of libcst's `call.args`."""
    return [a.value if isinstance(a, ast.Starred) else a for a in call.args] + [k.value for k in call.keywords]


def first_argument(call: ast.Call) -> tuple[ast.expr, str | None] | None:
    """(value, keyword name) of the call's first argument in source order, whatever its kind:
    `f(x)` -> (x, None), `f(*x)` -> (x, None), `f(k=x)` -> (x, "k"), `f(**x)` -> (x, None)."""
    positional = call.args[0] if call.args else None
    keyword = call.keywords[0] if call.keywords else None
    # a keyword precedes a positional argument only in `f(k=1, *rest)`
    if keyword is not None and (positional is None or (keyword.lineno, keyword.col_offset) <
                                (positional.lineno, positional.col_offset)):
        return keyword.value, keyword.arg
    if positional is None:
        return None
    return (positional.value if isinstance(positional, ast.Starred) else positional), None


def len_argument(expr: ast.AST | None) -> ast.expr | None:
    """`x` in `len(x)` (one plain positional argument), else None."""
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "len" \
            and len(expr.args) == 1 and not expr.keywords and not isinstance(expr.args[0], ast.Starred):
        return expr.args[0]
    return None


def children_of(node: ast.AST) -> list[ast.AST]:
    """The child nodes of `node` in source order (ctx/operator marker nodes left out)."""
    return _children(node)


def iter_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """`node` and everything under it, in pre-order (source order), without the ctx/operator
    marker nodes (`ast.Load`, `ast.Add`, ...)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(_children(current)))


# Identifier fields that the libcst tree held as `Name` nodes: names_in reads them too.
_IDENTIFIER_FIELDS: dict[type, tuple[str, ...]] = {
    ast.Attribute: ("attr",), ast.keyword: ("arg",), ast.arg: ("arg",),
    ast.FunctionDef: ("name",), ast.AsyncFunctionDef: ("name",), ast.ClassDef: ("name",),
    ast.ExceptHandler: ("name",), ast.alias: ("asname",), ast.MatchAs: ("name",),
    ast.MatchStar: ("name",), ast.MatchMapping: ("rest",),
}


def names_in(node: ast.AST) -> set[str]:
    """Every dotted name inside `node` and each of its prefixes, and the identifiers the code
    spells there (attribute and keyword names, parameters, defined names; True/False/None, names
    in libcst): `self.msgs[0]` gives {"self", "self.msgs", "msgs"}, `f(messages=m)` gives {"f", "messages", "m"}."""
    found: set[str] = set()
    for current in iter_nodes(node):
        kind = type(current)
        if kind is ast.Name:
            found.add(current.id)  # type: ignore[attr-defined]
            continue
        if kind is ast.Constant:
            value = current.value  # type: ignore[attr-defined]
            if value is None or value is True or value is False:
                found.add(str(value))  # libcst spelled them as names
            continue
        if kind is ast.Attribute:
            text = dotted(current)
            if text is not None:
                found.add(text)
        elif kind is ast.alias:
            _add_dotted(found, current.name)  # type: ignore[attr-defined]
        elif kind is ast.ImportFrom and current.module:  # type: ignore[attr-defined]
            _add_dotted(found, current.module)  # type: ignore[attr-defined]
        elif kind is ast.Global or kind is ast.Nonlocal:
            found.update(current.names)  # type: ignore[attr-defined]
        elif kind is ast.MatchClass:
            found.update(current.kwd_attrs)  # type: ignore[attr-defined]
        for name in _IDENTIFIER_FIELDS.get(kind, ()):
            value = getattr(current, name)
            if value:
                found.add(value)
    return found


def _add_dotted(found: set[str], text: str) -> None:
    """`a.b.c` as libcst held it: Names a, b, c and the attributes a.b, a.b.c."""
    parts = text.split(".")
    found.update(parts)
    found.update(".".join(parts[:i]) for i in range(2, len(parts) + 1))


def target_texts(target: ast.AST) -> list[str]:
    if isinstance(target, (ast.Tuple, ast.List)):
        out: list[str] = []
        for element in target.elts:
            out.extend(target_texts(element.value if isinstance(element, ast.Starred) else element))
        return out
    text = dotted(target)
    if text is not None:
        return [text]
    if isinstance(target, ast.Subscript):
        base = dotted(target.value)
        key = subscript_key(target)
        if base is not None and key is not None:
            return [f"{base}[{key!r}]"]
    return []


# ---- the walk ------------------------------------------------------------------------------

# Fields that never hold a child node: identifiers, flags, constants, and the ctx / operator
# fields, whose nodes (`ast.Load`, `ast.Add`, ...) are a third of a tree, are shared singletons
# (so they cannot have one parent) and are never what a rule asks about.
_SCALAR_FIELDS = frozenset({
    "ctx", "op", "ops", "id", "attr", "arg", "name", "module", "level", "conversion", "kind",
    "type_comment", "type_ignores", "is_async", "simple", "asname", "tag", "rest", "kwd_attrs",
})
# Fields in source order where `_fields` differ from it (decorators first; body after test).
_ORDER: dict[type, tuple[str, ...]] = {
    ast.FunctionDef: ("decorator_list", "type_params", "args", "returns", "body"),
    ast.AsyncFunctionDef: ("decorator_list", "type_params", "args", "returns", "body"),
    ast.ClassDef: ("decorator_list", "type_params", "bases", "keywords", "body"),
    ast.IfExp: ("body", "test", "orelse"),
}
_FIELDS: dict[type, tuple[str, ...]] = {}


def _fields_of(kind: type) -> tuple[str, ...]:
    names = _ORDER.get(kind, kind._fields)  # type: ignore[attr-defined]
    present = set(kind._fields)  # type: ignore[attr-defined]
    if kind is ast.Constant or kind is getattr(ast, "MatchSingleton", None):
        skipped = _SCALAR_FIELDS | {"value"}
    elif kind is ast.Global or kind is ast.Nonlocal:
        skipped = _SCALAR_FIELDS | {"names"}
    elif kind.__name__ == "TypeAlias":  # 3.12: `type X = ...`, whose `name` is a Name node
        skipped = _SCALAR_FIELDS - {"name"}
    else:
        skipped = _SCALAR_FIELDS
    fields = tuple(n for n in names if n in present and n not in skipped)
    _FIELDS[kind] = fields
    return fields


def _children(node: ast.AST) -> list[ast.AST]:
    kind = type(node)
    if kind is ast.Dict:
        out: list[ast.AST] = []
        for key, value in zip(node.keys, node.values):  # type: ignore[attr-defined]
            if key is not None:  # None: `**other`
                out.append(key)
            out.append(value)
        return out
    if kind is ast.arguments:
        return _argument_children(node)  # type: ignore[arg-type]
    fields = _FIELDS.get(kind)
    if fields is None:
        fields = _fields_of(kind)
    out = []
    for name in fields:
        value = getattr(node, name)
        if value.__class__ is list:
            out.extend(value)
        elif value is not None:
            out.append(value)
    return out


def _argument_children(a: ast.arguments) -> list[ast.AST]:
    """Parameters in source order, each followed by its default."""
    out: list[ast.AST] = []
    positional = [*a.posonlyargs, *a.args]
    first_default = len(positional) - len(a.defaults)
    for i, param in enumerate(positional):
        out.append(param)
        if i >= first_default:
            out.append(a.defaults[i - first_default])
    if a.vararg is not None:
        out.append(a.vararg)
    for param, default in zip(a.kwonlyargs, a.kw_defaults):
        out.append(param)
        if default is not None:
            out.append(default)
    if a.kwarg is not None:
        out.append(a.kwarg)
    return out


def _walk(index: ModuleIndex, root: ast.AST) -> list[ast.stmt]:
    """Parents, pre-order numbers, subtree sizes and the node lists, in one explicit-stack walk.
    Returns the assignment and import statements, in source order, for `_bind`."""
    parents = index.parents
    preorder = index.preorder
    lists: dict[type, list] = {
        ast.Call: index.calls, ast.FunctionDef: index.functions, ast.AsyncFunctionDef: index.functions,
        ast.ClassDef: index.classes, ast.Subscript: index.subscripts, ast.BinOp: index.binops,
        ast.Compare: index.comparisons, ast.Dict: index.dicts, ast.For: index.loops,
        ast.AsyncFor: index.loops, ast.While: index.loops, ast.Return: index.returns,
    }
    bindings: list[ast.stmt] = []
    for kind in (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Import, ast.ImportFrom):
        lists[kind] = bindings
    parent_numbers: list[int] = []  # pre-order number -> its parent's
    stack: list[ast.AST] = [root]
    numbers: list[int] = [-1]  # parallel to `stack`: the parent's pre-order number
    pop, push, pop_number, push_number = stack.pop, stack.append, numbers.pop, numbers.append
    count = 0
    while stack:
        node = pop()
        parent_numbers.append(pop_number())
        preorder[id(node)] = count
        kind = type(node)
        found = lists.get(kind)
        if found is not None:
            found.append(node)
        children = _children(node)
        if children:
            for child in reversed(children):
                parents[id(child)] = node
                push(child)
                push_number(count)
        count += 1
    sizes = [1] * count
    for number in range(count - 1, 0, -1):
        sizes[parent_numbers[number]] += sizes[number]
    index.sizes = sizes
    return bindings


def _bind(index: ModuleIndex, statements: list[ast.stmt]) -> None:
    imports = index.imports
    for node in statements:
        kind = type(node)
        if kind is ast.Assign:
            scope = index.scope_of(node)
            for target in node.targets:  # type: ignore[attr-defined]
                for text in target_texts(target):
                    index.assignments.append(Assignment(text, node.value, node, scope))  # type: ignore[attr-defined]
        elif kind is ast.AnnAssign or kind is ast.AugAssign:
            scope = index.scope_of(node)
            for text in target_texts(node.target):  # type: ignore[attr-defined]
                index.assignments.append(Assignment(text, node.value, node, scope,  # type: ignore[attr-defined]
                                                    augmented=kind is ast.AugAssign))
        elif kind is ast.Import:
            for alias in node.names:  # type: ignore[attr-defined]
                if alias.asname is not None:
                    imports[alias.asname] = alias.name
                else:
                    head = alias.name.split(".")[0]
                    imports.setdefault(head, head)
        else:  # ImportFrom; relative dots are dropped, as `from . import x` binds "x"
            module = node.module or ""  # type: ignore[attr-defined]
            for alias in node.names:  # type: ignore[attr-defined]
                if alias.name == "*":
                    continue
                imports[alias.asname or alias.name] = f"{module}.{alias.name}" if module else alias.name


_CACHE: list[tuple[ast.AST, ModuleIndex]] = []


def index_module(tree: ast.Module, source: str | bytes = "") -> ModuleIndex:
    """The index of `tree` (parsed from `source`), built once however many rules ask for it (the
    engine runs every rule over one module before it moves to the next, so remembering the last
    one is enough)."""
    for cached_tree, cached in _CACHE:
        if cached_tree is tree:
            return cached
    if isinstance(source, bytes):
        source = source.decode("utf-8")
    index = ModuleIndex(tree, source)
    _bind(index, _walk(index, tree))
    _CACHE[:] = [(tree, index)]
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
