"""Function-local data flow for the heuristic rules: does this value reach an LLM request, and
was a real tokenizer run on it.

Deliberately simple and flow-insensitive: names assigned from a value carry it, lists a value is
appended to carry it, and a request reading any carrier receives it. That is enough for the code
these rules target (a prompt built and sent within one function) and keeps each query linear in
the size of the function.
"""

from __future__ import annotations

import ast

from ._index import FUNCTIONS, TRIES, ModuleIndex, Scope, argument_values, dotted, first_argument, names_in
from ._llm import inside_display_call, is_llm_call, is_tokenizer_call

_SCOPE_STOPS = (*FUNCTIONS, ast.ClassDef)
_CARRY_METHODS = {"append", "extend", "insert", "update", "appendleft", "add"}


def _reads(node: ast.AST, tainted: set[str]) -> bool:
    return bool(names_in(node) & tainted)


def flows_into_llm(index: ModuleIndex, scope: Scope, seed: ast.AST,
                   *, broad: bool = True) -> ast.Call | None:
    """The LLM call in `scope` that receives the value of `seed` (directly or through local
    names and lists), or None."""
    llm_calls = [c for c in index.calls if index.scope_of(c) is scope and is_llm_call(c, index, broad=broad)]
    if not llm_calls:
        return None
    for call in llm_calls:
        if index.contains(call, seed) and call is not seed:
            if not _only_in_callee(call, seed, index):
                return call
    tainted: set[str] = set()
    _seed_targets(index, seed, tainted)
    if not tainted:
        return None
    assignments = [a for a in index.assignments if a.scope is scope]
    carriers = [c for c in index.calls if index.scope_of(c) is scope
                and isinstance(c.func, ast.Attribute) and c.func.attr in _CARRY_METHODS]
    changed = True
    while changed:
        changed = False
        for a in assignments:
            if a.target not in tainted and a.value is not None and _reads(a.value, tainted):
                tainted.add(a.target)
                changed = True
        for c in carriers:
            receiver = dotted(c.func.value)  # type: ignore[attr-defined]
            if receiver and receiver not in tainted and any(_reads(v, tainted) for v in argument_values(c)):
                tainted.add(receiver)
                changed = True
    for call in llm_calls:
        for value in argument_values(call):
            if _reads(value, tainted):
                return call
    return None


def _only_in_callee(call: ast.Call, seed: ast.AST, index: ModuleIndex) -> bool:
    """True if `seed` sits in the callee expression (`x[:10].invoke()`), not the arguments."""
    return index.contains(call.func, seed)


def _seed_targets(index: ModuleIndex, seed: ast.AST, tainted: set[str]) -> None:
    """Names that receive `seed`'s value in the statement holding it."""
    if inside_display_call(seed, index):
        return
    for ancestor in index.ancestors(seed):
        if isinstance(ancestor, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = ancestor.targets if isinstance(ancestor, ast.Assign) else [ancestor.target]
            for t in targets:
                text = dotted(t)
                if text:
                    tainted.add(text)
            return
        if isinstance(ancestor, ast.Call) and isinstance(ancestor.func, ast.Attribute) \
                and ancestor.func.attr in _CARRY_METHODS:
            receiver = dotted(ancestor.func.value)
            if receiver:
                tainted.add(receiver)
            return
        if isinstance(ancestor, ast.Call) and is_tokenizer_call(ancestor):
            return
        if isinstance(ancestor, ast.stmt):
            return


def base_name(expr: ast.AST) -> str | None:
    """The variable a text expression is about: `prompt` for `prompt`, `self.prompt`,
    `prompt.strip()`, `doc.page_content`, `str(prompt)`, `prompt or ""`."""
    while True:
        if isinstance(expr, (ast.Name, ast.Attribute)):
            return dotted(expr)
        if isinstance(expr, ast.Call):
            if isinstance(expr.func, ast.Attribute):  # prompt.strip()
                expr = expr.func.value
                continue
            first = first_argument(expr)
            if isinstance(expr.func, ast.Name) and expr.func.id in {"str", "list"} and first is not None:
                expr = first[0]
                continue
            return None
        if isinstance(expr, ast.Subscript):
            expr = expr.value
            continue
        if isinstance(expr, ast.BoolOp):  # `text or ""`
            expr = expr.values[0]
            continue
        if isinstance(expr, ast.IfExp):  # `text if text else ""`
            expr = expr.body
            continue
        return None


def tokenizer_used_on(index: ModuleIndex, scope: Scope, name: str | None) -> bool:
    """True if a real tokenizer is run on `name` (or on a value derived from it in the same
    statement) anywhere in `scope`: then a character count next to it is a cheap pre-check or
    an extrapolation from a measured ratio, not a stand-in for counting."""
    if not name:
        return False
    root = name.split(".")[0] if not name.startswith("self.") else name
    for call in index.calls:
        if index.scope_of(call) is not scope or not is_tokenizer_call(call):
            continue
        read = names_in(call)
        if name in read or root in read:
            return True
    return False


def scope_calls_tokenizer(index: ModuleIndex, scope: Scope) -> bool:
    return any(index.scope_of(c) is scope and is_tokenizer_call(c) for c in index.calls)


_TOKENIZER_TEST_WORDS = ("tokenizer", "encoder", "encoding", "tiktoken")
_SETTING_WORDS = ("environ", "getenv")


def _is_setting_test(test: str) -> bool:
    # `if not os.environ.get("USE_TIKTOKEN")`: a switch the user must turn on, so the estimate is
    # what runs by default, not a fallback for a tokenizer that is missing
    return any(word in test for word in _SETTING_WORDS)


def behind_setting_switch(node: ast.AST, index: ModuleIndex) -> bool:
    """`node` is in the branch an environment switch selects (`if not os.environ.get(...)`):
    a tokenizer used in the other branch is not used on this path."""
    for ancestor in index.ancestors(node):
        if isinstance(ancestor, (ast.If, ast.IfExp)) and _is_setting_test(index.code(ancestor.test).lower()):
            return True
        if isinstance(ancestor, _SCOPE_STOPS):
            return False
    return False


def in_tokenizer_fallback(node: ast.AST, index: ModuleIndex) -> bool:
    """`node` sits in the `except` of a `try` that counts with a real tokenizer, or under an
    `if` that tests whether a tokenizer is there (`if tokenizer is None:`): the character
    arithmetic there is what runs when the tokenizer cannot be loaded, not the budget itself."""
    for ancestor in index.ancestors(node):
        if isinstance(ancestor, (ast.If, ast.IfExp)):
            test = index.code(ancestor.test).lower()
            if any(word in test for word in _TOKENIZER_TEST_WORDS) and not _is_setting_test(test):
                return True
        if isinstance(ancestor, ast.ExceptHandler):
            try_node = index.parent(ancestor)
            if isinstance(try_node, TRIES) and any(
                    is_tokenizer_call(c) for c in index.calls_in(try_node.body)):  # type: ignore[attr-defined]
                return True
        if isinstance(ancestor, _SCOPE_STOPS):
            return False
    return False
