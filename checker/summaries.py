"""Function summaries: which of the project's own functions send LLM requests, and how.

Apps rarely call the SDK where the mistake is: `app/llm.py` wraps `client.chat.completions.create`
and `app/chat.py` calls the wrapper. As interprocedural analyzers do (Pysa's models, CodeQL's flow
summaries), each function of a file is summarised once, from CPython's `ast` (cheap, no libcst):
what it calls, with which of its parameters, and whether it calls the SDK itself. The project
step then marks *sinks*: functions that send directly or through another sink (a few hops), with

- the parameter carrying the messages or prompt,
- whether the request has an output cap, forwards `**kwargs` (the caller must pass the cap), or
  neither,
- the model when it is a literal, and whether the function retries itself,
- where the request finally leaves (`app/llm.py:8`), for the diagnostics.

Summaries are plain tuples and dicts (marshal-able): they are computed in the worker processes
as a by-product of checking a file, and cached per file by content, so a one-file run uses the
summaries of the rest of the project from the cache.

Names of callees are paths as `checker.calls` writes them (`app.llm.Assistant().aask`), with two
markers the project step resolves: `<module>.` for the file's own top-level names and leading dots
for relative imports.
"""

from __future__ import annotations

import ast
import bisect
import dataclasses
import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Optional

LOCAL = "<module>"
_STDLIB = frozenset(getattr(sys, "stdlib_module_names", ())) | {"builtins", "openai", "anthropic", "litellm"}
MAX_HOPS = 4

# Keywords of an SDK request that carry what is sent.
_CONTENT_KEYWORDS = ("messages", "input", "prompt", "system", "contents")
_CAP_KEYWORDS = ("max_tokens", "max_completion_tokens", "max_output_tokens", "max_tokens_to_sample")
_RETRY_DECORATORS = ("retry", "on_exception", "on_predicate", "retry_with_exponential_backoff")
_RESOURCE_API = {
    "completions": "OpenAI chat completion",
    "ChatCompletion": "OpenAI chat completion",
    "Completion": "OpenAI completion",
    "messages": "Anthropic messages call",
    "responses": "OpenAI Responses API call",
    "litellm": "LiteLLM completion",
    "name": "LLM request",
    "with_raw_response": "LLM request",
    "with_streaming_response": "LLM request",
}


# --- one file ----------------------------------------------------------------------------------
# A file's summary: {"functions": {qualname: function}, "imports": {local: path}}
# function: (line, params, kwarg, retries, sends, calls, retry spots, loop spans)
#   params: positional-or-keyword parameter names (without self/cls of methods)
#   sends: ((line, label, content params, cap, forwarded kwargs name, model), ...)
#          cap: "set" | "forwards" | "parameter" | "unknown" | "none"
#          ("parameter": `max_tokens=limit` with `limit=None` a parameter, named where the
#          forwarded kwargs name goes: the caller sets the cap or nothing does)
#   calls: ((line, callee path, positional param sets, keyword param sets, star kwargs names,
#            keywords passed, model literal), ...)


def summarize_tree(tree: ast.Module, nodes: Optional[list[ast.AST]] = None,
                   exports: bool = False) -> Optional[dict[str, Any]]:
    """The summary of a parsed module, or None when it defines no function. ``exports``: also
    what it imports by name (for a module summarised because a class is imported from it, which
    may only re-export it: `from metagpt.llm import BaseLLM`)."""
    from checker.calls import ast_llm_calls

    sdk_calls = {id(call): shape for call, shape in ast_llm_calls(nodes if nodes is not None else tree)
                 if shape != "langchain"}
    imports: dict[str, str] = {}
    local_defs: set[str] = set()
    aliases: dict[str, ast.AST] = {}
    constants: dict[str, str] = {}
    wrapping: dict[str, tuple[int, ast.AST, bool]] = {}
    for statement in tree.body:
        if isinstance(statement, ast.Import):
            for alias in statement.names:
                if alias.asname:
                    imports[alias.asname] = alias.name
                else:
                    root = alias.name.split(".")[0]
                    imports[root] = root
        elif isinstance(statement, ast.ImportFrom):
            base = "." * statement.level + (statement.module or "")
            for alias in statement.names:
                if alias.name == "*":
                    continue
                joined = f"{base}.{alias.name}" if statement.module else f"{base}{alias.name}"
                imports[alias.asname or alias.name] = joined
        elif isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            local_defs.add(statement.name)
        elif isinstance(statement, ast.Assign) and len(statement.targets) == 1 \
                and isinstance(statement.targets[0], ast.Name) and isinstance(statement.value, (ast.Name, ast.Attribute)):
            aliases[statement.targets[0].id] = statement.value
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1 and isinstance(statement.targets[0], ast.Name) \
                and isinstance(statement.value, ast.Constant) and isinstance(statement.value.value, str):
            constants[statement.targets[0].id] = statement.value.value
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1 and isinstance(statement.targets[0], ast.Name):
            inner = _wrapped_function(statement.value)
            if inner is not None:
                wrapping[statement.targets[0].id] = (statement.lineno, *inner)
    # Imports inside functions (`def f(): from app.llm import ask`) are rare enough to leave out.
    # `chat = retry(pipeline(commit, parse), times=3)` is called as `commit` is: a name for
    # the function it wraps (resolved as a module-level name, also by other modules).
    local_defs |= {name for name in wrapping if name not in aliases}
    resolver = _Resolver(imports, local_defs, aliases, constants)
    wrapped = {name: (line, path, capped) for name, (line, inner, capped) in wrapping.items()
               for path in [resolver.path(inner, {}, None, None, {})]
               if path and path.split(".")[0] not in _STDLIB and path != f"{LOCAL}.{name}"}
    # Top-level functions and methods of top-level classes never overlap: each call and
    # assignment of the module belongs to the one whose lines hold it (found by bisection, one
    # pass over the engine's node list instead of a walk per function).
    spans: list[tuple[int, int, str, Any, Optional[ast.ClassDef]]] = []
    for statement in tree.body:
        if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
            spans.append((statement.lineno, statement.end_lineno or statement.lineno, statement.name, statement, None))
        elif isinstance(statement, ast.ClassDef):
            for item in statement.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    spans.append((item.lineno, item.end_lineno or item.lineno, f"{statement.name}.{item.name}",
                                  item, statement))
    if exports:
        found = summarize_tree(tree, nodes) or {"functions": {}}
        names = {local: path for local, path in imports.items() if "." in path and path.split(".")[0] not in _STDLIB}
        return {**found, "imports": names} if names else found if found.get("functions") or found.get("classes") else None
    # `def get_provider(model) -> CompletionProvider:` a call's value is an instance of the class
    # (`provider = get_provider(model); provider.complete(...)` runs `CompletionProvider.complete`).
    returns: dict[str, str] = {}
    for _, _, key, function, cls in spans:
        if cls is None and function.returns is not None:
            kind = _annotated_class(function.returns, resolver)
            if kind:
                returns[key] = kind
    if not spans:
        classes = _class_facts(tree, resolver, {})
        return _finished({"functions": {}, "classes": classes} if classes else {"functions": {}}, wrapped, returns)
    spans.sort(key=lambda span: span[0])
    starts = [span[0] for span in spans]
    owned: dict[str, list[ast.AST]] = {span[2]: [] for span in spans}
    for node in nodes if nodes is not None else ast.walk(tree):
        if type(node) in _OWNED:
            line = node.lineno  # type: ignore[attr-defined]
            at = bisect.bisect_right(starts, line) - 1
            if at >= 0 and line <= spans[at][1]:
                owned[spans[at][2]].append(node)
    classes = _class_facts(tree, resolver, owned)
    attributes_of: dict[str, dict[str, str]] = {}
    functions: dict[str, tuple] = {}
    for _, _, key, function, cls in spans:
        attributes: Mapping[str, str] = {}
        if cls is not None:
            if cls.name not in attributes_of:
                attributes_of[cls.name] = _self_attributes(cls, owned, resolver)
            attributes = attributes_of[cls.name]
        summary = _summarize_function(function, owned[key], resolver, sdk_calls, cls.name if cls else None, attributes)
        if summary is not None:
            functions[key] = summary
    # Only functions that call something worth following are kept: sinks are built from them.
    if classes:
        for name, attributes in attributes_of.items():
            if name in classes:
                classes[name][1].update({k: v for k, v in attributes.items()
                                         if k not in classes[name][1] and v.split(".")[0] not in _STDLIB})
        return _finished({"functions": functions, "classes": classes}, wrapped, returns)
    return _finished({"functions": functions}, wrapped, returns)


def _finished(found: dict[str, Any], wrapped: dict[str, tuple], returns: dict[str, str]) -> Optional[dict[str, Any]]:
    """``found`` with the module-level wrapped senders and the functions returning an instance
    of a project class (by their annotation); None when there is nothing to follow."""
    if wrapped:
        found["wrapped"] = wrapped
    if returns:
        found["returns"] = returns
    return found if found["functions"] or found.get("classes") or wrapped or returns else None


# Calls that wrap a function and return a callable standing for it: a retry or error handler, a
# pipeline whose first stage is the function, `functools.partial`. Followed through the first
# positional argument only, a few levels deep.
_WRAP_DEPTH = 4


def _wrapped_function(value: ast.AST) -> Optional[tuple[ast.AST, bool]]:
    """(the wrapped function's expression, whether a wrapping call sets an output cap) for
    `retry(pipeline(commit, parse), times=3)`, or None when ``value`` is no such call."""
    capped = False
    for _ in range(_WRAP_DEPTH):
        if type(value) is not ast.Call or not value.args or isinstance(value.args[0], ast.Starred):
            return None
        capped = capped or any(k.arg in _CAP_KEYWORDS for k in value.keywords)
        value = value.args[0]
        if type(value) in (ast.Name, ast.Attribute):
            return value, capped
    return None


# A top-level class's facts: (bases, attribute types, methods, abstract methods), the paths as the
# calls write them. They let the project step follow `self._aask()` to a base class's method,
# `self.llm.aask()` through `llm: BaseLLM`, and an abstract method to the subclasses' overrides.
_TYPING_WRAPPERS = {"Optional", "Union", "ClassVar", "Final", "Annotated"}


def _class_facts(tree: ast.Module, resolver: "_Resolver", owned: Mapping[str, list[ast.AST]]) -> dict[str, list]:
    classes: dict[str, list] = {}
    for statement in tree.body:
        if not isinstance(statement, ast.ClassDef):
            continue
        bases = tuple(path for path in (resolver.path(base, {}, None, None, {}) for base in statement.bases)
                      if path and path.split(".")[0] not in _STDLIB)
        attributes: dict[str, str] = {}
        methods: list[str] = []
        abstract: list[str] = []
        for item in statement.body:
            if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                kind = _annotated_class(item.annotation, resolver)
                if kind:
                    attributes[item.target.id] = kind
            elif isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                methods.append(item.name)
                if _is_abstract(item):
                    abstract.append(item.name)
                if item.returns is not None and any(_decorator_name(d) in ("property", "cached_property")
                                                    for d in item.decorator_list):
                    kind = _annotated_class(item.returns, resolver)
                    if kind:
                        attributes[item.name] = kind
                _annotated_self_attributes(item, owned.get(f"{statement.name}.{item.name}", ()), resolver, attributes)
        if bases or attributes or abstract:
            classes[statement.name] = [bases, attributes, tuple(methods), tuple(abstract)]
    return classes


def _decorator_name(decorator: ast.AST) -> str:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return target.attr if isinstance(target, ast.Attribute) else target.id if isinstance(target, ast.Name) else ""


def _annotated_class(annotation: ast.AST, resolver: "_Resolver") -> Optional[str]:
    """`BaseLLM`, `Optional[BaseLLM]`, `BaseLLM | None`, `"BaseLLM"` -> the instance path of the
    project class (`metagpt.provider.base_llm.BaseLLM()`), or None."""
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        try:
            annotation = ast.parse(annotation.value, mode="eval").body
        except SyntaxError:
            return None
    if isinstance(annotation, ast.Subscript) and _decorator_name(annotation.value) in _TYPING_WRAPPERS:
        inner = annotation.slice
        for element in inner.elts if isinstance(inner, ast.Tuple) else [inner]:
            found = _annotated_class(element, resolver)
            if found:
                return found
        return None
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        return _annotated_class(annotation.left, resolver) or _annotated_class(annotation.right, resolver)
    if isinstance(annotation, (ast.Name, ast.Attribute)):
        path = resolver.path(annotation, {}, None, None, {})
        if path and path.split(".")[0] not in _STDLIB and not path.startswith("typing"):
            return path + "()"
    return None


def _annotated_self_attributes(method: ast.AST, body_nodes: Iterable[ast.AST], resolver: "_Resolver",
                               attributes: dict[str, str]) -> None:
    """`self.llm: BaseLLM = ...` in a method, or `self.llm = llm` from a parameter `llm: BaseLLM`."""
    args = method.args.args  # type: ignore[attr-defined]
    if not args:
        return
    self_name = args[0].arg
    typed = None
    for node in body_nodes:
        if type(node) is ast.AnnAssign and isinstance(node.target, ast.Attribute) \
                and isinstance(node.target.value, ast.Name) and node.target.value.id == self_name:
            kind = _annotated_class(node.annotation, resolver)
            if kind:
                attributes.setdefault(node.target.attr, kind)
        elif type(node) is ast.Assign and type(node.value) is ast.Name and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == self_name:
                if typed is None:
                    typed = {a.arg: a.annotation for a in (*method.args.args, *method.args.kwonlyargs)  # type: ignore[attr-defined]
                             if a.annotation is not None}
                if node.value.id in typed:
                    kind = _annotated_class(typed[node.value.id], resolver)
                    if kind:
                        attributes.setdefault(target.attr, kind)


def _is_abstract(function: ast.AST) -> bool:
    """Declared for subclasses to fill in: `@abstractmethod`, or a body of only a docstring,
    `...`, `pass` or `raise NotImplementedError`."""
    if any(_decorator_name(d) == "abstractmethod" for d in function.decorator_list):  # type: ignore[attr-defined]
        return True
    for statement in function.body:  # type: ignore[attr-defined]
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            continue
        if isinstance(statement, ast.Pass):
            continue
        if isinstance(statement, ast.Raise) and statement.exc is not None and \
                _decorator_name(statement.exc) == "NotImplementedError":
            continue
        return False
    return True


_OWNED = (ast.Call, ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Try, ast.For, ast.AsyncFor, ast.While)
_LOOPS = (ast.For, ast.AsyncFor, ast.While)


class _Resolver:
    def __init__(self, imports: dict[str, str], local_defs: set[str], aliases: dict[str, ast.AST],
                 constants: dict[str, str]) -> None:
        self.imports = imports
        self.constants = constants
        self.local_defs = local_defs
        self.aliases = aliases

    def path(self, expr: ast.AST, locals_: Mapping[str, str], self_name: Optional[str],
             class_name: Optional[str], attributes: Mapping[str, str], depth: int = 0) -> Optional[str]:
        if depth > 8:
            return None
        if isinstance(expr, ast.Name):
            name = expr.id
            if name in locals_:
                return locals_[name]
            if name in self.imports:
                return self.imports[name]
            if name in self.aliases:
                return self.path(self.aliases[name], {}, None, None, {}, depth + 1)
            if name in self.local_defs:
                return f"{LOCAL}.{name}"
            return None
        if isinstance(expr, ast.Attribute):
            owner = expr.value
            if self_name is not None and isinstance(owner, ast.Name) and owner.id == self_name and class_name:
                if expr.attr in attributes:
                    return attributes[expr.attr]
                return f"{LOCAL}.{class_name}().{expr.attr}"
            base = self.path(owner, locals_, self_name, class_name, attributes, depth + 1)
            return f"{base}.{expr.attr}" if base else None
        if isinstance(expr, ast.Call):
            base = self.path(expr.func, locals_, self_name, class_name, attributes, depth + 1)
            return f"{base}()" if base else None
        if isinstance(expr, ast.Await):
            return self.path(expr.value, locals_, self_name, class_name, attributes, depth + 1)
        return None


def _self_attributes(cls: ast.ClassDef, owned: Mapping[str, list[ast.AST]], resolver: _Resolver) -> dict[str, str]:
    """`self.x = Assistant()` anywhere in the class: x -> path of the instance."""
    found: dict[str, str] = {}
    for item in cls.body:
        if not isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) or not item.args.args:
            continue
        self_name = item.args.args[0].arg
        for node in owned.get(f"{cls.name}.{item.name}", ()):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                for target in node.targets:
                    if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) \
                            and target.value.id == self_name:
                        path = resolver.path(node.value, {}, None, None, {})
                        if path:
                            found[target.attr] = path
    return found


def _decorator_retries(function: ast.AST) -> bool:
    for decorator in function.decorator_list:  # type: ignore[attr-defined]
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        name = target.attr if isinstance(target, ast.Attribute) else target.id if isinstance(target, ast.Name) else ""
        if name in _RETRY_DECORATORS:
            return True
    return False


def _summarize_function(function, body_nodes: list[ast.AST], resolver: _Resolver, sdk_calls: Mapping[int, str],
                        class_name: Optional[str], attributes: Mapping[str, str]) -> Optional[tuple]:
    """The function's summary, or None when it neither sends nor calls anything of the project."""
    args = function.args
    positional = [a.arg for a in (*args.posonlyargs, *args.args)]
    self_name = None
    if class_name is not None and positional and not any(
            isinstance(d, ast.Name) and d.id == "staticmethod" for d in function.decorator_list):
        self_name = positional[0]
        positional = positional[1:]
    kwarg = args.kwarg.arg if args.kwarg else None
    none_defaults = _none_defaults(args)
    # The instances bound to locals (`bot = Assistant()`).
    locals_: dict[str, str] = {}
    for node in body_nodes:
        if type(node) is ast.Assign and type(node.value) is ast.Call:
            for target in node.targets:
                if type(target) is ast.Name:
                    path = resolver.path(node.value, {}, self_name, class_name, attributes)
                    if path:
                        locals_[target.id] = path
    sending = []
    calling = []
    for node in body_nodes:
        if type(node) is not ast.Call:
            continue
        shape = sdk_calls.get(id(node))
        if shape is not None:
            sending.append((node, shape))
            continue
        path = resolver.path(node.func, locals_, self_name, class_name, attributes)
        if path is None or path.split(".")[0] in _STDLIB:
            continue  # only the project's own functions can be sinks
        calling.append((node, path))
    if not sending and not calling:
        return None
    carries = _carries(body_nodes, {p for p in positional} | {a.arg for a in args.kwonlyargs})
    sends = [send for send in (_send(node, shape, carries, kwarg, resolver, none_defaults) for node, shape in sending) if send]
    calls = []
    for node, path in calling:
        if _is_langchain_model_call(path):
            sends.append(_langchain_send(node, carries))
            continue
        positional_sets = tuple(tuple(sorted(_carried(a, carries))) if not isinstance(a, ast.Starred) else ("*",)
                                for a in node.args)
        keyword_sets = {}
        stars = []
        for keyword in node.keywords:
            if keyword.arg is None:
                stars.append(keyword.value.id if isinstance(keyword.value, ast.Name) else "")
            else:
                keyword_sets[keyword.arg] = tuple(sorted(_carried(keyword.value, carries)))
        model = next((k.value.value for k in node.keywords if k.arg == "model"
                      and isinstance(k.value, ast.Constant) and isinstance(k.value.value, str)), None)
        calls.append((node.lineno, path, positional_sets, keyword_sets, tuple(stars), model))
    return (function.lineno, tuple(positional), kwarg, _decorator_retries(function), tuple(sends), tuple(calls),
            _retry_spots(body_nodes), _loop_spans(body_nodes))


def _loop_spans(body_nodes: list[ast.AST]) -> tuple[tuple[int, int], ...]:
    """Line spans of loops: a call of a wrapper there may send a list the loop grows (TB401)."""
    return tuple((n.lineno, n.end_lineno or n.lineno) for n in body_nodes if type(n) in _LOOPS)


def _retry_spots(body_nodes: list[ast.AST]) -> tuple[tuple[int, int], ...]:
    """Line spans of `try` bodies inside a loop: where a call may be sent again after a failure."""
    loops = [(n.lineno, n.end_lineno or n.lineno) for n in body_nodes if type(n) in _LOOPS]
    spots = []
    for node in body_nodes:
        if type(node) is ast.Try and node.body:
            start, end = node.body[0].lineno, node.body[-1].end_lineno or node.lineno  # type: ignore[attr-defined]
            if any(first <= start and end <= last for first, last in loops):
                spots.append((start, end))
    return tuple(spots)


def _carries(body_nodes: list[ast.AST], params: set[str]) -> dict[str, set[str]]:
    """Which parameters each local name carries (flow-insensitive, to a fixpoint): through
    assignments and `list.append/extend/insert`."""
    carries: dict[str, set[str]] = {p: {p} for p in params}
    assigns: list[tuple[str, set[str]]] = []
    for node in body_nodes:
        kind = type(node)
        if kind is ast.Call:
            func = node.func  # type: ignore[attr-defined]
            if type(func) is ast.Attribute and func.attr in ("append", "extend", "insert") and type(func.value) is ast.Name:
                for arg in node.args:  # type: ignore[attr-defined]
                    assigns.append((func.value.id, _names(arg)))
        elif kind in (ast.Assign, ast.AnnAssign, ast.AugAssign) and node.value is not None:  # type: ignore[attr-defined]
            targets = node.targets if kind is ast.Assign else [node.target]  # type: ignore[attr-defined]
            for target in targets:
                if type(target) is ast.Name:
                    assigns.append((target.id, _names(node.value)))  # type: ignore[attr-defined]
    changed = True
    while changed:
        changed = False
        for target, names in assigns:
            found: set[str] = set()
            for name in names:
                if name in carries:
                    found |= carries[name]
            if found - carries.get(target, set()):
                carries[target] = carries.get(target, set()) | found
                changed = True
    return carries


def _names(expr: ast.AST) -> set[str]:
    return {node.id for node in ast.walk(expr) if type(node) is ast.Name}


def _carried(expr: ast.AST, carries: Mapping[str, set[str]]) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(expr):
        if isinstance(node, ast.Name) and node.id in carries:
            found |= carries[node.id]
    return found


# `llm(prompt)`, `llm.invoke(messages)` on a LangChain model made in the function
# (`llm = OpenAI(max_tokens=100)`): the output cap, if any, is the constructor's (TB101's there).
_LANGCHAIN_SEND_METHODS = ("invoke", "ainvoke", "predict", "apredict", "predict_messages", "stream", "astream",
                           "generate", "agenerate", "call_as_llm")


def _is_langchain_model_call(path: str) -> bool:
    if not path.startswith("langchain"):
        return False
    head, _, method = path.rpartition("().")
    if path.endswith("()"):  # llm(prompt)
        head = path[:-2]
    elif not head or method not in _LANGCHAIN_SEND_METHODS:
        return False
    return "(" not in head and head.rsplit(".", 1)[-1][:1].isupper()  # a model class, not a factory


def _langchain_send(call: ast.Call, carries) -> tuple:
    content: set[str] = set()
    for arg in call.args[:1]:
        content |= _carried(arg, carries)
    for keyword in call.keywords:
        if keyword.arg in ("input", "prompt", "messages"):
            content |= _carried(keyword.value, carries)
    return (call.lineno, "LangChain model call", tuple(sorted(content)), "set", None, None)


def _none_defaults(args: ast.arguments) -> frozenset[str]:
    """Parameters whose default is None: `max_tokens: Optional[int] = None`."""
    positional = [*args.posonlyargs, *args.args]
    pairs = list(zip(positional[len(positional) - len(args.defaults):], args.defaults))
    pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
    return frozenset(a.arg for a, d in pairs if isinstance(d, ast.Constant) and d.value is None)


def _send(call: ast.Call, shape: str, carries, kwarg: Optional[str], resolver: _Resolver,
          none_defaults: frozenset[str] = frozenset()) -> Optional[tuple]:
    keywords = {k.arg: k.value for k in call.keywords if k.arg is not None}
    stars = [k.value for k in call.keywords if k.arg is None]
    if shape in ("messages", "responses", "completions") and not stars and not (
            {"model", "messages", "input", "prompt"} & keywords.keys()):
        return None  # same shape, another API (Twilio's client.messages.create(to=...))
    content: set[str] = set()
    for name in _CONTENT_KEYWORDS:
        if name in keywords:
            content |= _carried(keywords[name], carries)
    if shape in ("litellm", "name"):
        for arg in call.args[1:2] if shape == "litellm" else call.args[:2]:
            content |= _carried(arg, carries)
    cap_values = [keywords[name] for name in _CAP_KEYWORDS if name in keywords]
    passed_on = next((v.id for v in cap_values if type(v) is ast.Name and v.id in none_defaults), None)
    if passed_on is not None:
        cap, kwarg = "parameter", passed_on
    elif cap_values:
        cap = "set"
    elif not stars:
        cap = "none"
    elif kwarg is not None and any(isinstance(s, ast.Name) and s.id == kwarg for s in stars):
        cap = "forwards"
    else:
        cap = "unknown"
    model_expr = keywords.get("model")
    model = None
    if isinstance(model_expr, ast.Constant) and isinstance(model_expr.value, str):
        model = model_expr.value
    elif isinstance(model_expr, ast.Name):
        model = resolver.constants.get(model_expr.id)
    return (call.lineno, _RESOURCE_API.get(shape, "LLM request"), tuple(sorted(content)), cap, kwarg, model)


# --- the project ---------------------------------------------------------------------------------


def module_name(path: Path, root: Path) -> Optional[str]:
    """`app.llm` for `<root>/app/llm.py` (`app` for `app/__init__.py`); None outside the root."""
    # Paths as given, made absolute without resolving links: this runs for every file checked.
    relative = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
    if relative.startswith(".."):
        return None
    parts = list(Path(relative).with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    # Directories that cannot be packages (`langchain-0.4.2/`, `my project/`) hold the import root.
    while parts and not all(p.isidentifier() for p in parts):
        parts.pop(0)
    return ".".join(parts) or None


@dataclass(frozen=True)
class Sink:
    """A project function that sends an LLM request (see the module docstring)."""

    qualname: str  # app.llm.Assistant.aask
    module: str  # app.llm
    display: str  # "Assistant.aask() in app/llm.py:12" (where the request leaves)
    params: tuple[str, ...]  # positional parameters, self excluded
    content: tuple[str, ...]  # parameters that reach the request's messages / prompt
    cap: str  # "set" | "forwards" | "unknown" | "none"
    cap_param: Optional[str]  # the **kwargs name a forwarding sink passes on
    label: str  # what it sends: "OpenAI chat completion"
    model: Optional[str]
    retries: bool

    def capped_by(self, positional: int, keywords: Iterable[str]) -> bool:
        """For a "parameter" cap: whether a call with this many positional arguments and these
        keywords passes the cap parameter."""
        if self.cap_param in keywords:
            return True
        return self.cap_param in self.params and self.params.index(self.cap_param) < positional

    def receives_content(self, positional: int, keyword: Optional[str]) -> bool:
        """Whether the argument at this position / keyword reaches what is sent."""
        if keyword is not None:
            return keyword in self.content or (self.cap == "forwards" and keyword in _CONTENT_KEYWORDS)
        return positional < len(self.params) and self.params[positional] in self.content


def normalize(path: str) -> str:
    """`app.llm.Assistant().aask` -> `app.llm.Assistant.aask`: a method called on an instance."""
    return path.replace("()", "")


def resolve_path(path: str, module: Optional[str], is_package: bool = False) -> Optional[str]:
    """A callee path as written in `module` -> absolute dotted path (None when not resolvable)."""
    if path.startswith(LOCAL + "."):
        return f"{module}.{path[len(LOCAL) + 1:]}" if module else None
    if path.startswith("."):
        if not module:
            return None
        level = len(path) - len(path.lstrip("."))
        package = module.split(".") if is_package else module.split(".")[:-1]
        if level - 1 > len(package):
            return None
        base = package[: len(package) - (level - 1)]
        rest = path[level:]
        return ".".join([*base, rest]) if rest else ".".join(base) or None
    return path


class SinkTable:
    """All sinks of a project, looked up by a callee's resolved path."""

    aliases: frozenset = frozenset()  # names added by the class hierarchy (build_sinks)

    def __init__(self, sinks: Mapping[str, Sink]) -> None:
        self.sinks = dict(sinks)
        self._by_key: dict[str, Sink] = {}
        for name, sink in sorted(self.sinks.items(), key=lambda item: item[0].count(".")):
            parts = name.split(".")
            # `src.app.llm.ask` is imported as `app.llm.ask`: every suffix with a module part
            # names it too (the longest, exact name wins).
            for start in range(len(parts) - 1):
                self._by_key.setdefault(".".join(parts[start:]), sink)
        for name, sink in self.sinks.items():
            self._by_key[name] = sink
        self.digest = hashlib.blake2b(repr(sorted(self.sinks.items())).encode(), digest_size=8).hexdigest() \
            if self.sinks else ""
        # What a caller imports to reach a sink: its module or class (and their suffixes, as above).
        self.modules: set[str] = set()
        self.defining: set[str] = {sink.module for sink in self.sinks.values()}
        for key in self._by_key:
            self.modules.add(key.rpartition(".")[0])
        for module in self.defining:
            parts = module.split(".")
            self.modules.update(".".join(parts[start:]) for start in range(len(parts)))

    def __bool__(self) -> bool:
        return bool(self.sinks)

    @property
    def method_names(self) -> frozenset:
        """Short names of the methods that are sinks (`aask`): a file calling one through an
        attribute (`self.llm.aask(...)`) imports nothing that says so."""
        names = self.__dict__.get("_method_names")
        if names is None:
            names = frozenset(name.rpartition(".")[2] for name, sink in self.sinks.items()
                              if name.count(".") > sink.module.count(".") + 1 and not name.endswith("__"))
            self.__dict__["_method_names"] = names
        return names

    def mentions_methods(self, data: bytes, names: Optional[Iterable[str]] = None) -> bool:
        """Whether ``data`` calls one of the sink methods ``names`` (default: all) by name, on
        an attribute (`x.llm.aask(`)."""
        import re

        names = sorted(self.method_names if names is None else names)
        if not names:
            return False
        key = tuple(names)
        cache = self.__dict__.setdefault("_patterns", {})
        pattern = cache.get(key)
        if pattern is None:
            # Through an attribute (`self.llm.aask(`): a call on the file's own instance
            # (`self.aask(`) reaches another module's sink only through a base class it imports.
            pattern = cache[key] = re.compile(rb"\.[A-Za-z_]\w*\.(?:" + b"|".join(re.escape(n.encode()) for n in names) + rb")\(")
        return pattern.search(data) is not None

    def lookup(self, path: Optional[str], module: Optional[str], is_package: bool = False) -> Optional[Sink]:
        if not path or not self.sinks:
            return None
        absolute = resolve_path(path, module, is_package)
        if absolute is None:
            return None
        return self._by_key.get(normalize(absolute))


    def __getstate__(self) -> dict:
        return {"sinks": self.sinks}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["sinks"])  # type: ignore[misc]


EMPTY = SinkTable({})


class LiveSinks:
    """A sink table that worker processes re-read from a file whenever the parent rewrites it:
    the second round of a run goes to the workers of the first, which have loaded libcst
    already, instead of a new pool or the parent (the pool takes its settings once, at start)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._stamp: Optional[tuple[int, int, int]] = None
        self._table = EMPTY

    def publish(self, table: SinkTable) -> None:
        from checker.cache import write_marshal

        write_marshal(Path(self.path), {name: tuple(vars(sink).values()) for name, sink in table.sinks.items()})

    def current(self) -> SinkTable:
        try:
            stat = os.stat(self.path)
        except OSError:
            return self._table
        stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        if stamp != self._stamp:
            from checker.cache import read_marshal

            loaded = read_marshal(self.path)
            try:
                self._table = SinkTable({name: Sink(*fields) for name, fields in loaded.items()})
            except (AttributeError, TypeError, ValueError):  # no file, or not a table of sinks
                self._table = EMPTY
            self._stamp = stamp
        return self._table

    @property
    def digest(self) -> str:
        return self.current().digest

    def __bool__(self) -> bool:
        return bool(self.current())

    def __getstate__(self) -> dict:
        return {"path": self.path}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["path"])  # type: ignore[misc]


def build_sinks(summaries: Mapping[str, tuple[str, bool, dict]], hops: int = 2 * MAX_HOPS) -> SinkTable:
    """`summaries`: module name -> (display path, is package, summary) for every summarised file.
    Sinks are found hop by hop: direct senders first, then callers of sinks."""
    sinks: dict[str, Sink] = {}
    functions: list[tuple[str, str, bool, str, tuple]] = []
    for module, (display, is_package, summary) in summaries.items():
        for name, function in summary.get("functions", {}).items():
            functions.append((f"{module}.{name}", module, is_package, display, function))
    for qualname, module, _, display, function in functions:
        line, params, kwarg, retries, sends, _ = function[:6]
        if not sends:
            continue
        content = tuple(sorted({p for send in sends for p in send[2]}))
        cap = _weakest({send[3] for send in sends})
        first = min(sends, key=lambda send: send[0])
        model = next((send[5] for send in sends if send[5]), None)
        if cap == "forwards":
            cap_param = kwarg
        elif cap == "parameter":  # the parameter's name is where a send keeps the forwarded kwargs' name
            cap_param = next(send[4] for send in sends if send[3] == "parameter")
        else:
            cap_param = None
        sinks[qualname] = Sink(qualname, module, f"{_short(qualname, module)}() in {display}:{first[0]}", params, content,
                               cap, cap_param, first[1], model, retries)
    wrappers = [(f"{module}.{name}", module, is_package, path, capped)
                for module, (_, is_package, summary) in summaries.items()
                for name, (_, path, capped) in (summary.get("wrapped") or {}).items()]
    hierarchy = _Hierarchy(summaries)
    for _ in range(hops - 1):
        hierarchy.add_aliases(sinks)
        hierarchy.add_returned(sinks)
        table = SinkTable(sinks)
        added = False
        for qualname, module, is_package, path, capped in wrappers:
            if qualname in sinks:
                continue
            sink = table.lookup(path, module, is_package)
            if sink is not None:
                sinks[qualname] = dataclasses.replace(
                    sink, qualname=qualname, module=module,
                    **({"cap": "set", "cap_param": None} if capped and sink.cap in ("forwards", "parameter") else {}))
                added = True
        for qualname, module, is_package, display, function in functions:
            if qualname in sinks:
                continue
            line, params, kwarg, retries, _, calls = function[:6]
            through = []
            for call in calls:
                sink = table.lookup(call[1], module, is_package)
                if sink is not None and sink.qualname != qualname:
                    through.append((call, sink))
            if not through:
                continue
            content: set[str] = set()
            caps = set()
            for (_, _, positional, keywords, stars, _), sink in through:
                for position, carried in enumerate(positional):
                    if sink.receives_content(position, None):
                        content.update(p for p in carried if p != "*")
                for keyword, carried in keywords.items():
                    if sink.receives_content(-1, keyword):
                        content.update(carried)
                caps.add(_cap_through(sink, keywords, stars, kwarg))
            cap = _weakest(caps)
            first = through[0][1]
            sinks[qualname] = Sink(qualname, module, first.display, params, tuple(sorted(content)), cap,
                                   kwarg if cap == "forwards" else None, first.label, first.model,
                                   retries or first.retries)
            added = True
        if not added:
            break
    hierarchy.add_aliases(sinks)
    hierarchy.add_returned(sinks)
    table = SinkTable(sinks)
    table.aliases = frozenset(hierarchy.aliases)
    return table


class _Hierarchy:
    """The project's classes (absolute paths) from the summaries' class facts: a method call on
    an instance reaches the method its class inherits (`self._aask()` of an `Action` subclass),
    an attribute typed by a project class reaches that class's methods (`llm: BaseLLM` makes
    `self.llm.aask` `BaseLLM.aask`), and an abstract method reaches the subclasses' overrides
    (a call of `BaseLLM._achat_completion_stream` runs `OpenAILLM`'s). Each is added to the sinks
    as an alias under the name the calls resolve to, so lookups stay one dictionary read."""

    def __init__(self, summaries: Mapping[str, tuple[str, bool, dict]]) -> None:
        self.classes: dict[str, tuple[tuple[str, ...], dict[str, str], frozenset, tuple[str, ...]]] = {}
        for module, (_, is_package, summary) in summaries.items():
            for name, (bases, attributes, methods, abstract) in (summary.get("classes") or {}).items():
                resolved_bases = tuple(b for b in (_absolute_class(base, module, is_package) for base in bases) if b)
                types = {attr: kind for attr, kind in ((a, _absolute_class(t, module, is_package))
                                                       for a, t in attributes.items()) if kind}
                self.classes[f"{module}.{name}"] = (resolved_bases, types, frozenset(methods), tuple(abstract))
        # `module.get_provider` -> `module.CompletionProvider`: what the function returns.
        self.returns: dict[str, str] = {}
        for module, (_, is_package, summary) in summaries.items():
            for name, kind in (summary.get("returns") or {}).items():
                absolute = _absolute_class(kind, module, is_package)
                if absolute:
                    self.returns[f"{module}.{name}"] = absolute
        self.reexports: dict[str, str] = {}
        for module, (_, is_package, summary) in summaries.items():
            for local, path in (summary.get("imports") or {}).items():
                absolute = resolve_path(path, module, is_package)
                if absolute:
                    self.reexports[f"{module}.{local}"] = absolute
        self._by_suffix: dict[str, str] = {}
        for name in sorted(self.classes, key=lambda n: n.count(".")):
            parts = name.split(".")
            for start in range(len(parts) - 1):
                self._by_suffix.setdefault(".".join(parts[start:]), name)
        for name in self.classes:
            self._by_suffix[name] = name
        self.ancestors = {name: self._ancestors(name) for name in self.classes}
        self.aliases: set[str] = set()
        self.descendants: dict[str, list[str]] = {}
        for name, ancestors in self.ancestors.items():
            for ancestor in ancestors:
                self.descendants.setdefault(ancestor, []).append(name)

    def known(self, name: str) -> Optional[str]:
        for _ in range(4):
            found = self._by_suffix.get(name)
            if found is not None or name not in self.reexports:
                return found
            name = self.reexports[name]
        return None

    def _ancestors(self, name: str) -> list[str]:
        """Base classes in lookup order (depth first, left to right: the MRO of simple trees)."""
        order = []
        self._mro(name, order, set())
        return [n for n in order if n != name]

    def _mro(self, name: str, order: list[str], seen: set[str]) -> None:
        if name in seen or len(order) > 32:
            return
        seen.add(name)
        order.append(name)
        for base in self.classes.get(name, ((), {}, frozenset(), ()))[0]:
            known = self.known(base)
            if known:
                self._mro(known, order, seen)

    def add_returned(self, sinks: dict[str, Sink]) -> None:
        """`get_provider.complete` for `get_provider() -> CompletionProvider` when
        `CompletionProvider.complete` (or an inherited method) is a sink: the calls write the
        method of a returned instance so (`get_provider(model).complete(...)`)."""
        if not self.returns:
            return
        before = set(sinks)
        by_owner: dict[str, dict[str, Sink]] = {}
        for name, sink in sinks.items():
            owner, _, method = name.rpartition(".")
            by_owner.setdefault(owner, {})[method] = sink
        for function, kind in self.returns.items():
            target = self.known(kind) or kind
            for owner in [target, *self.ancestors.get(target, ())]:
                for method, sink in by_owner.get(owner, {}).items():
                    key = f"{function}.{method}"
                    if key not in sinks:
                        sinks[key] = _alias(sink, key, function)
        self.aliases |= set(sinks) - before

    def add_aliases(self, sinks: dict[str, Sink]) -> None:
        if not self.classes:
            return
        before = set(sinks)
        methods_of: dict[str, dict[str, Sink]] = {}
        for name, sink in sinks.items():
            owner, _, method = name.rpartition(".")
            if owner in self.classes:
                methods_of.setdefault(owner, {})[method] = sink
        # Abstract methods first: the inherited and typed aliases then see them.
        for name, (_, _, _, abstract) in self.classes.items():
            for method in abstract:
                if method in methods_of.get(name, {}):
                    continue
                for descendant in sorted(self.descendants.get(name, ())):
                    sink = methods_of.get(descendant, {}).get(method)
                    if sink is not None and sink.qualname.startswith(descendant + "."):
                        alias = _alias(sink, f"{name}.{method}", name)
                        sinks[alias.qualname] = alias
                        methods_of.setdefault(name, {})[method] = alias
                        break
        for name, (_, _, own, _) in self.classes.items():
            defined = set(own)
            for ancestor in self.ancestors[name]:
                for method, sink in methods_of.get(ancestor, {}).items():
                    if method not in defined and f"{name}.{method}" not in sinks:
                        sinks[f"{name}.{method}"] = _alias(sink, f"{name}.{method}", name)
                defined |= self.classes[ancestor][2]
        for name in self.classes:
            types: dict[str, str] = {}
            for owner in [name, *self.ancestors[name]]:
                for attr, kind in self.classes[owner][1].items():
                    types.setdefault(attr, kind)
            for attr, kind in types.items():
                target = self.known(kind)
                if target is None:
                    continue
                for method in {m for owner in [target, *self.ancestors[target]] for m in methods_of.get(owner, {})}:
                    key = f"{name}.{attr}.{method}"
                    sink = sinks.get(f"{target}.{method}")
                    if sink is not None and key not in sinks:
                        sinks[key] = _alias(sink, key, name)
        # A class imported from a module that re-exports it (`from metagpt.llm import BaseLLM`,
        # `from metagpt.actions import Action`): every name under the class, under the other name.
        if self.reexports:
            under: dict[str, list[str]] = {}
            for key in sinks:
                owner = key.rpartition(".")[0]
                for _ in range(2):
                    if owner in self.classes:
                        under.setdefault(owner, []).append(key)
                        break
                    owner = owner.rpartition(".")[0]
            for exported in self.reexports:
                target = self.known(exported)
                if target is None or exported == target:
                    continue
                for key in under.get(target, ()):
                    alias = exported + key[len(target):]
                    if alias not in sinks:
                        sinks[alias] = _alias(sinks[key], alias, exported)
        self.aliases |= set(sinks) - before


def _undefined_steps(cls: str, methods: Iterable[str], functions: Mapping[str, tuple]) -> set[str]:
    """First names after `self.` in the class's calls that the class does not define."""
    prefix = f"{LOCAL}.{cls}()."
    found = set()
    for name, function in functions.items():
        if name.startswith(cls + "."):
            for call in function[5]:
                if call[1].startswith(prefix):
                    found.add(call[1][len(prefix):].split(".")[0].rstrip("()"))
    return found - set(methods)


def _absolute_class(path: str, module: str, is_package: bool) -> Optional[str]:
    absolute = resolve_path(path, module, is_package)
    return normalize(absolute) if absolute else None


def _alias(sink: Sink, qualname: str, owner_class: str) -> Sink:
    return dataclasses.replace(sink, qualname=qualname, module=owner_class.rpartition(".")[0])


def _weakest(caps: set[str]) -> str:
    """A function's cap from its sends' / calls' caps: the weakest one."""
    return next((cap for cap in ("none", "forwards", "parameter", "unknown") if cap in caps), "set")


def _cap_through(sink: Sink, keywords: Mapping[str, Any], stars: Iterable[str], kwarg: Optional[str]) -> str:
    if sink.cap != "forwards":
        # "none": the inner wrapper's own finding, not ours; "parameter": this call's (TB101)
        return sink.cap if sink.cap not in ("none", "parameter") else "set"
    if any(k in _CAP_KEYWORDS for k in keywords):
        return "set"
    stars = list(stars)
    if kwarg is not None and kwarg in stars:
        return "forwards"
    return "unknown" if stars else "none"


def _short(qualname: str, module: str) -> str:
    return qualname[len(module) + 1:]


# --- cheap text facts: what a file imports -------------------------------------------------------


def imported_modules(data: bytes) -> tuple[str, ...]:
    """Modules a file imports from (`app.llm`, `.llm`, `app` for `from app import llm` plus
    `app.llm`), read from the text without parsing: enough to pick the files that may call a
    sink, which are then parsed."""
    found: list[str] = []
    start = data.find(b"import")
    while start != -1:
        line_start = data.rfind(b"\n", 0, start) + 1
        line_end = data.find(b"\n", start)
        if line_end == -1:
            line_end = len(data)
        head = data[line_start:start].strip()
        if head.startswith(b"from "):
            module = head[5:].strip()
            names = data[start + 6:line_end]
            if names.strip().startswith(b"(") and b")" not in names:
                close = data.find(b")", start)
                names = data[start + 6: close if close != -1 else line_end]
            module_text = module.decode("ascii", "replace")
            found.append(module_text)
            for name in names.replace(b"(", b" ").replace(b")", b" ").replace(b"\\", b" ").split(b","):
                words = name.split()
                if words:
                    text = words[0].decode("ascii", "replace")
                    found.append(f"{module_text}{text}" if module_text.endswith(".") else f"{module_text}.{text}")
        elif not head:
            for name in data[start + 6:line_end].split(b"#")[0].split(b","):
                words = name.split()
                if words:
                    found.append(words[0].decode("ascii", "replace"))
        start = data.find(b"import", start + 6)
    return tuple(dict.fromkeys(found))


_file_modules: dict[tuple[str, Optional[Path]], tuple[Optional[str], bool]] = {}


def file_module(filename: str, root: Optional[Path]) -> tuple[Optional[str], bool]:
    """(dotted module of the file under the project root, whether it is a package's __init__)."""
    key = (filename, root)
    found = _file_modules.get(key)
    if found is None:
        path = Path(filename)
        found = _file_modules[key] = (module_name(path, root or Path.cwd()), path.name == "__init__.py")
    return found


def calls_sinks(imports: Iterable[str], filename: str, settings: Any) -> bool:
    """Whether a file may call one of the project's sinks: it imports a sink's module or class,
    or defines sinks itself (and may call them)."""
    return bool(reachable_sinks(imports, filename, settings.sinks, settings.project_root))


def reachable_sinks(imports: Iterable[str], filename: str, table: "SinkTable", root: Optional[Path]) -> frozenset:
    """The sinks of other modules that a file's imports reach (their module, class or name)."""
    if not table:
        return frozenset()
    candidates = [name for name in imports if name.startswith(".") or name in table.modules]
    if not candidates:
        return frozenset()
    module, is_package = file_module(filename, root)
    found = set()
    for name in candidates:
        absolute = resolve_path(name, module, is_package)
        if absolute is None or absolute not in table.modules:
            continue
        for sink in table.sinks.values():
            # `app.llm`, `app.llm.ask`, `app.llm.Assistant`, or a suffix of them (src layouts)
            if sink.module != module and f".{absolute}." in f".{sink.qualname}.":
                found.add(sink)
    return frozenset(found)


def with_local_sinks(table: "SinkTable", summary: Optional[dict], filename: str, root: Optional[Path]):
    """``table`` plus the sinks the file defines itself, and whether the file calls any of them
    (then it is checked as a caller of sinks)."""
    if not summary:
        return table, False
    module, is_package = file_module(filename, root)
    if module is None:
        return table, False
    try:
        display = Path(filename).resolve().relative_to((root or Path.cwd()).resolve()).as_posix()
    except (ValueError, OSError):
        display = filename
    local = build_sinks({module: (display, is_package, summary)})
    inherited = _inherited_from(table, summary, module, is_package)
    if not local and not inherited and not table:
        return table, False
    merged = SinkTable({**table.sinks, **inherited, **local.sinks}) if local or inherited else table
    # A call of the file's own wrapper lets the rules that need an LLM call run (the shared
    # `requires_llm_calls` pass knows only SDK calls) where one of them can report it: no cap
    # passed to a wrapper forwarding **kwargs (TB101), or a retry around it (TB301). Other local
    # calls are left to that pass: checking every file that wraps its own SDK call costs more than it finds.
    calls_own = False
    for function in summary["functions"].values():
        spots = function[6] if len(function) > 6 else ()
        loops = function[7] if len(function) > 7 else ()
        for line, path, positional, keywords, stars, _ in function[5]:
            if not path.startswith(LOCAL + "."):
                continue
            sink = merged.lookup(path, module, is_package)
            if sink is None:
                continue
            uncapped = not stars and not any(k in _CAP_KEYWORDS for k in keywords) and (
                sink.cap == "forwards" or (sink.cap == "parameter" and not sink.capped_by(len(positional), keywords)))
            passes_list = bool(positional) or any(k in _CONTENT_KEYWORDS for k in keywords)
            if uncapped or function[3] or any(start <= line <= end for start, end in spots) or \
                    (passes_list and any(start <= line <= end for start, end in loops)):
                calls_own = True
    return merged, calls_own


def _inherited_from(table: "SinkTable", summary: dict, module: str, is_package: bool) -> dict[str, Sink]:
    """Sinks the file's classes inherit from other modules' classes (`class WriteCode(Action)`
    gets `WriteCode._aask`): the project table has them only once this file's summary is in it."""
    found: dict[str, Sink] = {}
    if not table:
        return found
    for name, (bases, attributes, methods, _) in (summary.get("classes") or {}).items():
        owner = f"{module}.{name}"
        # (prefix in the table, prefix here, whether deeper names count): `Base.m` and
        # `Base.attr.m` become `Cls.m`, `Cls.attr.m`; `T.m` becomes `Cls.attr.m` for `attr: T`.
        prefixes = [(absolute + ".", owner + ".", True) for absolute in
                    (_absolute_class(base, module, is_package) for base in bases) if absolute]
        prefixes += [(absolute + ".", f"{owner}.{attr}.", False) for attr, absolute in
                     ((a, _absolute_class(t, module, is_package)) for a, t in attributes.items()) if absolute]
        for source, target, deeper in prefixes:
            for key, sink in table._by_key.items():
                if key.startswith(source):
                    rest = key[len(source):]
                    if (deeper or "." not in rest) and (not deeper or rest.split(".")[0] not in methods) \
                            and target + rest not in found:
                        found[target + rest] = _alias(sink, target + rest, owner)
    return found


# The lookup of the file being checked (set by the engine): `_llm.is_llm_call` has no context.
_lookup: Optional[Callable[[Any], Optional[Sink]]] = None


def use_lookup(lookup: Optional[Callable[[Any], Optional[Sink]]]) -> None:
    global _lookup
    _lookup = lookup


def sink_of(call: Any) -> Optional[Sink]:
    """The project sink a libcst call node calls, in the file being checked."""
    return _lookup(call) if _lookup is not None else None


# --- the cache ---------------------------------------------------------------------------------

_STORE_FORMAT = 5  # 2: class facts, loop spans; 3: checker signature, base misses, the built table; 4: "parameter" caps, LangChain model calls; 5: wrapped functions


class SummaryStore:
    """Summarised files' (size, mtime, digest, imports, summary) by absolute path, kept next to the
    results cache: a run checking one file builds the sink table from the summaries of the rest
    of the project recorded by earlier runs (re-summarising those that changed since).

    One file holds it all, read once per run: the entries, the sink table built from them (a run
    in which no summary changed loads it instead of building it), the base-class modules looked
    for that gave no summary (so that they are not parsed again every run), and the signature
    of the checker that wrote it (another version's summaries are all made again)."""

    def __init__(self, directory: Optional[Path], root: Path) -> None:
        self.root = root
        self.path: Optional[Path] = None
        self.entries: dict[str, tuple] = {}
        self._imports: dict[str, tuple[str, ...]] = {}
        self.dirty = False
        self._table: Optional[SinkTable] = None
        self._tried: set[tuple[str, str]] = set()
        # base-class module files that gave no summary: path -> (size, mtime_ns)
        self._misses: dict[str, tuple[int, int]] = {}
        self._saved_table: Optional[tuple] = None  # (sinks as field tuples, aliases) of `entries`
        if directory is not None:
            key = hashlib.blake2b(str(root).encode(), digest_size=8).hexdigest()
            self.path = directory / f"summaries-v{_STORE_FORMAT}" / f"{key}.marshal"
            from checker.cache import read_marshal

            loaded = read_marshal(self.path)
            if isinstance(loaded, dict) and isinstance(loaded.get("entries"), dict):
                self.entries = loaded["entries"]
                if loaded.get("signature") == _checker_signature():
                    self._misses = loaded.get("misses") or {}
                    self._saved_table = loaded.get("table")
                else:
                    # Written by another version of the checker: every summary is made again (a
                    # size and mtime no file has make each entry stale).
                    self.entries = {key: (-1, -1, *entry[2:]) for key, entry in self.entries.items()}
                    self.dirty = True

    def imports(self, name: str) -> tuple[str, ...]:
        """What a file imports: from its summary, this run's check, or (files whose results came
        from the cache, asked only when the sink table changed) read again."""
        key = os.path.abspath(name)
        entry = self.entries.get(key)
        if entry is not None:
            return entry[3]
        found = self._imports.get(key)
        if found is None:
            try:
                with open(key, "rb") as handle:
                    found = imported_modules(handle.read())
            except OSError:
                found = ()
            self._imports[key] = found
        return found

    def calls_new_sinks(self, name: str, before: SinkTable, after: SinkTable) -> bool:
        """Whether a call the file's summary records reaches a sink in ``after`` that it did not
        reach in ``before`` (a method its class now inherits from another module)."""
        entry = self.entries.get(os.path.abspath(name))
        if entry is None or not entry[4]:
            return False
        module = module_name(Path(name), self.root)
        is_package = name.endswith("__init__.py")
        for function in entry[4].get("functions", {}).values():
            for call in function[5]:
                found = after.lookup(call[1], module, is_package)
                if found is not None and found != before.lookup(call[1], module, is_package):
                    return True
        return False

    def summarized(self, name: str) -> bool:
        return os.path.abspath(name) in self.entries

    def update(self, results: Mapping[int, Any], names: list[str], stats: Mapping[int, tuple[int, int]]) -> None:
        for index, result in results.items():
            if result.facts is None or result.digest is None or index not in stats:
                continue  # from the results cache: the entry recorded with it still holds
            imports, summary = result.facts
            key = os.path.abspath(names[index])
            self._imports[key] = tuple(imports)
            if summary is None:
                # Only summaries are kept: the store stays small enough to read in every run. A
                # module summarised for its classes (`_summarize_bases`) sends nothing itself, so
                # its check finds no summary: the entry holds while the file is the same (and
                # the entry is not one another version of the checker made, marked stale).
                entry = self.entries.get(key)
                if entry is not None and (entry[2] != result.digest or entry[0] == -1):
                    del self.entries[key]
                    self.dirty, self._table = True, None
                continue
            entry = (*stats[index], result.digest, tuple(imports), summary)
            if self.entries.get(key) != entry:
                self.entries[key] = entry
                self.dirty = True
                self._table = None

    def sinks(self, skip: Iterable[str] = ()) -> SinkTable:
        """The sink table from every summary still current; ``skip``: files about to be
        checked (their summaries are refreshed by the check itself)."""
        skipped = {name if os.path.isabs(name) else os.path.abspath(name) for name in skip} if self.entries else set()
        for key, entry in list(self.entries.items()):
            if key in skipped:
                continue
            try:
                stat = os.stat(key)
            except OSError:
                del self.entries[key]
                self.dirty, self._table = True, None
                continue
            if (stat.st_size, stat.st_mtime_ns) != (entry[0], entry[1]):
                self._refresh(key, stat)
        if self._table is None:
            # A saved table was built after its entries' bases were looked for: with the same
            # entries, and the base modules that gave no summary unchanged, that search finds
            # nothing new (it costs a one-file pre-commit run as much as the check).
            if self._saved_table is not None and not self.dirty and self._misses_unchanged():
                saved_sinks, aliases = self._saved_table
                self._table = SinkTable({name: Sink(*fields) for name, fields in saved_sinks.items()})
                self._table.aliases = frozenset(aliases)
            else:
                self._summarize_bases()
        if self._table is None:
            summaries = {}
            for key, entry in self.entries.items():
                if entry[4] is None:
                    continue
                path = Path(key)
                module = module_name(path, self.root)
                if module is None:
                    continue
                try:
                    display = path.relative_to(self.root).as_posix()
                except ValueError:
                    display = key
                summaries[module] = (display, path.name == "__init__.py", entry[4])
            self._table = build_sinks(summaries)
            self.dirty = True  # the table is saved with the entries it was built from
        return self._table

    def refresh_files(self, names: Iterable[str]) -> None:
        """Summarise the files among ``names`` the store has no entry for (files never checked):
        the inventory of call sites knows a project's direct wrappers without a check run first."""
        for name in names:
            key = os.path.abspath(name)
            if key in self.entries:
                continue  # stale entries are refreshed by sinks()
            try:
                stat = os.stat(key)
            except OSError:
                continue
            self._refresh(key, stat)

    def _misses_unchanged(self) -> bool:
        for key, seen in self._misses.items():
            try:
                stat = os.stat(key)
            except OSError:
                return False
            if (stat.st_size, stat.st_mtime_ns) != seen:
                return False
        return True

    def _summarize_bases(self, rounds: int = 4) -> None:
        """Summarise the modules defining the base classes and attribute types of summarised
        classes (`Action` for `class WriteCode(Action)`, `BaseLLM` for `llm: BaseLLM`): they
        often hold no SDK text, yet the methods the calls reach are theirs."""
        tried = self._tried  # (module, directory) pairs looked for in this run, found or not
        for _ in range(rounds):
            wanted: set[str] = set()
            for key, entry in self.entries.items():
                classes = (entry[4] or {}).get("classes")
                if not classes:
                    continue
                module = module_name(Path(key), self.root)
                if module is None:
                    continue
                is_package = key.endswith("__init__.py")
                functions = entry[4].get("functions", {})
                sending = {key_.partition(".")[0] for key_, function in functions.items() if function[4] and "." in key_}
                for name, (bases, attributes, methods, _) in classes.items():
                    # Only where it can matter: the class sends (its bases may declare what it
                    # overrides) or calls `self.x...` that the class itself does not define.
                    sends = name in sending
                    through = _undefined_steps(name, methods, functions)
                    paths = [*bases] if sends or through else []
                    paths += [kind for attr, kind in attributes.items() if attr in through]
                    for path in paths:
                        absolute = _absolute_class(path, module, is_package)
                        if absolute and absolute.rpartition(".")[0] != module:
                            wanted.add((absolute.rpartition(".")[0], os.path.dirname(key)))
            files = [f for f in (self._module_file(m, near) for m, near in wanted - tried) if f and f not in self.entries]
            tried |= wanted
            parsed = False
            for key in files:
                try:
                    stat = os.stat(key)
                except OSError:
                    continue
                if self._misses.get(key) == (stat.st_size, stat.st_mtime_ns):
                    continue  # looked at in an earlier run, unchanged: still no summary
                self._refresh(key, stat, always=True)
                parsed = True
                if key not in self.entries:
                    self._misses[key] = (stat.st_size, stat.st_mtime_ns)
                    self.dirty = True
            if not parsed:
                return

    def _module_file(self, module: str, near: str) -> Optional[str]:
        """The file of a dotted module as imported from a file in directory ``near``: the import
        root is that directory or one above it, up to the project root (`src/` layouts, vendored
        packages)."""
        parts = module.split(".")
        root = os.path.abspath(self.root)
        base = near
        while True:
            for candidate in (os.path.join(base, *parts) + ".py", os.path.join(base, *parts, "__init__.py")):
                if os.path.isfile(candidate):
                    return candidate
            if base == root or len(base) <= len(root):
                return None
            base = os.path.dirname(base)

    def _refresh(self, key: str, stat: os.stat_result, always: bool = False) -> None:
        from checker.cache import digest
        from checker.engine import RuleSet, defer_libcst_import

        defer_libcst_import()  # summarize_tree reads `ast` trees; its module imports libcst (0.35 s)

        try:
            with open(key, "rb") as handle:
                data = handle.read()
        except OSError:
            return
        summary = None
        if always or RuleSet([]).may_call_llm(data):
            try:
                summary = summarize_tree(ast.parse(data), exports=always)
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                summary = None
        if summary is None:
            self.entries.pop(key, None)
        else:
            self.entries[key] = (stat.st_size, stat.st_mtime_ns, digest(data), imported_modules(data), summary)
        self.dirty, self._table = True, None

    def save(self) -> None:
        if not self.dirty or self.path is None:
            return
        from checker.cache import write_marshal

        table = None
        if self._table is not None:  # built from (or loaded with) the entries as they are now
            table = ({name: tuple(vars(sink).values()) for name, sink in self._table.sinks.items()},
                     tuple(sorted(self._table.aliases)))
        payload = {"signature": _checker_signature(), "entries": self.entries, "misses": self._misses, "table": table}
        try:
            write_marshal(self.path, payload)
        except OSError:
            pass  # a read-only checkout still gets its results


def _checker_signature() -> str:
    """The checker's code (checker.cache): summaries made by another version are made again."""
    from checker.cache import code_signature

    return code_signature()
