"""TB401: a message history that grows without a bound and is sent whole on every call.

The rule's documentation is the docstring of UnboundedHistory below (`tokenbudget rule TB401`).
"""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Iterator

from checker.rule import Rule

from ._index import (
    FUNCTIONS,
    LOOPS,
    ModuleIndex,
    children_of,
    has_word,
    iter_nodes,
    keyword_arg,
    last_name,
    string_value,
)
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
_CONTAINER_CALLS = ("dict", "defaultdict", "list", "OrderedDict")


def path(expr: ast.AST | None) -> str | None:
    """`messages`, `self.messages`, `st.session_state.messages` (also written
    `st.session_state["messages"]`)."""
    if isinstance(expr, ast.Name):
        return expr.id
    if isinstance(expr, ast.Attribute):
        base = path(expr.value)
        return f"{base}.{expr.attr}" if base is not None else None
    if isinstance(expr, ast.Subscript):
        index = expr.slice
        if isinstance(index, ast.Tuple):
            # `x["k",]` is one subscript element (keyed by "k"), `x[("k",)]` one tuple: only the
            # first starts where its element does.
            if len(index.elts) != 1 or (index.lineno, index.col_offset) != (index.elts[0].lineno, index.elts[0].col_offset):
                return None
            index = index.elts[0]
        elif isinstance(index, ast.Slice):
            return None
        key = string_value(index)
        base = path(expr.value)
        if key is not None and base is not None:
            return f"{base}.{key}"
        if base is not None and isinstance(index, (ast.Name, ast.Attribute, ast.Call)) and "[]" not in base:
            return f"{base}[]"  # `self.histories[chat_id]`: one list per key (`_keyed_region`)
        return None
    if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and \
            expr.func.attr == "setdefault" and (expr.args or expr.keywords):
        base = path(expr.func.value)
        return f"{base}[]" if base is not None and "[]" not in base else None
    return None


class _Identifier:
    """A reference that is an identifier held as a string by ``owner`` (`x.messages`'s attribute,
    a keyword argument's or a parameter's name, a `def` / `global` / `import` name): what
    `_references` of a plain name also finds. Walking up from it starts at ``owner``."""

    __slots__ = ("owner",)

    def __init__(self, owner: ast.AST) -> None:
        self.owner = owner


def _identifiers_of(node: ast.AST) -> tuple[str, ...]:
    """The identifiers ``node`` holds as strings (each a name in a concrete syntax tree)."""
    kind = type(node)
    if kind is ast.Attribute:
        return (node.attr,)
    if kind is ast.keyword or kind is ast.arg:
        return (node.arg,) if node.arg else ()
    if kind in (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef):
        return (node.name,)
    if kind is ast.alias:
        return (*node.name.split("."), *((node.asname,) if node.asname else ()))
    if kind is ast.ImportFrom:
        return tuple(node.module.split(".")) if node.module else ()
    if kind in (ast.Global, ast.Nonlocal):
        return tuple(node.names)
    if kind is ast.ExceptHandler or kind is ast.MatchAs or kind is ast.MatchStar:
        return (node.name,) if node.name else ()
    if kind is ast.MatchMapping:
        return (node.rest,) if node.rest else ()
    if kind is ast.MatchClass:
        return tuple(node.kwd_attrs)
    return ()


def _references(node: ast.AST | list | None, name: str) -> list:
    """The outermost expressions under ``node`` (a node or a statement list) that denote `name`
    (`self.messages`, not its inner `self`); for a plain name also the identifiers equal to it
    (`_Identifier`), as a concrete tree holds them as names."""
    if node is None:
        return []
    found: list = []
    stack = list(reversed(node)) if isinstance(node, list) else [node]
    dotted_name = "." in name or "[" in name
    while stack:
        current = stack.pop()
        kind = type(current)
        if kind is ast.Name:
            if current.id == name:
                found.append(current)
            continue
        if dotted_name:
            if kind in (ast.Attribute, ast.Subscript, ast.Call) and path(current) == name:
                found.append(current)
                continue
        elif name in _identifiers_of(current):
            found.append(_Identifier(current))
        stack.extend(reversed(children_of(current)))
    return found


def _mentions(node: ast.AST | list | None, name: str) -> bool:
    return bool(_references(node, name))


def _climb(ref, index: ModuleIndex):
    """(the node walked up from, the ancestors above it) for a `_references` result."""
    if isinstance(ref, _Identifier):
        owner = ref.owner
        return ref, _with_first(owner, index.ancestors(owner))
    return ref, index.ancestors(ref)


def _with_first(first, rest):
    yield first
    yield from rest


def _arguments(call: ast.Call) -> list[tuple[ast.AST, ast.AST]]:
    """(argument, its value) for each argument of ``call`` in source order: a positional value is
    its own argument, `*x` is the Starred, a keyword (and `**x`) its `ast.keyword`."""
    out: list[tuple[ast.AST, ast.AST]] = [(a, a.value if isinstance(a, ast.Starred) else a) for a in call.args]
    out.extend((k, k.value) for k in call.keywords)
    if call.keywords and call.args:
        out.sort(key=lambda pair: (pair[0].lineno, pair[0].col_offset))
    return out


def _argument_count(call: ast.Call) -> int:
    return len(call.args) + len(call.keywords)


def _single_value(call: ast.Call) -> ast.AST | None:
    """The value of the first argument (a Starred's value) when ``call`` has exactly one."""
    if _argument_count(call) != 1:
        return None
    return _arguments(call)[0][1]


def _in_body(function: ast.AST, node: ast.AST, index: ModuleIndex) -> bool:
    """Whether ``node`` is in the body of ``function`` (not its decorators, defaults or annotations)."""
    return any(index.contains(statement, node) for statement in function.body)


class _History:
    def __init__(self, name: str) -> None:
        self.name = name
        self.grows: list[ast.AST] = []


def _is_list_growth(value: ast.AST | None) -> bool:
    # A concrete tree's Name also covers True / False / None.
    return isinstance(value, (ast.List, ast.ListComp, ast.Name, ast.Attribute, ast.Call, ast.Subscript)) or (
        isinstance(value, ast.Constant) and (value.value is None or isinstance(value.value, bool)))


def _collect_growth(index: ModuleIndex) -> dict[str, _History]:
    histories: dict[str, _History] = {}
    for call in index.calls:
        if isinstance(call.func, ast.Attribute) and call.func.attr in _GROW_METHODS:
            name = path(call.func.value)
            if name:
                histories.setdefault(name, _History(name)).grows.append(call)
    for a in index.assignments:
        if a.augmented and isinstance(a.node, ast.AugAssign) and isinstance(a.node.op, ast.Add):
            name = path(a.node.target)
            if name and _is_list_growth(a.node.value):
                histories.setdefault(name, _History(name)).grows.append(a.node)
        elif isinstance(a.node, ast.Assign) and isinstance(a.value, ast.BinOp) and \
                isinstance(a.value.op, ast.Add) and path(a.value.left) == a.target and \
                _is_list_growth(a.value.right):
            histories.setdefault(a.target, _History(a.target)).grows.append(a.node)
    return histories


class _Module:
    """What `find` asks more than once about the module: its senders, and the joined lists."""

    def __init__(self, index: ModuleIndex) -> None:
        self.index = index
        self.senders = _local_senders(index)
        self.joined: dict[str, bool] = {}

    def is_joined(self, name: str) -> bool:
        """`sep.join(name)` somewhere in the module: the list's items are put together as text."""
        found = self.joined.get(name)
        if found is None:
            found = self.joined[name] = any(
                isinstance(c.func, ast.Attribute) and c.func.attr == "join" and _argument_count(c) == 1
                and path(_single_value(c)) == name for c in self.index.calls)
        return found


def _is_conversation(history: _History, sends: list[ast.Call], module: _Module) -> bool:
    """Its name says it holds a conversation, it grows by role-tagged messages, or it is what a
    request's `messages=` / `input=` / `contents=` is built from."""
    index = module.index
    if has_word(history.name.split(".")[-1], _HISTORY_WORDS):
        return True
    for grow in history.grows:
        code = index.code(grow)
        if '"role"' in code or "'role'" in code:
            return True
    # Steps or replies put together into the prompt (an agent's scratchpad): found below only
    # when the text is sent whole.
    if module.is_joined(history.name):
        return True
    for call in sends:
        for keyword in call.keywords:
            if keyword.arg in {"messages", "input", "contents"} and _mentions(keyword.value, history.name):
                return True
    return False


def _local_senders(index: ModuleIndex) -> set[str]:
    """Functions of this module that send one of their parameters to a model: calling them is
    sending (`def chat(messages): return client.chat.completions.create(messages=messages)`)."""
    senders: set[str] = set()
    by_function: dict[int, list[ast.Call]] = {}
    for call in index.calls:
        scope = index.scope_of(call)
        if scope is not index.module:
            by_function.setdefault(id(scope), []).append(call)
    for function in index.functions:
        params = {p.arg for p in function.args.args}
        for call in by_function.get(id(function), ()):
            if _in_body(function, call, index) and is_llm_call(call, index) and any(
                    _mentions(value, p) for _, value in _arguments(call) for p in params):
                senders.add(function.name)
                break
    # `send = retry(pipeline(commit, parse), times=3)` at module level sends as `commit` does.
    for a in index.assignments:
        if a.scope is index.module and not a.augmented and "." not in a.target and \
                _wrapped_name(a.value) in senders:
            senders.add(a.target)
    return senders


def _wrapped_name(value: ast.AST | None) -> str | None:
    """`commit` for `retry(pipeline(commit, parse), times=3)`: the function a chain of wrapping
    calls holds as its first positional argument (checker.summaries._wrapped_function)."""
    for _ in range(4):
        if not isinstance(value, ast.Call) or not value.args or isinstance(value.args[0], ast.Starred):
            return None
        value = value.args[0]
        if isinstance(value, ast.Name):
            return value.id
    return None


def _sends(index: ModuleIndex, senders: set[str]) -> list[ast.Call]:
    return [call for call in index.calls if is_llm_call(call, index) or last_name(call.func) in senders]


def _whole_reference(call: ast.Call, name: str, index: ModuleIndex) -> bool:
    """Is `name` passed to `call` as the whole list (not a slice, not through a helper that may
    trim it)?"""
    for _, value in _arguments(call):
        for ref in _references(value, name):
            if _is_whole(ref, value, index):
                return True
    return False


def _is_whole(ref, value: ast.AST, index: ModuleIndex) -> bool:
    """Whether the walk up from ``ref`` reaches the argument's ``value`` through whole-list
    wrappers only."""
    child, ancestors = _climb(ref, index)
    if child is value:
        return True
    for ancestor in ancestors:
        if isinstance(ancestor, ast.Subscript) and ancestor.value is child:
            return False  # messages[-10:] or messages[0]
        if isinstance(ancestor, ast.Attribute) and ancestor.value is child:
            return False  # other attributes are not the list
        if isinstance(ancestor, ast.Call):
            if last_name(ancestor.func) not in _WHOLE_WRAPPERS and not (
                    isinstance(ancestor.func, ast.Attribute) and ancestor.func.attr == "copy") \
                    and not _keeps_text_whole(ancestor, child):
                return False
        child = ancestor
        if child is value:
            return True
    return False


# Text made of the whole list: `"\n".join(steps)`, then put in a template or trimmed of blanks.
_TEXT_METHODS = {"format", "strip", "lstrip", "rstrip", "replace"}


def _keeps_text_whole(call: ast.Call, child) -> bool:
    """`sep.join(<child>)`, or a string method / `str.format` applied to text holding it:
    everything the list holds is in the result. ``child``: the call's func or one of its
    arguments (`_arguments`)."""
    func = call.func
    if not isinstance(func, ast.Attribute):
        return False
    if func.attr == "join":
        return _argument_count(call) == 1 and _arguments(call)[0][0] is child
    return func.attr in _TEXT_METHODS and (func is child or any(a is child for a, _ in _arguments(call)))


def _trimmed_in(region: ast.AST, name: str, module: _Module, *, fresh_resets: bool) -> bool:
    """Anything in `region` that bounds `name`."""
    index = module.index
    for call in index.calls_in(region):
        func = call.func
        if isinstance(func, ast.Attribute) and path(func.value) == name and func.attr in _TRIM_METHODS:
            return True
        if any(_mentions(value, name) for _, value in _arguments(call)) and \
                has_word(last_name(func), _TRIM_WORDS):
            return True
        if last_name(func) == "deque" and keyword_arg(call, "maxlen") is not None:
            return True
    for a in index.assignments:
        if not isinstance(a.node, ast.Assign) or not index.contains(region, a.node):
            continue
        for target in a.node.targets:
            if isinstance(target, ast.Subscript) and path(target.value) == name:
                return True  # messages[:] = ...
        # a.target also names the parts of `prompt, history = build(...)`
        if a.target == name and not (isinstance(a.value, ast.BinOp) and path(a.value.left) == name) \
                and not _drops_last(a.value, name) and not _started_when_empty(a.node, name, index) \
                and not (isinstance(a.value, ast.Call) and _sends_and_returns(a.value, module)):
            if fresh_resets or _mentions(a.value, name):
                return True
    if name.endswith("[]") and _keyed_assignment_trims(region, name, fresh_resets):
        return True
    for node in _dels_and_tests(region):
        if isinstance(node, ast.Delete):
            if _mentions(node, name):
                return True
        elif _len_check(node, name):
            return True
    return False


def _keyed_assignment_trims(region: ast.AST, name: str, fresh_resets: bool) -> bool:
    """`self.histories[chat_id] = self.histories[chat_id][-10:]` (the index keeps no assignment
    to a variable key): a new value made from the old bounds it, a fresh one only ``fresh_resets``."""
    for node in iter_nodes(region):
        if type(node) is ast.Assign and any(path(t) == name for t in node.targets):
            value = node.value
            if isinstance(value, ast.BinOp) and path(value.left) == name or _drops_last(value, name):
                continue
            if fresh_resets or _mentions(value, name):
                return True
    return False


def _sends_and_returns(call: ast.Call, module: _Module) -> bool:
    """`messages = fetch_and_cache(messages, params)`: what a sending call returns is the list it
    sent, grown by the reply, not a cut of it."""
    return is_llm_call(call, module.index) or last_name(call.func) in module.senders


def _started_when_empty(node: ast.AST, name: str, index: ModuleIndex) -> bool:
    """`if not messages: messages = start(query)`: the list is only begun when there is none,
    which bounds nothing."""
    parent = index.parent(node)
    while parent is not None and not isinstance(parent, (ast.If, *FUNCTIONS, ast.ClassDef, ast.Module)):
        parent = index.parent(parent)
    if not isinstance(parent, ast.If) or not any(index.contains(s, node) for s in parent.body):
        return False
    test = parent.test
    return isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not) and path(test.operand) == name


def _drops_last(value: ast.AST | None, name: str) -> bool:
    """`messages[:-1]`: takes back the last turn (a rollback, a re-run), which bounds nothing."""
    if not (isinstance(value, ast.Subscript) and isinstance(value.slice, ast.Slice) and path(value.value) == name):
        return False
    part = value.slice
    return part.lower is None and part.step is None and isinstance(part.upper, ast.UnaryOp) and \
        isinstance(part.upper.op, ast.USub) and isinstance(part.upper.operand, ast.Constant) and \
        type(part.upper.operand.value) is int


def _dels_and_tests(region: ast.AST) -> list[ast.AST]:
    found: list[ast.AST] = []
    for n in iter_nodes(region):
        if type(n) is ast.Delete:
            found.append(n)
        elif type(n) in (ast.If, ast.While):
            found.append(n.test)
    return found


def _len_check(test: ast.AST, name: str) -> bool:
    """`len(messages) > N`, `count_tokens(messages) > N`: the code looks at the size."""
    for comparison in iter_nodes(test):
        if type(comparison) is ast.Compare:
            for operand in (comparison.left, *comparison.comparators):
                if isinstance(operand, ast.Call) and _mentions(operand, name):
                    return True
    return False


# A loop of at most this many turns keeps a conversation small (a two-agent chat of 8 rounds):
# the history is bounded by the loop, not left to grow.
_FEW_TURNS = 10


def _few_turns(loop: ast.AST, scope: ast.AST) -> bool:
    """`for i in range(8)`, or `range(rounds)` with `rounds: int = 8` a parameter of the function."""
    if not (isinstance(loop, (ast.For, ast.AsyncFor)) and isinstance(loop.iter, ast.Call)
            and last_name(loop.iter.func) == "range" and _argument_count(loop.iter) == 1):
        return False
    bound = _single_value(loop.iter)
    if isinstance(bound, ast.Name) and isinstance(scope, FUNCTIONS):
        bound = next((default for param, default in _param_defaults(scope.args)
                      if param.arg == bound.id and default is not None), bound)
    return isinstance(bound, ast.Constant) and type(bound.value) is int and bound.value <= _FEW_TURNS


def _param_defaults(arguments: ast.arguments):
    """(parameter, default or None) for the plain and keyword-only parameters."""
    positional = [*arguments.posonlyargs, *arguments.args]
    first = len(positional) - len(arguments.defaults)
    for i, param in enumerate(arguments.args, start=len(arguments.posonlyargs)):
        yield param, arguments.defaults[i - first] if i >= first else None
    yield from zip(arguments.kwonlyargs, arguments.kw_defaults)


def _loops_between(node: ast.AST, scope: ast.AST, index: ModuleIndex) -> list[ast.AST]:
    out = []
    for ancestor in index.ancestors(node):
        if ancestor is scope:
            break
        if isinstance(ancestor, LOOPS):
            out.append(ancestor)
    return out


def find(index: ModuleIndex) -> Iterator[tuple[ast.Call, str]]:
    histories = _collect_growth(index)
    if not histories:
        return
    module = _Module(index)
    sends = _sends(index, module.senders)
    if not sends:
        return
    reported: set[int] = set()
    for name, history in histories.items():
        if not _is_conversation(history, sends, module):
            continue
        snapshots = _snapshots(name, module)
        for call in sends:
            if id(call) in reported or not (_whole_reference(call, name, index) or any(
                    scope is index.scope_of(call) and _whole_reference(call, local, index)
                    and not _trimmed_in(scope, local, module, fresh_resets=False)
                    for local, scope in snapshots)):
                continue
            region = _growth_region(call, history, module)
            if region is None:
                continue
            reported.add(id(call))
            yield call, (f"`{name.replace('[]', '[...]')}` grows on every turn and is sent whole to {sent_to(call)} with no trimming: "
                         "input "
                         "tokens grow with the conversation until the request passes the context window. "
                         "Bound it by tokens (pytest_tokenbudget.count_messages), drop or summarize old turns, "
                         "or send a slice.")


def _snapshot_of(value: ast.AST | None, name: str) -> bool:
    """`name.copy()`, `list(name)`, `copy.deepcopy(name)`, `name[:]`: the whole list, as sent."""
    if isinstance(value, ast.Call):
        func = value.func
        if isinstance(func, ast.Attribute) and func.attr == "copy" and not _argument_count(value):
            return path(func.value) == name
        return last_name(func) in _WHOLE_WRAPPERS and _argument_count(value) == 1 and path(_single_value(value)) == name
    if isinstance(value, ast.Subscript) and isinstance(value.slice, ast.Slice):
        whole = value.slice
        return whole.lower is None and whole.upper is None and whole.step is None and path(value.value) == name
    return False


def _snapshots(name: str, module: _Module) -> list[tuple[str, object]]:
    """Locals holding a copy of the whole history (`messages = self.conversation.copy()`), or a
    text made of all of it (`prompt = template.format(steps="\n".join(steps))`), with their
    scope: sending the copy sends the history."""
    index = module.index
    return [(a.target, a.scope) for a in index.assignments
            if not a.augmented and "." not in a.target and a.scope is not index.module
            and (_snapshot_of(a.value, name) or _joined_whole(a.value, name, module))]


def _joined_whole(value: ast.AST | None, name: str, module: _Module) -> bool:
    """Whether ``value`` is text holding all of `name`: a `sep.join(name)` reaching it through
    text methods, templates, f-strings and concatenation only (`_keeps_text_whole`)."""
    if value is None or not module.is_joined(name):
        return False
    for ref in _references(value, name):
        child, ancestors = _climb(ref, module.index)
        joined = False
        for ancestor in ancestors:
            if isinstance(ancestor, ast.Subscript) and ancestor.value is child:
                break
            if isinstance(ancestor, ast.Attribute) and ancestor.value is child and \
                    ancestor.attr not in _TEXT_METHODS:
                break
            if isinstance(ancestor, ast.Call):
                if not _keeps_text_whole(ancestor, child):
                    break
                joined = joined or last_name(ancestor.func) == "join"
            if ancestor is value:
                if joined:
                    return True
                break
            child = ancestor
    return False


def _growth_region(call: ast.Call, history: _History, module: _Module) -> ast.AST | None:
    """The region over which `history` accumulates between sends, if it is never bounded there."""
    index = module.index
    name = history.name
    scope = index.scope_of(call)
    if name.endswith("[]"):
        return _keyed_region(call, history, module)
    if name.startswith("self."):
        cls = index.enclosing(call, (ast.ClassDef,), stop_at_scope=False)
        if cls is None or not _initialised_as_list(name, cls, index):
            return None
        if not any(index.contains(cls, g) for g in history.grows):
            return None
        if _trimmed_in(cls, name, module, fresh_resets=False) or _class_has_trim_method(cls, name, index):
            return None
        return cls
    if "session_state" in name:
        if _trimmed_in(index.module, name, module, fresh_resets=False):
            return None
        return index.module
    # A local (or module-level) list grown in a loop that also sends it.
    for loop in _loops_between(call, scope, index):
        if _few_turns(loop, scope):
            continue
        grows = [g for g in history.grows if index.contains(loop, g) and index.scope_of(g) is scope]
        if grows and not _trimmed_in(loop, name, module, fresh_resets=True) and \
                not _trimmed_in(scope, name, module, fresh_resets=False):
            return loop
    # A list the object keeps by key (`task, messages, model = self.agents[key]`), grown and
    # sent by a method: it grows on every call of the method.
    if "." not in name and _held_by_instance(name, scope, index) and \
            any(index.scope_of(g) is scope for g in history.grows) and \
            not _trimmed_in(scope, name, module, fresh_resets=False):
        return scope
    # A module-level list grown and sent by functions: it grows on every call.
    if scope is not index.module and _module_list(name, index):
        if any(index.scope_of(g) is not index.module for g in history.grows) and \
                not _trimmed_in(index.module, name, module, fresh_resets=False) and \
                not _assigned_in_function(name, index):
            return index.module
    return None


def _keyed_region(call: ast.Call, history: _History, module: _Module) -> ast.AST | None:
    """`self.histories[chat_id].append(...)` / `histories[chat_id]` of a module-level dict: each
    key's list lives as long as the object (or the process) and grows on every call."""
    index = module.index
    name, base = history.name, history.name[:-2]
    if base.startswith("self."):
        cls = index.enclosing(call, (ast.ClassDef,), stop_at_scope=False)
        if cls is None or not _initialised_as_container(base, cls, index) or \
                not any(index.contains(cls, g) for g in history.grows):
            return None
        if _trimmed_in(cls, name, module, fresh_resets=False) or _class_has_trim_method(cls, name, index):
            return None
        return cls
    if index.scope_of(call) is index.module or not _initialised_as_container(base, index.module, index, scope=index.module):
        return None
    if any(index.scope_of(g) is not index.module for g in history.grows) and \
            not _trimmed_in(index.module, name, module, fresh_resets=False):
        return index.module
    return None


def _held_from(value: ast.AST | None) -> str | None:
    """`self.agents` for `self.agents[key]`, `self.agents.get(key)`, `self.agents.setdefault(key, [])`:
    the container an element is taken from itself (not a copy of it)."""
    if isinstance(value, ast.Subscript):
        base = value.value
    elif isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute) and \
            value.func.attr in ("get", "setdefault") and _argument_count(value):
        base = value.func.value
    else:
        return None
    found = path(base)
    return found if found is not None and found.startswith("self.") else None


def _held_by_instance(name: str, scope, index: ModuleIndex) -> bool:
    """Whether the method's local `name` is taken from a container the object keeps
    (`_held_from`), one the class starts as a dict or list."""
    if not isinstance(scope, FUNCTIONS):
        return False
    cls = index.enclosing(scope, (ast.ClassDef,), stop_at_scope=False)
    if cls is None:
        return False
    for a in index.assignments_to(name, scope):
        container = _held_from(a.value)
        if container is not None and _initialised_as_container(container, cls, index):
            return True
    return False


def _initialised_as_container(name: str, cls: ast.AST, index: ModuleIndex, scope=None) -> bool:
    """Whether ``name`` is assigned a dict or list in ``cls`` (in ``scope`` itself when given)."""
    for a in index.assignments:
        if a.target == name and not a.augmented and index.contains(cls, a.node) and \
                (scope is None or a.scope is scope) and (
                isinstance(a.value, (ast.Dict, ast.DictComp, ast.List, ast.ListComp))
                or isinstance(a.value, ast.Call) and last_name(a.value.func) in _CONTAINER_CALLS):
            return True
    return False


def _initialised_as_list(name: str, cls: ast.ClassDef, index: ModuleIndex) -> bool:
    for a in index.assignments:
        if a.target != name or not index.contains(cls, a.node):
            continue
        if isinstance(a.value, (ast.List, ast.ListComp)) or \
                isinstance(a.value, ast.Call) and last_name(a.value.func) == "list":
            return True
        # `self.messages: List[Message] = assistant.init_messages()`: declared a list.
        if isinstance(a.node, ast.AnnAssign) and _is_list_annotation(a.node.annotation):
            return True
    return False


def _is_list_annotation(annotation: ast.AST) -> bool:
    if isinstance(annotation, ast.Subscript):
        annotation = annotation.value
    return last_name(annotation) in ("list", "List")


def _class_has_trim_method(cls: ast.ClassDef, name: str, index: ModuleIndex) -> bool:
    for function in index.functions:
        if index.contains(cls, function) and has_word(function.name, _TRIM_WORDS) and \
                _mentions(function.body, name) and not (
                    _only_starts_afresh(function, name, index) and not _called_unconditionally(function, cls, index)):
            return True
    return False


def _only_starts_afresh(function: ast.AST, name: str, index: ModuleIndex) -> bool:
    """`def _clear(self): self.messages = self.assistant.init_messages()`: the method only
    starts the history anew (each reference to it is an assignment target of a value that does
    not read it)."""
    for ref in _references(function.body, name):
        if isinstance(ref, _Identifier):
            return False
        parent = index.parent(ref)
        if not (isinstance(parent, ast.Assign) and any(t is ref for t in parent.targets)
                and not _mentions(parent.value, name)):
            return False
    return True


def _called_unconditionally(function: ast.AST, cls: ast.ClassDef, index: ModuleIndex) -> bool:
    """A call `self.<method>()` in the class outside any `if`: a reset after every exchange
    bounds the history; one behind a user's `:clear` command does not."""
    method = function.name
    for call in index.calls:
        if isinstance(call.func, ast.Attribute) and call.func.attr == method and index.contains(cls, call) \
                and not index.contains(function, call):
            scope = index.scope_of(call)
            if not any(isinstance(a, (ast.If, ast.IfExp)) for a in _ancestors_until(call, scope, index)):
                return True
    return False


def _ancestors_until(node: ast.AST, scope, index: ModuleIndex) -> list[ast.AST]:
    out = []
    for ancestor in index.ancestors(node):
        if ancestor is scope:
            break
        out.append(ancestor)
    return out


def _module_list(name: str, index: ModuleIndex) -> bool:
    return any(isinstance(a.value, (ast.List, ast.ListComp)) for a in index.assignments_to(name, index.module))


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
    VALID = [textwrap.dedent(example) for example in VALID]
    INVALID = [textwrap.dedent(example) for example in INVALID]

    def finish(self) -> None:
        for node, message in find(self.context.index):
            self.report(node, message)
