"""Cheap second-stage prefilters on CPython's ``ast`` (built by the engine anyway, ~10x cheaper
than a libcst tree): each answers "could this rule possibly report in this module?".

They must never say no where the rule could report: every test here is a strict superset of the
rule's libcst logic (names as in ``_llm.py`` / the rule modules). A file they reject is never
parsed with libcst, which is where the checker spends its time.
"""

from __future__ import annotations

import ast
from typing import Sequence

from ._llm import _FRAMEWORK_METHODS, _LITELLM_FUNCTIONS, _SDK_SUFFIXES

# Last identifiers of every dotted name `is_llm_call` can accept.
_SDK_LAST = frozenset(s.rsplit(".", 1)[-1] for s in _SDK_SUFFIXES)
_LLM_LAST = _SDK_LAST | frozenset(_LITELLM_FUNCTIONS) | frozenset(_FRAMEWORK_METHODS)


def _import_aliases(nodes: Sequence[ast.AST]) -> dict[str, str]:
    """Bound name -> last identifier of what it was imported as (`index.qualified` expands these)."""
    aliases: dict[str, str] = {}
    for node in nodes:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                bound = alias.asname or alias.name.split(".")[0]
                aliases[bound] = alias.name.rsplit(".", 1)[-1]
    return aliases


def may_call_llm(nodes: Sequence[ast.AST], aliases: "Aliases | None" = None) -> bool:
    """False only when no call among ``nodes`` can pass `_llm.is_llm_call` (broad or not);
    ``aliases``: the whole module's imports when ``nodes`` is only part of it."""
    aliases = aliases or Aliases(nodes)
    return any(isinstance(node, ast.Call) and may_be_llm_call(node, aliases) for node in nodes)


def own_sink_names(nodes: Sequence[ast.AST], settings) -> frozenset[str]:
    """Names of the module's own functions that the sink table holds (the engine adds a file's
    own wrappers to it before the gates run): calls of them may send."""
    sinks = getattr(settings, "sinks", None)
    if not sinks:
        return frozenset()
    defined = {node.name for node in nodes if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    return frozenset(name for name in defined if any(q.endswith("." + name) for q in sinks.sinks))


def calls_named(nodes: Sequence[ast.AST], names: frozenset[str]) -> bool:
    return bool(names) and any(isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                               and node.func.id in names for node in nodes)


class Aliases:
    """The module's import aliases, collected only if a bare-name call needs them."""

    def __init__(self, nodes: Sequence[ast.AST]) -> None:
        self._nodes = nodes
        self._aliases: dict[str, str] | None = None

    def origin(self, name: str) -> str | None:
        if self._aliases is None:
            self._aliases = _import_aliases(self._nodes)
        return self._aliases.get(name)


def may_be_llm_call(node: ast.Call, aliases: Aliases) -> bool:
    """A superset of `_llm.is_llm_call`: the last identifier of the callee (after expanding an
    import alias) is an SDK/framework/LiteLLM method name."""
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr in _LLM_LAST and (func.attr not in _FRAMEWORK_METHODS or func.attr in _SDK_LAST
                                           or func.attr in _LITELLM_FUNCTIONS or bool(node.args or node.keywords))
    if isinstance(func, ast.Name):
        return func.id in _LLM_LAST or aliases.origin(func.id) in _LLM_LAST
    return False


def number(expr: ast.AST):
    """Like `_index.number_value`: an int/float literal, `-x`, or a product of literals."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, (int, float)) and not isinstance(expr.value, bool):
        return expr.value
    if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.USub):
        inner = number(expr.operand)
        return -inner if inner is not None else None
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Mult):
        left, right = number(expr.left), number(expr.right)
        if left is not None and right is not None:
            return left * right
    return None


_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)


# ---- TB201/TB202: lengths and names as libcst's helpers in `_index` see them -----------------

def single_argument(call: ast.Call) -> ast.AST | None:
    """The value of a call's only argument, whatever its kind (`f(x)`, `f(*x)`, `f(k=x)`,
    `f(**x)`): libcst's `len(call.args) == 1` then `call.args[0].value`."""
    if len(call.args) + len(call.keywords) != 1:
        return None
    if call.args:
        arg = call.args[0]
        return arg.value if isinstance(arg, ast.Starred) else arg
    return call.keywords[0].value


def argument_values(call: ast.Call) -> list[ast.AST]:
    """The `arg.value`s of libcst's `call.args`, keywords included (a starred argument's value is
    what it stars)."""
    return [a.value if isinstance(a, ast.Starred) else a for a in call.args] + [k.value for k in call.keywords]


def identifier_of(node: ast.AST) -> str | None:
    """The identifier libcst holds as a `Name` for this node: a name, an attribute, a keyword
    argument's name or a parameter."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, (ast.keyword, ast.arg)):
        return node.arg
    return None


def subscript_key(index: ast.AST) -> str | None:
    """`_index.subscript_key` on a subscript's slice: a string literal, also as `x["k",]` (one
    element: libcst keys that by "k" where ast sees a tuple)."""
    if isinstance(index, ast.Tuple) and len(index.elts) == 1:
        index = index.elts[0]
    return string_constant(index)


def len_argument(expr: ast.AST) -> ast.AST | None:
    """``x`` in `len(x)` or `len(k=x)` (one argument, not starred): the rules'
    `_len_argument` (libcst counts a keyword argument as one of `call.args`)."""
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id == "len" \
            and len(expr.args) + len(expr.keywords) == 1:
        if expr.args:
            return None if isinstance(expr.args[0], ast.Starred) else expr.args[0]
        if expr.keywords[0].arg is not None:
            return expr.keywords[0].value
    return None


def last_names(expr: ast.AST | None) -> tuple[str | None, ...]:
    """What `_index.last_name` can give for the libcst form of ``expr``: one name, except for
    `x["k",]`, which `ast` cannot tell from `x[("k",)]` (libcst keys the first by "k" and names
    the second by `x`), so both come back. Test with any()/all() as the rule's test needs."""
    while True:
        if isinstance(expr, ast.Name):
            return (expr.id,)
        if isinstance(expr, ast.Attribute):
            return (expr.attr,)
        if isinstance(expr, ast.Call):
            expr = expr.func
            continue
        if isinstance(expr, ast.Subscript):
            key = expr.slice
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                return (key.value,)
            if isinstance(key, ast.Tuple) and len(key.elts) == 1 and isinstance(key.elts[0], ast.Constant) \
                    and isinstance(key.elts[0].value, str):
                return (key.elts[0].value, *last_names(expr.value))
            expr = expr.value
            continue
        return (None,)


# ---- TB501/TB502/TB503: dotted names, imports and assignment targets as `_index` sees them -----

def dotted_name(expr: ast.AST | None) -> str | None:
    """``a.b.c`` for Name/Attribute chains, else None (`calls.dotted`)."""
    parts: list[str] = []
    while isinstance(expr, ast.Attribute):
        parts.append(expr.attr)
        expr = expr.value
    if isinstance(expr, ast.Name):
        parts.append(expr.id)
        return ".".join(reversed(parts))
    return None


def import_origins(nodes: Sequence[ast.AST]) -> dict[str, set[str]]:
    """local name -> every dotted origin `ModuleIndex.imports` may map it to. The index keeps one
    binding per name (the last `as`/from-import, the first plain `import a.b`); keeping them all
    is a superset whichever wins. Relative imports lose their dots there too."""
    origins: dict[str, set[str]] = {}
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    origins.setdefault(alias.asname, set()).add(alias.name)
                else:
                    head = alias.name.split(".")[0]
                    origins.setdefault(head, set()).add(head)
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            for alias in node.names:
                if alias.name == "*":
                    continue
                origins.setdefault(alias.asname or alias.name, set()).add(f"{module}.{alias.name}" if module else alias.name)
    return origins


def qualified_names(expr: ast.AST | None, origins: dict[str, set[str]]) -> set[str]:
    """Every value `ModuleIndex.qualified` may give for ``expr`` (empty when it gives None)."""
    text = dotted_name(expr)
    if text is None:
        return set()
    head, _, rest = text.partition(".")
    names = {text}
    for origin in origins.get(head, ()):
        names.add(origin + ("." + rest if rest else ""))
    return names


def string_constant(expr: ast.AST | None) -> str | None:
    """`_index.string_value`: a str literal (implicit concatenations are one Constant in ast;
    f-strings and bytes are not strings there either)."""
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        return expr.value
    return None


def target_texts(target: ast.AST) -> list[str]:
    """`_index.target_texts`: dotted targets (also inside tuples/lists and starred), and
    `base['key']` for string-keyed subscripts (`x["k",]` included: libcst keys it by "k")."""
    if isinstance(target, (ast.Tuple, ast.List)):
        out: list[str] = []
        for element in target.elts:
            out.extend(target_texts(element.value if isinstance(element, ast.Starred) else element))
        return out
    text = dotted_name(target)
    if text is not None:
        return [text]
    if isinstance(target, ast.Subscript):
        base = dotted_name(target.value)
        key_text = subscript_key(target.slice)
        if base is not None and key_text is not None:
            return [f"{base}[{key_text!r}]"]
    return []


def assignments(nodes: Sequence[ast.AST]):
    """(target text, value) for every entry of `ModuleIndex.assignments`: `=` (each target),
    annotated and augmented assignments."""
    for node in nodes:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                for text in target_texts(target):
                    yield text, node.value
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
            for text in target_texts(node.target):
                yield text, node.value


def libcst_scopes(tree_nodes: Sequence[ast.AST]) -> list[list[ast.AST]]:
    """The module's nodes grouped as `_index.ModuleIndex.scope_of` groups libcst nodes: by the
    nearest enclosing (async) function, its decorators, defaults and annotations included (they
    have the FunctionDef as an ancestor); module-level and class-body code in one group. Rules
    that need two things "in the same function" test each group."""
    roots = [n for n in tree_nodes if isinstance(n, ast.Module)] + [n for n in tree_nodes if isinstance(n, _FUNCTIONS)]
    groups = []
    for root in roots:
        group: list[ast.AST] = []
        stack = list(ast.iter_child_nodes(root))
        while stack:
            node = stack.pop()
            if isinstance(node, _FUNCTIONS):
                continue  # its own group, decorators and defaults included
            group.append(node)
            stack.extend(ast.iter_child_nodes(node))
        groups.append(group)
    return groups
