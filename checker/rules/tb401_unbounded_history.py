"""TB401: a message history that grows without a bound and is sent whole on every call.

The rule's documentation is the docstring of UnboundedHistory below (`tokenbudget rule TB401`).
"""

from __future__ import annotations

import ast
import textwrap
from typing import Iterator

import libcst as cst

from checker.rule import Rule

from ._ast_gate import Aliases, argument_values, dotted_name, identifier_of, last_names, may_be_llm_call, subscript_key
from ._index import ModuleIndex, children_of, dotted, has_word, last_name, string_value, index_module, iter_nodes
from ._llm import SENDS_TRIGGER, is_llm_call, sent_to

CODE = "TB401"
NAME = "unbounded-history"

_GROW_METHODS = {"append", "extend", "insert"}
_TRIM_METHODS = {"pop", "popleft", "clear", "remove"}
_TRIM_WORDS = ("trim", "truncat", "summar", "compress", "prune", "shorten", "fit", "window", "limit",
               "reduce", "token", "tok", "cap", "clip", "condense", "compact", "evict", "rotate",
               "reset", "clear", "forget", "cut")
# Wrappers that pass the whole list through.
_WHOLE_WRAPPERS = {"list", "tuple", "copy", "deepcopy", "dict", "iter", "reversed", "enumerate"}
# Names of lists that hold a conversation.
_HISTORY_WORDS = ("message", "msg", "history", "conversation", "chat", "dialog", "turn", "context",
                  "memory", "transcript", "thread", "prompt", "convo")


def path(expr: cst.CSTNode | None) -> str | None:
    """`messages`, `self.messages`, `st.session_state.messages` (also written
    `st.session_state["messages"]`)."""
    if isinstance(expr, cst.Subscript) and len(expr.slice) == 1 and \
            isinstance(expr.slice[0].slice, cst.Index):
        key = string_value(expr.slice[0].slice.value)
        base = path(expr.value)
        if key is not None and base is not None:
            return f"{base}.{key}"
        if base is not None and isinstance(expr.slice[0].slice.value, (cst.Name, cst.Attribute, cst.Call)) and "[]" not in base:
            return f"{base}[]"  # `self.histories[chat_id]`: one list per key (`_keyed_region`)
        return None
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Attribute) and \
            expr.func.attr.value == "setdefault" and expr.args:
        base = path(expr.func.value)
        return f"{base}[]" if base is not None and "[]" not in base else None
    if isinstance(expr, cst.Attribute):
        base = path(expr.value)
        return f"{base}.{expr.attr.value}" if base is not None else None
    return dotted(expr)


def _references(node: cst.CSTNode, name: str) -> list[cst.CSTNode]:
    """The outermost expressions under `node` that denote `name` (`self.messages`, not its
    inner `self`)."""
    found: list[cst.CSTNode] = []
    stack = [node]
    dotted_name = "." in name or "[" in name
    while stack:
        current = stack.pop()
        kind = type(current)
        if kind is cst.Name and current.value == name:
            found.append(current)
            continue
        if dotted_name and kind in (cst.Attribute, cst.Subscript, cst.Call) and path(current) == name:
            found.append(current)
            continue
        stack.extend(reversed(children_of(current)))
    return found



def _ast_path(expr) -> str | None:
    """`path` on the ast form. libcst keys `x["k",]` by "k" (a one-element slice) where ast sees a
    tuple, so that form is keyed too (a superset)."""
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        base = _ast_path(expr.value)
        return f"{base}.{expr.attr}" if base is not None else None
    if isinstance(expr, ast.Subscript):
        key = subscript_key(expr.slice)
        base = _ast_path(expr.value)
        if base is not None and key is None and isinstance(expr.slice, (ast.Name, ast.Attribute, ast.Call)) \
                and "[]" not in base:
            return f"{base}[]"
        return f"{base}.{key}" if key is not None and base is not None else None
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr == "setdefault" \
            and expr.args:
        base = _ast_path(expr.func.value)
        return f"{base}[]" if base is not None and "[]" not in base else None
    return None


# `_is_list_growth` (libcst's Name also covers True / False / None).
_AST_LIST_GROWTH = (ast.List, ast.ListComp, ast.Name, ast.Attribute, ast.Call, ast.Subscript)


def _is_ast_list_growth(value) -> bool:
    return isinstance(value, _AST_LIST_GROWTH) or (isinstance(value, ast.Constant) and (value.value is None or isinstance(value.value, bool)))


def _flat_targets(targets):
    for target in targets:
        if isinstance(target, (ast.Tuple, ast.List)):
            yield from _flat_targets(target.elts)
        elif isinstance(target, ast.Starred):
            yield from _flat_targets([target.value])
        else:
            yield target


def _ast_growth(nodes) -> dict[str, list]:
    """`_collect_growth`: history path -> its growth nodes."""
    grown: dict[str, list] = {}
    for node in nodes:
        name = None
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Attribute) and node.func.attr in _GROW_METHODS:
                name = _ast_path(node.func.value)
        elif isinstance(node, ast.AugAssign):
            if isinstance(node.op, ast.Add) and _is_ast_list_growth(node.value):
                name = _ast_path(node.target)
        elif isinstance(node, ast.Assign):
            value = node.value
            if isinstance(value, ast.BinOp) and isinstance(value.op, ast.Add) and _is_ast_list_growth(value.right):
                left = _ast_path(value.left)
                if left is not None and any(dotted_name(t) == left for t in _flat_targets(node.targets)):
                    name = left
        if name:
            grown.setdefault(name, []).append(node)
    return grown


def _identifiers(exprs) -> set[str]:
    """Every identifier libcst holds as a `Name` under ``exprs`` (names, attributes, keyword
    names of inner calls, lambda parameters: what `_references` of a plain name can find), and
    string subscript keys (the last segment of a dotted path like `st.session_state["messages"]`)."""
    found: set[str] = set()
    for expr in exprs:
        for node in ast.walk(expr):
            name = identifier_of(node)
            if name:
                found.add(name)
            elif isinstance(node, ast.Subscript):
                key = subscript_key(node.slice)
                if key is not None:
                    found.add(key)  # the last segment of a dotted history's path
    return found


def _whole_identifiers(call: ast.Call) -> set[str]:
    """Last segments of the references `_is_whole` may accept in ``call``'s arguments: anything
    not under an attribute's or subscript's base or inside a call other than a whole-list wrapper
    (`list(x)`, `copy(x)`, `x.copy(...)`'s arguments). Subscript indexes are not barriers there."""
    found: set[str] = set()
    stack = argument_values(call)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)  # `x.messages`, or its `messages` as a reference to a plain name
        elif isinstance(node, ast.Subscript):
            key = subscript_key(node.slice)
            if key is not None:
                found.add(key)  # `st.session_state["messages"]`
            else:
                keyed = _ast_path(node)
                if keyed is not None and keyed.endswith("[]"):
                    found.add(keyed.split(".")[-1])  # `self.histories[chat_id]`
            stack.append(node.slice)
        elif isinstance(node, ast.Call):
            names = last_names(node.func)
            if any(n in _WHOLE_WRAPPERS for n in names) or \
                    (isinstance(node.func, ast.Attribute) and node.func.attr in _AST_KEEP_WHOLE):
                stack.append(node.func)
                stack.extend(argument_values(node))
                found.update(k.arg for k in node.keywords if k.arg)
        elif isinstance(node, ast.arg):
            found.add(node.arg)
        else:
            stack.extend(ast.iter_child_nodes(node))
    return found


# `x.copy()`, and the calls `_keeps_text_whole` lets through (`sep.join(x)`, `t.format(...)`).
_AST_KEEP_WHOLE = {"copy", "join", "format", "strip", "lstrip", "rstrip", "replace"}


def _ast_joins(nodes) -> dict[str, list]:
    """The `sep.join(x)` calls by the path of `x` (`_is_joined`)."""
    found: dict[str, list] = {}
    for n in nodes:
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "join" and len(n.args) == 1:
            joined = _ast_path(n.args[0])
            if joined is not None:
                found.setdefault(joined, []).append(n)
    return found


def _ast_joined_texts(nodes, joins) -> set[str]:
    """Names assigned a value holding one of ``joins`` (`_joined_whole`, a superset)."""
    if not joins:
        return set()
    wanted = {id(j) for j in joins}
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None and \
                any(id(n) in wanted for n in ast.walk(node.value)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            found.update(t.id for t in _flat_targets(targets) if isinstance(t, ast.Name))
    return found


def _has_role_text(grow) -> bool:
    """`'"role"' in index.code(grow)`: a string holding `role`, or a node over several lines
    (a comment there is in its code too)."""
    if getattr(grow, "end_lineno", grow.lineno) != grow.lineno:
        return True
    for node in ast.walk(grow):
        if isinstance(node, ast.Constant):
            value = node.value
            if isinstance(value, bytes):
                value = value.decode("latin-1")
            if isinstance(value, str) and "role" in value:
                return True
    return False


def _ast_may_report(nodes, settings) -> bool:
    """`find`'s first conditions: a list that grows (`_collect_growth`), holds a conversation
    (`_is_conversation`) and is referenced whole (`_whole_reference`) in the arguments of a call
    that may send to a model, or of a function of this module that sends one of its parameters
    (`_sends` / `_local_senders`)."""
    grown = _ast_growth(nodes)
    if not grown:
        return False
    aliases = Aliases(nodes)
    llm_calls = [n for n in nodes if isinstance(n, ast.Call) and may_be_llm_call(n, aliases)]
    if not llm_calls:
        return False
    senders = set()
    call_positions = [(call.lineno, call.col_offset) for call in llm_calls]
    for node in nodes:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            params = {a.arg for a in node.args.args}
            # Only functions with an LLM call within their body's span are walked.
            start, end = (node.body[0].lineno, node.body[0].col_offset), (node.end_lineno, node.end_col_offset)
            if params and any(start <= position <= end for position in call_positions) \
                    and any(isinstance(n, ast.Call) and may_be_llm_call(n, aliases)
                              and not params.isdisjoint(_identifiers(argument_values(n)))
                              for statement in node.body for n in ast.walk(statement)):
                senders.add(node.name)
    if senders:
        # `send = retry(commit, times=3)` (`_local_senders`).
        senders |= {node.targets[0].id for node in nodes if isinstance(node, ast.Assign) and len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Name) and _ast_wrapped_name(node.value) in senders}
    sends = llm_calls
    if senders:
        sends = llm_calls + [n for n in nodes if isinstance(n, ast.Call) and not senders.isdisjoint(last_names(n.func))]
    whole = [(call, _whole_identifiers(call)) for call in sends]
    keyed = None
    tree = None
    joined = None
    for name, grows in grown.items():
        segment = name.split(".")[-1]
        if joined is None:
            joined = _ast_joins(nodes)
        joins = joined.get(name, ())
        copies = _ast_snapshots(nodes, name) | _ast_joined_texts(nodes, joins)
        calls = [call for call, names in whole if segment in names or not copies.isdisjoint(names)]
        if not calls:
            continue
        if not (has_word(segment, _HISTORY_WORDS) or any(_has_role_text(g) for g in grows) or joins):
            # Named in a request's `messages=` / `input=` / `contents=`.
            if keyed is None:
                keyed = _identifiers(k.value for call in sends for k in call.keywords
                                     if k.arg in {"messages", "input", "contents"})
            if segment not in keyed:
                continue
        tree = tree or _Tree(nodes)
        if any(_may_have_region(call, name, grows, tree) for call in calls):
            return True
    return False


def _ast_snapshots(nodes, name: str) -> set[str]:
    """`_snapshots` on the ast form (every scope: a superset)."""
    found = set()
    for node in nodes:
        if not (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)):
            continue
        value = node.value
        if isinstance(value, ast.Call):
            func = value.func
            if isinstance(func, ast.Attribute) and func.attr == "copy" and not value.args:
                source = func.value
            elif len(value.args) == 1 and any(n in _WHOLE_WRAPPERS for n in last_names(func)):
                source = value.args[0]
            else:
                continue
        elif isinstance(value, ast.Subscript) and isinstance(value.slice, ast.Slice) and \
                value.slice.lower is None and value.slice.upper is None and value.slice.step is None:
            source = value.value
        else:
            continue
        if _ast_path(source) == name:
            found.add(node.targets[0].id)
    return found


class _Tree:
    """Parents of the module's ast nodes, built only for files that get this far."""

    def __init__(self, nodes) -> None:
        self.nodes = nodes
        self.parents = {id(child): node for node in nodes for child in ast.iter_child_nodes(node)}

    def ancestors(self, node):
        parents = self.parents
        while id(node) in parents:
            node = parents[id(node)]
            yield node

    def scope_of(self, node):
        """`ModuleIndex.scope_of`: the nearest function, or None for the module."""
        return next((a for a in self.ancestors(node) if isinstance(a, _AST_FUNCTIONS)), None)

    def contains(self, outer, inner) -> bool:
        return any(a is outer for a in self.ancestors(inner))

    def container_assignments(self, name: str):
        """Assignments of ``name`` a dict or list (`_initialised_as_container`)."""
        for node in self.nodes:
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None and (
                    isinstance(node.value, (ast.Dict, ast.DictComp, ast.List, ast.ListComp))
                    or isinstance(node.value, ast.Call) and not _CONTAINER_CALLS.isdisjoint(last_names(node.value.func))):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                if any(dotted_name(t) == name for t in _flat_targets(targets)):
                    yield node

    def list_assignments(self, name: str, values: tuple):
        """Assignments (`index.assignments`: plain, annotated, augmented) of ``name`` whose value
        is one of ``values``; a `list(...)` call counts when ``values`` has ast.Call."""
        for node in self.nodes:
            if isinstance(node, ast.Assign):
                targets = _flat_targets(node.targets)
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
                targets = _flat_targets([node.target])
            else:
                continue
            value = node.value
            if isinstance(node, ast.AnnAssign) and ast.Call in values and _ast_is_list_annotation(node.annotation):
                pass  # `self.messages: List[Message] = make()` (`_initialised_as_list`)
            elif not isinstance(value, values) or (isinstance(value, ast.Call) and "list" not in last_names(value.func)):
                continue
            if any(dotted_name(t) == name for t in targets):
                yield node


_AST_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_CONTAINER_CALLS = frozenset({"dict", "defaultdict", "list", "OrderedDict"})


def _may_have_region(call, name: str, grows, tree: _Tree) -> bool:
    """`_growth_region` without its trimming tests."""
    scope = tree.scope_of(call)
    if name.endswith("[]"):
        base = name[:-2]
        if base.startswith("self."):
            cls = next((a for a in tree.ancestors(call) if isinstance(a, ast.ClassDef)), None)
            return cls is not None and any(tree.contains(cls, g) for g in grows) and \
                any(tree.contains(cls, a) for a in tree.container_assignments(base))
        return scope is not None and any(tree.scope_of(a) is None for a in tree.container_assignments(base))
    if name.startswith("self."):
        cls = next((a for a in tree.ancestors(call) if isinstance(a, ast.ClassDef)), None)
        return cls is not None and any(tree.contains(cls, g) for g in grows) and \
            any(tree.contains(cls, a) for a in tree.list_assignments(name, (ast.List, ast.ListComp, ast.Call)))
    if "session_state" in name:
        return True
    # A loop between the call and its scope that holds a growth of the same scope.
    for loop in tree.ancestors(call):
        if loop is scope:
            break
        if isinstance(loop, (ast.For, ast.AsyncFor, ast.While)) and \
                any(tree.contains(loop, g) and tree.scope_of(g) is scope for g in grows):
            return True
    # A method's local taken from a container the object keeps (`_held_by_instance`, without
    # its test of how the class starts the container).
    if scope is not None and "." not in name and any(
            isinstance(node, ast.Assign) and tree.scope_of(node) is scope and _ast_held_from(node.value)
            and any(dotted_name(t) == name for t in _flat_targets(node.targets)) for node in tree.nodes):
        return True
    # A module-level list sent from a function.
    return scope is not None and any(tree.scope_of(a) is None
                                     for a in tree.list_assignments(name, (ast.List, ast.ListComp)))


def _ast_held_from(value) -> bool:
    """`_held_from` on the ast form."""
    if isinstance(value, ast.Subscript):
        base = value.value
    elif isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and \
            value.func.attr in ("get", "setdefault") and value.args:
        base = value.func.value
    else:
        return False
    found = _ast_path(base)
    return found is not None and found.startswith("self.")


class _History:
    def __init__(self, name: str) -> None:
        self.name = name
        self.grows: list[cst.CSTNode] = []


def _collect_growth(index: ModuleIndex) -> dict[str, _History]:
    histories: dict[str, _History] = {}
    for call in index.calls:
        if isinstance(call.func, cst.Attribute) and call.func.attr.value in _GROW_METHODS:
            name = path(call.func.value)
            if name:
                histories.setdefault(name, _History(name)).grows.append(call)
    for a in index.assignments:
        if a.augmented and isinstance(a.node, cst.AugAssign) and isinstance(a.node.operator, cst.AddAssign):
            name = path(a.node.target)
            if name and _is_list_growth(a.node.value):
                histories.setdefault(name, _History(name)).grows.append(a.node)
        elif isinstance(a.node, cst.Assign) and isinstance(a.value, cst.BinaryOperation) and \
                isinstance(a.value.operator, cst.Add) and path(a.value.left) == a.target and \
                _is_list_growth(a.value.right):
            histories.setdefault(a.target, _History(a.target)).grows.append(a.node)
    return histories


def _is_conversation(history: _History, sends: list[cst.Call], index: ModuleIndex) -> bool:
    """Its name says it holds a conversation, it grows by role-tagged messages, or it is what a
    request's `messages=` / `input=` / `contents=` is built from."""
    if has_word(history.name.split(".")[-1], _HISTORY_WORDS):
        return True
    for grow in history.grows:
        if '"role"' in index.code(grow) or "'role'" in index.code(grow):
            return True
    # Steps or replies put together into the prompt (an agent's scratchpad): found below only
    # when the text is sent whole.
    if _is_joined(history.name, index):
        return True
    for call in sends:
        for arg in call.args:
            if arg.keyword is not None and arg.keyword.value in {"messages", "input", "contents"} and \
                    _references(arg.value, history.name):
                return True
    return False


def _is_list_growth(value: cst.BaseExpression) -> bool:
    return isinstance(value, (cst.List, cst.ListComp, cst.Name, cst.Attribute, cst.Call, cst.Subscript))


def _local_senders(index: ModuleIndex) -> set[str]:
    """Functions of this module that send one of their parameters to a model: calling them is
    sending (`def chat(messages): return client.chat.completions.create(messages=messages)`)."""
    senders: set[str] = set()
    for function in index.functions:
        params = {p.name.value for p in function.params.params}
        for call in index.calls_in(function.body):
            if index.scope_of(call) is function and is_llm_call(call, index) and any(
                    _references(arg.value, p) for arg in call.args for p in params):
                senders.add(function.name.value)
                break
    # `send = retry(pipeline(commit, parse), times=3)` at module level sends as `commit` does.
    for a in index.assignments:
        if a.scope is index.module and not a.augmented and "." not in a.target and \
                _wrapped_name(a.value) in senders:
            senders.add(a.target)
    return senders


def _wrapped_name(value: cst.BaseExpression | None) -> str | None:
    """`commit` for `retry(pipeline(commit, parse), times=3)`: the function a chain of wrapping
    calls holds as its first positional argument (checker.summaries._wrapped_function)."""
    for _ in range(4):
        if not isinstance(value, cst.Call) or not value.args or value.args[0].keyword is not None \
                or value.args[0].star:
            return None
        value = value.args[0].value
        if isinstance(value, cst.Name):
            return value.value
    return None


def _ast_wrapped_name(value) -> str | None:
    """`_wrapped_name` on the ast form."""
    for _ in range(4):
        if not isinstance(value, ast.Call) or not value.args or isinstance(value.args[0], ast.Starred):
            return None
        value = value.args[0]
        if isinstance(value, ast.Name):
            return value.id
    return None


def _sends(index: ModuleIndex, senders: set[str]) -> list[cst.Call]:
    out = []
    for call in index.calls:
        if is_llm_call(call, index):
            out.append(call)
        elif last_name(call.func) in senders:
            out.append(call)
    return out


def _whole_reference(call: cst.Call, name: str, index: ModuleIndex) -> bool:
    """Is `name` passed to `call` as the whole list (not a slice, not through a helper that may
    trim it)?"""
    for arg in call.args:
        for ref in _references(arg.value, name):
            if _is_whole(ref, arg, index):
                return True
    return False


def _is_whole(ref: cst.CSTNode, arg: cst.Arg, index: ModuleIndex) -> bool:
    child: cst.CSTNode = ref
    for ancestor in index.ancestors(ref):
        if ancestor is arg:
            return True
        if isinstance(ancestor, cst.Subscript) and ancestor.value is child:
            return False  # messages[-10:] or messages[0]
        if isinstance(ancestor, cst.Attribute) and ancestor.value is child:
            return False  # messages.copy() handled below; other attributes are not the list
        if isinstance(ancestor, cst.Call):
            func = last_name(ancestor.func)
            if func not in _WHOLE_WRAPPERS and not (isinstance(ancestor.func, cst.Attribute)
                                                   and ancestor.func.attr.value == "copy") \
                    and not _keeps_text_whole(ancestor, child):
                return False
        child = ancestor
    return False


# Text made of the whole list: `"\n".join(steps)`, then put in a template or trimmed of blanks.
_TEXT_METHODS = {"format", "strip", "lstrip", "rstrip", "replace"}


def _keeps_text_whole(call: cst.Call, child: cst.CSTNode) -> bool:
    """`sep.join(<child>)`, or a string method / `str.format` applied to text holding it:
    everything the list holds is in the result."""
    func = call.func
    if not isinstance(func, cst.Attribute):
        return False
    if func.attr.value == "join":
        return len(call.args) == 1 and call.args[0] is child
    return func.attr.value in _TEXT_METHODS and (func is child or any(a is child for a in call.args))


def _trimmed_in(region: cst.CSTNode, name: str, index: ModuleIndex, *, fresh_resets: bool) -> bool:
    """Anything in `region` that bounds `name`."""
    for call in index.calls_in(region):
        func = call.func
        if isinstance(func, cst.Attribute) and path(func.value) == name and func.attr.value in _TRIM_METHODS:
            return True
        if any(_references(arg.value, name) for arg in call.args) and \
                has_word(last_name(func), _TRIM_WORDS):
            return True
        if last_name(func) == "deque" and any(a.keyword and a.keyword.value == "maxlen" for a in call.args):
            return True
    for a in index.assignments:
        if not index.contains(region, a.node):
            continue
        if isinstance(a.node, cst.Assign):
            for t in a.node.targets:
                target = t.target
                if isinstance(target, cst.Subscript) and path(target.value) == name:
                    return True  # messages[:] = ...
            # a.target also names the parts of `prompt, history = build(...)`
            if a.target == name and not (isinstance(a.value, cst.BinaryOperation) and path(a.value.left) == name) \
                    and not _drops_last(a.value, name) and not _started_when_empty(a.node, name, index) \
                    and not (isinstance(a.value, cst.Call) and _sends_and_returns(a.value, index)):
                if fresh_resets or _references(a.value, name):
                    return True
    if name.endswith("[]") and _keyed_assignment_trims(region, name, fresh_resets):
        return True
    for node in _dels_and_tests(region):
        if isinstance(node, cst.Del):
            if _references(node, name):
                return True
        elif _len_check(node, name):
            return True
    return False


def _keyed_assignment_trims(region: cst.CSTNode, name: str, fresh_resets: bool) -> bool:
    """`self.histories[chat_id] = self.histories[chat_id][-10:]` (the index keeps no assignment
    to a variable key): a new value made from the old bounds it, a fresh one only ``fresh_resets``."""
    for node in iter_nodes(region):
        if type(node) is cst.Assign and any(path(t.target) == name for t in node.targets):
            value = node.value
            if isinstance(value, cst.BinaryOperation) and path(value.left) == name or _drops_last(value, name):
                continue
            if fresh_resets or _references(value, name):
                return True
    return False


def _sends_and_returns(call: cst.Call, index: ModuleIndex) -> bool:
    """`messages = fetch_and_cache(messages, params)`: what a sending call returns is the list it
    sent, grown by the reply, not a cut of it."""
    return is_llm_call(call, index) or last_name(call.func) in _local_senders(index)


def _started_when_empty(node: cst.CSTNode, name: str, index: ModuleIndex) -> bool:
    """`if not messages: messages = start(query)`: the list is only begun when there is none,
    which bounds nothing."""
    parent = index.parent(node)
    while parent is not None and not isinstance(parent, (cst.If, cst.FunctionDef, cst.ClassDef, cst.Module)):
        parent = index.parent(parent)
    if not isinstance(parent, cst.If) or not index.contains(parent.body, node):
        return False
    test = parent.test
    return isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not) and path(test.expression) == name


def _drops_last(value: cst.BaseExpression | None, name: str) -> bool:
    """`messages[:-1]`: takes back the last turn (a rollback, a re-run), which bounds nothing."""
    if not (isinstance(value, cst.Subscript) and path(value.value) == name and len(value.slice) == 1):
        return False
    part = value.slice[0].slice
    return isinstance(part, cst.Slice) and part.lower is None and part.step is None and \
        isinstance(part.upper, cst.UnaryOperation) and isinstance(part.upper.operator, cst.Minus) and \
        isinstance(part.upper.expression, cst.Integer)


def _dels_and_tests(region: cst.CSTNode) -> list[cst.CSTNode]:
    # iter_nodes reads the tree; `region.visit` would rebuild every node of the region.
    found: list[cst.CSTNode] = []
    for n in iter_nodes(region):
        if type(n) is cst.Del:
            found.append(n)
        elif type(n) in (cst.If, cst.While):
            found.append(n.test)
    return found


def _len_check(test: cst.CSTNode, name: str) -> bool:
    """`len(messages) > N`, `count_tokens(messages) > N`: the code looks at the size."""
    for comparison in _comparisons(test):
        for operand in [comparison.left] + [c.comparator for c in comparison.comparisons]:
            if isinstance(operand, cst.Call) and _references(operand, name):
                return True
    return False


def _comparisons(node: cst.CSTNode) -> list[cst.Comparison]:
    return [n for n in iter_nodes(node) if type(n) is cst.Comparison]


# A loop of at most this many turns keeps a conversation small (a two-agent chat of 8 rounds):
# the history is bounded by the loop, not left to grow.
_FEW_TURNS = 10


def _few_turns(loop: cst.CSTNode, scope: cst.CSTNode) -> bool:
    """`for i in range(8)`, or `range(rounds)` with `rounds: int = 8` a parameter of the function."""
    if not (isinstance(loop, cst.For) and isinstance(loop.iter, cst.Call) and last_name(loop.iter.func) == "range"
            and len(loop.iter.args) == 1):
        return False
    bound = loop.iter.args[0].value
    if isinstance(bound, cst.Name) and isinstance(scope, cst.FunctionDef):
        bound = next((p.default for p in (*scope.params.params, *scope.params.kwonly_params)
                      if p.name.value == bound.value and p.default is not None), bound)
    return isinstance(bound, cst.Integer) and int(bound.value, 0) <= _FEW_TURNS


def _loops_between(node: cst.CSTNode, scope: cst.CSTNode, index: ModuleIndex) -> list[cst.CSTNode]:
    out = []
    for ancestor in index.ancestors(node):
        if ancestor is scope:
            break
        if isinstance(ancestor, (cst.For, cst.While)):
            out.append(ancestor)
    return out


def find(index: ModuleIndex) -> Iterator[tuple[cst.CSTNode, str]]:
    histories = _collect_growth(index)
    if not histories:
        return
    senders = _local_senders(index)
    sends = _sends(index, senders)
    reported: set[int] = set()
    for name, history in histories.items():
        if not _is_conversation(history, sends, index):
            continue
        snapshots = _snapshots(name, index)
        for call in sends:
            if id(call) in reported or not (_whole_reference(call, name, index) or any(
                    scope is index.scope_of(call) and _whole_reference(call, local, index)
                    and not _trimmed_in(scope, local, index, fresh_resets=False)
                    for local, scope in snapshots)):
                continue
            region = _growth_region(call, history, index)
            if region is None:
                continue
            reported.add(id(call))
            yield call, (f"`{name.replace('[]', '[...]')}` grows on every turn and is sent whole to {sent_to(call)} with no trimming: "
                         "input "
                         "tokens grow with the conversation until the request passes the context window. "
                         "Bound it by tokens (pytest_tokenbudget.count_messages), drop or summarize old turns, "
                         "or send a slice.")


def _snapshot_of(value: cst.BaseExpression | None, name: str) -> bool:
    """`name.copy()`, `list(name)`, `copy.deepcopy(name)`, `name[:]`: the whole list, as sent."""
    if isinstance(value, cst.Call):
        func = value.func
        if isinstance(func, cst.Attribute) and func.attr.value == "copy" and not value.args:
            return path(func.value) == name
        return last_name(func) in _WHOLE_WRAPPERS and len(value.args) == 1 and path(value.args[0].value) == name
    if isinstance(value, cst.Subscript) and len(value.slice) == 1 and isinstance(value.slice[0].slice, cst.Slice):
        whole = value.slice[0].slice
        return whole.lower is None and whole.upper is None and whole.step is None and path(value.value) == name
    return False


def _snapshots(name: str, index: ModuleIndex) -> list[tuple[str, object]]:
    """Locals holding a copy of the whole history (`messages = self.conversation.copy()`), or a
    text made of all of it (`prompt = template.format(steps="\n".join(steps))`), with their
    scope: sending the copy sends the history."""
    return [(a.target, a.scope) for a in index.assignments
            if not a.augmented and "." not in a.target and a.scope is not index.module
            and (_snapshot_of(a.value, name) or _joined_whole(a.value, name, index))]


def _joined_whole(value: cst.BaseExpression | None, name: str, index: ModuleIndex) -> bool:
    """Whether ``value`` is text holding all of `name`: a `sep.join(name)` reaching it through
    text methods, templates, f-strings and concatenation only (`_keeps_text_whole`)."""
    if value is None or not _is_joined(name, index):
        return False
    for ref in _references(value, name):
        child: cst.CSTNode = ref
        joined = False
        for ancestor in index.ancestors(ref):
            if isinstance(ancestor, cst.Subscript) and ancestor.value is child:
                break
            if isinstance(ancestor, cst.Attribute) and ancestor.value is child and \
                    ancestor.attr.value not in _TEXT_METHODS:
                break
            if isinstance(ancestor, cst.Call):
                if not _keeps_text_whole(ancestor, child):
                    break
                joined = joined or last_name(ancestor.func) == "join"
            if ancestor is value:
                if joined:
                    return True
                break
            child = ancestor
    return False


def _is_joined(name: str, index: ModuleIndex) -> bool:
    """`sep.join(name)` somewhere in the module: the list's items are put together as text."""
    return any(isinstance(c.func, cst.Attribute) and c.func.attr.value == "join" and len(c.args) == 1
               and path(c.args[0].value) == name for c in index.calls)


def _growth_region(call: cst.Call, history: _History, index: ModuleIndex) -> cst.CSTNode | None:
    """The region over which `history` accumulates between sends, if it is never bounded there."""
    name = history.name
    scope = index.scope_of(call)
    if name.endswith("[]"):
        return _keyed_region(call, history, index)
    if name.startswith("self."):
        cls = index.enclosing(call, (cst.ClassDef,), stop_at_scope=False)
        if cls is None or not _initialised_as_list(name, cls, index):
            return None
        if not any(index.contains(cls, g) for g in history.grows):
            return None
        if _trimmed_in(cls, name, index, fresh_resets=False) or _class_has_trim_method(cls, name, index):
            return None
        return cls
    if "session_state" in name:
        if _trimmed_in(index.module, name, index, fresh_resets=False):
            return None
        return index.module
    # A local (or module-level) list grown in a loop that also sends it.
    for loop in _loops_between(call, scope, index):
        if _few_turns(loop, scope):
            continue
        grows = [g for g in history.grows if index.contains(loop, g) and index.scope_of(g) is scope]
        if grows and not _trimmed_in(loop, name, index, fresh_resets=True) and \
                not _trimmed_in(scope, name, index, fresh_resets=False):
            return loop
    # A list the object keeps by key (`task, messages, model = self.agents[key]`), grown and
    # sent by a method: it grows on every call of the method.
    if "." not in name and _held_by_instance(name, scope, index) and \
            any(index.scope_of(g) is scope for g in history.grows) and \
            not _trimmed_in(scope, name, index, fresh_resets=False):
        return scope
    # A module-level list grown and sent by functions: it grows on every call.
    if scope is not index.module and _module_list(name, index):
        if any(index.scope_of(g) is not index.module for g in history.grows) and \
                not _trimmed_in(index.module, name, index, fresh_resets=False) and \
                not _assigned_in_function(name, index):
            return index.module
    return None


def _keyed_region(call: cst.Call, history: _History, index: ModuleIndex) -> cst.CSTNode | None:
    """`self.histories[chat_id].append(...)` / `histories[chat_id]` of a module-level dict: each
    key's list lives as long as the object (or the process) and grows on every call."""
    name, base = history.name, history.name[:-2]
    if base.startswith("self."):
        cls = index.enclosing(call, (cst.ClassDef,), stop_at_scope=False)
        if cls is None or not _initialised_as_container(base, cls, index) or \
                not any(index.contains(cls, g) for g in history.grows):
            return None
        if _trimmed_in(cls, name, index, fresh_resets=False) or _class_has_trim_method(cls, name, index):
            return None
        return cls
    if index.scope_of(call) is index.module or not _initialised_as_container(base, index.module, index, scope=index.module):
        return None
    if any(index.scope_of(g) is not index.module for g in history.grows) and \
            not _trimmed_in(index.module, name, index, fresh_resets=False):
        return index.module
    return None


def _held_from(value: cst.BaseExpression | None) -> str | None:
    """`self.agents` for `self.agents[key]`, `self.agents.get(key)`, `self.agents.setdefault(key, [])`:
    the container an element is taken from itself (not a copy of it)."""
    if isinstance(value, cst.Subscript):
        base = value.value
    elif isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) and \
            value.func.attr.value in ("get", "setdefault") and value.args:
        base = value.func.value
    else:
        return None
    found = path(base)
    return found if found is not None and found.startswith("self.") else None


def _held_by_instance(name: str, scope, index: ModuleIndex) -> bool:
    """Whether the method's local `name` is taken from a container the object keeps
    (`_held_from`), one the class starts as a dict or list."""
    if not isinstance(scope, cst.FunctionDef):
        return False
    cls = index.enclosing(scope, (cst.ClassDef,), stop_at_scope=False)
    if cls is None:
        return False
    for a in index.assignments_to(name, scope):
        container = _held_from(a.value)
        if container is not None and _initialised_as_container(container, cls, index):
            return True
    return False


def _initialised_as_container(name: str, cls: cst.CSTNode, index: ModuleIndex, scope=None) -> bool:
    """Whether ``name`` is assigned a dict or list in ``cls`` (in ``scope`` itself when given)."""
    for a in index.assignments:
        if a.target == name and not a.augmented and index.contains(cls, a.node) and \
                (scope is None or a.scope is scope) and (
                isinstance(a.value, (cst.Dict, cst.DictComp, cst.List, cst.ListComp))
                or isinstance(a.value, cst.Call) and last_name(a.value.func) in ("dict", "defaultdict", "list", "OrderedDict")):
            return True
    return False


def _initialised_as_list(name: str, cls: cst.ClassDef, index: ModuleIndex) -> bool:
    for a in index.assignments:
        if a.target == name and index.contains(cls, a.node) and isinstance(a.value, (cst.List, cst.ListComp)) \
                or (a.target == name and index.contains(cls, a.node) and isinstance(a.value, cst.Call)
                    and last_name(a.value.func) == "list"):
            return True
        # `self.messages: List[Message] = assistant.init_messages()`: declared a list.
        if a.target == name and isinstance(a.node, cst.AnnAssign) and index.contains(cls, a.node) and \
                _is_list_annotation(a.node.annotation.annotation):
            return True
    return False


def _is_list_annotation(annotation: cst.BaseExpression) -> bool:
    if isinstance(annotation, cst.Subscript):
        annotation = annotation.value
    return last_name(annotation) in ("list", "List")


def _ast_is_list_annotation(annotation) -> bool:
    """`_is_list_annotation` on the ast form."""
    if isinstance(annotation, ast.Subscript):
        annotation = annotation.value
    return any(name in ("list", "List") for name in last_names(annotation))


def _class_has_trim_method(cls: cst.ClassDef, name: str, index: ModuleIndex) -> bool:
    for function in index.functions:
        if index.contains(cls, function) and has_word(function.name.value, _TRIM_WORDS) and \
                _references(function.body, name) and not (
                    _only_starts_afresh(function, name, index) and not _called_unconditionally(function, cls, index)):
            return True
    return False


def _only_starts_afresh(function: cst.FunctionDef, name: str, index: ModuleIndex) -> bool:
    """`def _clear(self): self.messages = self.assistant.init_messages()`: the method only
    starts the history anew (each reference to it is an assignment target of a value that does
    not read it)."""
    for ref in _references(function.body, name):
        parent = index.parent(ref)
        if not (isinstance(parent, cst.AssignTarget) and isinstance(index.parent(parent), cst.Assign)
                and not _references(index.parent(parent).value, name)):
            return False
    return True


def _called_unconditionally(function: cst.FunctionDef, cls: cst.ClassDef, index: ModuleIndex) -> bool:
    """A call `self.<method>()` in the class outside any `if`: a reset after every exchange
    bounds the history; one behind a user's `:clear` command does not."""
    method = function.name.value
    for call in index.calls:
        if isinstance(call.func, cst.Attribute) and call.func.attr.value == method and index.contains(cls, call) \
                and not index.contains(function, call):
            scope = index.scope_of(call)
            if not any(isinstance(a, (cst.If, cst.IfExp)) for a in _ancestors_until(call, scope, index)):
                return True
    return False


def _ancestors_until(node: cst.CSTNode, scope, index: ModuleIndex) -> list[cst.CSTNode]:
    out = []
    for ancestor in index.ancestors(node):
        if ancestor is scope:
            break
        out.append(ancestor)
    return out


def _module_list(name: str, index: ModuleIndex) -> bool:
    return any(isinstance(a.value, (cst.List, cst.ListComp)) for a in index.assignments_to(name, index.module))


def _assigned_in_function(name: str, index: ModuleIndex) -> bool:
    return any(a.scope is not index.module and not a.augmented for a in index.assignments if a.target == name)


VALID = [
    # Built afresh on every turn (the context is one part of what a helper returns), and filled
    # only while the token count fits.
    """
    def chat_with_ai(client, prompt, user_input, full_history, token_limit):
        while True:
            try:
                used, current_context = build_context(prompt, full_history)
                for message in reversed(full_history):
                    if used + count_tokens(message) > token_limit:
                        break
                    current_context.insert(1, message)
                current_context.append({"role": "user", "content": user_input})
                return client.chat.completions.create(model="gpt-4o", messages=current_context, max_tokens=500)
            except RateLimitError:
                time.sleep(10)
    """,
    # A conversation of a few rounds: the loop bounds the history.
    """
    async def converse(llm, opener, rounds: int = 8):
        chat = [{"role": "user", "content": opener}]
        for _ in range(rounds):
            reply = await llm.chat.completions.create(model="gpt-4o", messages=chat, max_tokens=200)
            chat.append({"role": "assistant", "content": reply.choices[0].message.content})
    """,
    # A copy that is cut before it is sent.
    """
    from litellm import completion
    class Client:
        def __init__(self):
            self.conversation = [{"role": "system", "content": "Write a script."}]
        def ask(self, text):
            self.conversation.append({"role": "user", "content": text})
            messages = list(self.conversation)
            del messages[1:-10]
            reply = completion(model="gpt-4o", messages=messages, max_tokens=500)
            self.conversation.append({"role": "assistant", "content": reply.choices[0].message.content})
            return reply
    """,
    # Trimmed by count before each call.
    """
    def chat(client):
        messages = [{"role": "system", "content": "Be brief."}]
        while True:
            messages.append({"role": "user", "content": input("> ")})
            if len(messages) > 21:
                del messages[1:3]
            reply = client.chat.completions.create(model="gpt-4o", messages=messages)
            messages.append({"role": "assistant", "content": reply.choices[0].message.content})
    """,
    # Sends a slice.
    """
    def chat(client):
        history = []
        while True:
            history.append({"role": "user", "content": input()})
            out = client.chat.completions.create(model="gpt-4o-mini", messages=history[-10:])
            history.append({"role": "assistant", "content": out.choices[0].message.content})
    """,
    # Token budget check with a real counter.
    """
    from pytest_tokenbudget import count_messages
    def chat(client, turns):
        messages = []
        for text in turns:
            messages.append({"role": "user", "content": text})
            while count_messages(messages, "gpt-4o").input_tokens > 50_000:
                messages.pop(0)
            client.chat.completions.create(model="gpt-4o", messages=messages)
    """,
    # Rebuilt each iteration.
    """
    def label(client, rows):
        for row in rows:
            messages = [{"role": "system", "content": "Label the row."}]
            messages.append({"role": "user", "content": row})
            client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    """,
    # Grows in the loop but sent once afterwards.
    """
    def summarize(client, docs):
        messages = [{"role": "system", "content": "Summarize."}]
        for d in docs:
            messages.append({"role": "user", "content": d})
        return client.chat.completions.create(model="gpt-4o", messages=messages)
    """,
    # A summarizer on the path.
    """
    class Bot:
        def __init__(self, client):
            self.client = client
            self.messages = []
        def ask(self, text):
            self.messages.append({"role": "user", "content": text})
            self.messages = summarize_old_turns(self.messages)
            return self.client.chat.completions.create(model="gpt-4o", messages=self.messages)
    """,
    # Class with a trimming method.
    """
    class Chat:
        def __init__(self):
            self.history = []
        def _trim_history(self):
            while len(self.history) > 40:
                self.history.pop(0)
        def send(self, client, text):
            self.history.append({"role": "user", "content": text})
            self._trim_history()
            return client.messages.create(model="claude-sonnet-4-5", max_tokens=1024, messages=self.history)
    """,
    # Streamlit app sending the last few turns only.
    """
    import streamlit as st
    if "messages" not in st.session_state:
        st.session_state.messages = []
    if prompt := st.chat_input():
        st.session_state.messages.append({"role": "user", "content": prompt})
        window = st.session_state.messages[-8:]
        reply = client.chat.completions.create(model="gpt-4o", messages=window)
    """,
    # A deque with maxlen.
    """
    from collections import deque
    def chat(client):
        history = deque(maxlen=20)
        while True:
            history.append({"role": "user", "content": input()})
            client.chat.completions.create(model="gpt-4o", messages=list(history))
    """,
    # Started anew after every exchange, by a reset method called each time.
    """
    from typing import List
    class Session:
        def __init__(self, client, assistant):
            self.client = client
            self.assistant = assistant
            self.messages: List[dict] = assistant.init_messages()
        def _reset(self):
            self.messages = self.assistant.init_messages()
        def process(self, text):
            self.messages = self.messages + [{"role": "user", "content": text}]
            reply = self.client.chat.completions.create(model="gpt-4o", messages=self.messages, max_tokens=300)
            self._reset()
            return reply
    """,
    # A copy of the kept conversation is grown and sent: the stored one stays as it was.
    """
    class AgentManager:
        def __init__(self, client):
            self.client = client
            self.agents = {}
        def message_agent(self, key, message):
            messages = list(self.agents[key])
            messages.append({"role": "user", "content": message})
            return self.client.chat.completions.create(model="gpt-4o", messages=messages, max_tokens=300)
    """,
    # The kept conversation is cut to its last turns before it is sent.
    """
    class AgentManager:
        def __init__(self, client):
            self.client = client
            self.agents = {}
        def message_agent(self, key, message):
            messages = self.agents[key]
            messages.append({"role": "user", "content": message})
            del messages[:-20]
            return self.client.chat.completions.create(model="gpt-4o", messages=messages, max_tokens=300)
    """,
    # Only the last few steps are joined into the prompt.
    """
    def decide(client, prompt):
        return client.chat.completions.create(model="gpt-4o", max_tokens=300,
                                              messages=[{"role": "user", "content": prompt}])
    def run(client, question):
        previous_responses = []
        while True:
            curr_prompt = TEMPLATE.format(question=question, steps="\\n".join(previous_responses[-3:]))
            step = decide(client, curr_prompt)
            previous_responses.append(step)
    """,
    # Steps joined into a prompt only once, after the loop.
    """
    def decide(client, prompt):
        return client.chat.completions.create(model="gpt-4o", max_tokens=300,
                                              messages=[{"role": "user", "content": prompt}])
    def report(client, steps_done):
        steps = []
        for step in steps_done:
            steps.append(step)
        return decide(client, "Summarize:\\n" + "\\n".join(steps))
    """,
    # Each chat's conversation is cut to its last turns.
    """
    class Bot:
        def __init__(self, client):
            self.client = client
            self.histories = {}
        def on_message(self, chat_id, text):
            self.histories.setdefault(chat_id, []).append({"role": "user", "content": text})
            self.histories[chat_id] = self.histories[chat_id][-20:]
            return self.client.chat.completions.create(model="gpt-4o", messages=self.histories[chat_id], max_tokens=300)
    """,
    """
    from collections import defaultdict
    histories = defaultdict(list)
    def on_message(client, chat_id, text):
        histories[chat_id].append({"role": "user", "content": text})
        if len(histories[chat_id]) > 20:
            histories[chat_id].pop(0)
        return client.chat.completions.create(model="gpt-4o", messages=histories[chat_id], max_tokens=300)
    """,
    # A wrapped sender given a list rebuilt on every turn.
    """
    from openai import OpenAI
    client = OpenAI()
    def commit(messages, config):
        return client.chat.completions.create(model="gpt-4o", messages=messages, max_tokens=300)
    send = retry(commit, times=3)
    def loop(tasks):
        for task in tasks:
            messages = [{"role": "user", "content": task}]
            reply = send(messages, {})
            messages.append({"role": "assistant", "content": reply})
    """,
    # A results list that grows, not a history.
    """
    def run(client, prompts):
        results = []
        for p in prompts:
            results.append(client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": p}]))
        return results
    """,
    # A trimming helper wraps the list at the call.
    """
    def chat(client):
        messages = []
        while True:
            messages.append({"role": "user", "content": input()})
            client.chat.completions.create(model="gpt-4o", messages=trim_to_budget(messages, 8000))
    """,
    # Reset after each exchange.
    """
    def agent(client, tasks):
        conversation = []
        for task in tasks:
            conversation.append({"role": "user", "content": task})
            client.chat.completions.create(model="gpt-4o", messages=conversation)
            conversation.clear()
    """,
]

INVALID = [
    # A REPL that starts the list when there is none and takes back what the sender returns:
    # neither bounds it (chatblade's start_repl).
    """
    def fetch(client, messages):
        reply = client.chat.completions.create(model="gpt-4o", messages=messages, max_tokens=300)
        messages.append({"role": "assistant", "content": reply.choices[0].message.content})
        return messages
    def repl(client, messages):
        while True:
            query = input("> ")
            if not messages:
                messages = [{"role": "user", "content": query}]
            else:
                messages.append({"role": "user", "content": query})
            messages = fetch(client, messages)
    """,
    # Taking back the last turn (a re-run) does not bound what the next turns add.
    """
    class Session:
        def __init__(self, client):
            self.client = client
            self.messages = [{"role": "system", "content": "Be brief."}]
        def rerun(self):
            self.messages = self.messages[:-1]
        def ask(self, text):
            self.messages = self.messages + [{"role": "user", "content": text}]
            reply = self.client.chat.completions.create(model="gpt-4o", messages=self.messages, max_tokens=300)
            self.messages = self.messages + [{"role": "assistant", "content": reply.choices[0].message.content}]
    """,
    # Sent through a copy taken just before the call: the copy is as long as the history.
    """
    from litellm import completion
    class Client:
        def __init__(self):
            self.conversation = [{"role": "system", "content": "Write a script."}]
        def ask(self, text):
            self.conversation.append({"role": "user", "content": text})
            messages = self.conversation.copy()
            reply = completion(model="gpt-4o", messages=messages, max_tokens=500)
            self.conversation.append({"role": "assistant", "content": reply.choices[0].message.content})
            return reply
    """,
    """
    from openai import OpenAI
    client = OpenAI()
    messages = [{"role": "system", "content": "You are helpful."}]
    while True:
        messages.append({"role": "user", "content": input("You: ")})
        reply = client.chat.completions.create(model="gpt-4o", messages=messages)
        messages.append({"role": "assistant", "content": reply.choices[0].message.content})
    """,
    """
    def chat(client):
        history = []
        while True:
            user = input("> ")
            if user == "quit":
                break
            history.append({"role": "user", "content": user})
            resp = client.messages.create(model="claude-sonnet-4-5", max_tokens=1024, messages=history)
            history.append({"role": "assistant", "content": resp.content[0].text})
    """,
    """
    def run_agent(client, task, tools):
        messages = [{"role": "user", "content": task}]
        for _ in range(50):
            resp = client.chat.completions.create(model="gpt-4o", messages=messages, tools=tools)
            msg = resp.choices[0].message
            messages.append(msg)
            for call in msg.tool_calls or []:
                messages.append({"role": "tool", "tool_call_id": call.id, "content": run_tool(call)})
    """,
    """
    class ChatSession:
        def __init__(self, client):
            self.client = client
            self.messages = []
        def ask(self, text):
            self.messages.append({"role": "user", "content": text})
            resp = self.client.chat.completions.create(model="gpt-4o-mini", messages=self.messages)
            self.messages.append(resp.choices[0].message)
            return resp
    """,
    """
    import streamlit as st
    from openai import OpenAI
    client = OpenAI()
    if "messages" not in st.session_state:
        st.session_state["messages"] = []
    if prompt := st.chat_input("Say something"):
        st.session_state.messages.append({"role": "user", "content": prompt})
        stream = client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": m["role"], "content": m["content"]} for m in st.session_state.messages],
            stream=True,
        )
    """,
    """
    chat_history = []
    def answer(client, question):
        chat_history.append({"role": "user", "content": question})
        out = client.chat.completions.create(model="gpt-4o", messages=chat_history)
        chat_history.append({"role": "assistant", "content": out.choices[0].message.content})
        return out
    """,
    """
    def get_completion(messages):
        return client.chat.completions.create(model="gpt-4o", messages=messages)
    def main():
        conversation = [{"role": "system", "content": "You are a tutor."}]
        while True:
            conversation.append({"role": "user", "content": input()})
            reply = get_completion(conversation)
            conversation.append({"role": "assistant", "content": reply.choices[0].message.content})
    """,
    """
    async def loop(client):
        msgs = []
        while True:
            msgs += [{"role": "user", "content": await read_line()}]
            r = await client.chat.completions.create(model="gpt-4.1", messages=msgs)
            msgs += [{"role": "assistant", "content": r.choices[0].message.content}]
    """,
    """
    def repl(llm):
        history = []
        while True:
            history.append(("human", input()))
            answer = llm.invoke(history)
            history.append(("ai", answer.content))
    """,
    """
    class Assistant:
        system = "You are concise."
        def __init__(self, client):
            self.client = client
            self.history = []
        def reply(self, text):
            self.history.extend([{"role": "user", "content": text}])
            return self.client.messages.create(model="claude-3-5-haiku-latest", max_tokens=512,
                                               system=self.system, messages=self.history)
    """,
    """
    def chat(client, system):
        messages = []
        while True:
            messages.append({"role": "user", "content": input()})
            out = client.chat.completions.create(model="gpt-4o", messages=[{"role": "system", "content": system}] + messages)
            messages.append({"role": "assistant", "content": out.choices[0].message.content})
    """,
    """
    def chat(client):
        input_items = []
        while True:
            input_items.append({"role": "user", "content": input()})
            response = client.responses.create(model="gpt-4.1", input=input_items)
            input_items += response.output
    """,
    # Grown by `x = x + [...]` only (no append / += in the file).
    """
    def chat(client):
        messages = []
        while True:
            messages = messages + [{"role": "user", "content": input()}]
            reply = client.chat.completions.create(model="gpt-4o", messages=messages)
            print(reply)
    """,
    # A multi-line growth: the role is in a comment, the name says nothing.
    """
    def chat(llm):
        items = []
        while True:
            items.append(
                make_turn(input())  # {"role": "user", ...}
            )
            llm.invoke(list(items))
    """,
    # Sent through a module-level wrapper made by combinators (`retry(pipeline(commit, ...))`),
    # from a tool loop in a decorator's nested function (devchat's chat_tools).
    """
    from openai import OpenAI
    client = OpenAI()
    def retry(func, times):
        def wrapper(*args, **kwargs):
            return func(*args, **kwargs)
        return wrapper
    def commit(messages, config):
        return client.chat.completions.create(model="gpt-4o", messages=messages, max_tokens=300)
    send = retry(commit, times=3)
    def tools(prompt):
        def decorator(func):
            def wrapper(*args, **kwargs):
                messages = [{"role": "user", "content": prompt}]
                while True:
                    reply = send(messages, {})
                    messages.append({"role": "assistant", "content": reply})
            return wrapper
        return decorator
    """,
    # Declared a list, started by a call; starting it anew on the user's `:clear` bounds nothing
    # (gpt-command-line's ChatSession).
    """
    from typing import List
    class Session:
        def __init__(self, client, assistant):
            self.client = client
            self.assistant = assistant
            self.messages: List[dict] = assistant.init_messages()
        def _clear(self):
            self.messages = self.assistant.init_messages()
        def process(self, text):
            if text == ":clear":
                self._clear()
                return
            self.messages = self.messages + [{"role": "user", "content": text}]
            reply = self.client.chat.completions.create(model="gpt-4o", messages=self.messages, max_tokens=300)
            self.messages = self.messages + [{"role": "assistant", "content": reply.choices[0].message.content}]
    """,
    # A conversation the object keeps per key (Auto-GPT's AgentManager): each call of the method
    # adds to the stored list and sends it whole.
    """
    class AgentManager:
        def __init__(self, client):
            self.client = client
            self.agents = {}
        def create(self, key, task):
            self.agents[key] = (task, [{"role": "user", "content": task}])
        def message_agent(self, key, message):
            task, messages = self.agents[key]
            messages.append({"role": "user", "content": message})
            reply = self.client.chat.completions.create(model="gpt-4o", messages=messages, max_tokens=300)
            messages.append({"role": "assistant", "content": reply.choices[0].message.content})
            return reply
    """,
    # An agent's scratchpad: every step (with its tool's output) joined into the prompt sent on
    # the next loop (llm_agents' Agent.run).
    """
    def decide(client, prompt):
        return client.chat.completions.create(model="gpt-4o", max_tokens=300,
                                              messages=[{"role": "user", "content": prompt}])
    def run(client, question, max_loops=15):
        previous_responses = []
        loops = 0
        while loops < max_loops:
            loops += 1
            curr_prompt = TEMPLATE.format(question=question, steps="\\n".join(previous_responses))
            step = decide(client, curr_prompt)
            previous_responses.append(step + use_tool(step))
    """,
    # One conversation per chat, kept by the bot (or at module level) and never trimmed.
    """
    from collections import defaultdict
    class Bot:
        def __init__(self, client):
            self.client = client
            self.histories = {}
        def on_message(self, chat_id, text):
            self.histories.setdefault(chat_id, []).append({"role": "user", "content": text})
            reply = self.client.chat.completions.create(model="gpt-4o", messages=self.histories[chat_id], max_tokens=300)
            self.histories[chat_id].append({"role": "assistant", "content": reply.choices[0].message.content})
            return reply
    """,
    """
    from collections import defaultdict
    histories = defaultdict(list)
    def on_message(client, chat_id, text):
        histories[chat_id].append({"role": "user", "content": text})
        return client.chat.completions.create(model="gpt-4o", messages=histories[chat_id], max_tokens=300)
    """,
    # Grown through a string-keyed subscript, sent through a local sender.
    """
    import streamlit as st
    def send(client, conversation_items):
        return client.chat.completions.create(model="gpt-4o", messages=conversation_items)
    st.session_state["log"].append({"role": "user", "content": st.chat_input()})
    send(client, st.session_state["log"])
    """,
]


class UnboundedHistory(Rule):
    """
    ## What it does
    A messages list that grows (`append`, `extend`, `insert`, `+=`) across the iterations of a
    loop, the turns of a `while` chat loop, the reruns of a Streamlit script (`st.session_state`),
    or the calls of an object (`self.messages`) or module (a global list), and that is passed whole
    to the model on each call, with no trimming anywhere on its path: no slicing, popping, deleting,
    clearing, token-count check, length check or summarizer.

    ## Why is this bad?
    Every turn re-sends every earlier turn, so input tokens (and cost) grow quadratically with
    the length of the conversation, and the request eventually passes the context window: the
    chat that worked in the demo fails with a 400 in the long session of your best user, after
    having been the most expensive session of the day.

    ## Example
    ```python
    messages = [{"role": "system", "content": SYSTEM}]
    while True:
        messages.append({"role": "user", "content": input("> ")})
        reply = client.chat.completions.create(model="gpt-4o", messages=messages)   # TB401
        messages.append(reply.choices[0].message)
    ```

    ## Fix
    Bound what is sent, by tokens:
    ```python
    from pytest_tokenbudget import count_messages
    while count_messages(messages, "gpt-4o").input_tokens > 100_000:
        del messages[1]          # drop the oldest turn, keep the system prompt
    ```
    or summarize old turns, or send `messages[:1] + messages[-20:]`.

    ## Not a finding
    Lists rebuilt on each iteration, lists trimmed or checked (`messages.pop(1)`,
    `del messages[1:3]`, `messages = messages[-20:]`, `if count_tokens(messages) > N`,
    `if len(messages) > N`, `trim_messages(messages)`, `deque(maxlen=N)`), slices sent instead of the
    whole list, and lists that grow but are only sent once, after the loop.
    """

    code = CODE
    name = NAME
    message = "a message history that grows without a bound and is sent whole on every call"
    # A list that grows (`append` / `extend` / `insert`, maybe spaced or split over lines,
    # `+=`, or `x = x + [...]`: hence the bare `+`) in a file that sends to a model.
    # SENDS_TRIGGER first: rarer, and already searched for TB203 in the same file.
    triggers = ((SENDS_TRIGGER, r"append|extend|insert|\+"),)
    ast_may_report = staticmethod(_ast_may_report)
    VALID = [textwrap.dedent(example) for example in VALID]
    INVALID = [textwrap.dedent(example) for example in INVALID]

    def finish(self) -> None:
        for node, message in find(index_module(self.context.module)):
            self.report(node, message)
