"""Find the LLM API calls in a module, as they are really written.

Every rule and, later, budget coverage share this finder, so it resolves what a call is through
imports and simple data flow inside one module instead of matching the text
``client.chat.completions.create``:

- imports under any alias, including imports inside functions (``from litellm import completion``);
- clients bound to names, to ``self.<attr>`` (in ``__init__`` or any method of the same class), to
  class-body fields, ``with`` targets and annotated parameters (``client: OpenAI``);
- bound methods stored and called later (``create = client.chat.completions.create``);
- clients wrapped by helpers that return the same client (``instructor.patch``, ``from_openai``,
  LangSmith's ``wrap_openai``) and request-scoped views (``with_options()``, ``with_raw_response``);
- keyword arguments passed through ``**params`` when ``params`` is a dict literal or ``dict(...)``
  built in the same scope, including keys added later with ``params["max_tokens"] = ...``,
  ``params.update(...)`` or ``params.setdefault(...)``.

The data flow is deliberately simple: a name resolves to the nearest earlier binding in its scope
(falling back to later ones, then to enclosing scopes) whose value the finder understands. Anything
the finder cannot see through is left unresolved so that rules stay silent rather than guess.

Values are represented as dotted *paths* rooted at a module: ``openai.OpenAI().chat.completions``
means "the ``chat.completions`` attribute of an instance of ``openai.OpenAI``".
"""

from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Optional, Union

__all__ = [
    "LLMCall",
    "CallFinder",
    "CALL_TRIGGERS",
    "API_CAP_NAMES",
    "find_llm_calls",
]

from checker.triggers import CALL_TRIGGERS  # noqa: E402 - re-exported
from checker.summaries import LOCAL  # noqa: E402

_BUILTIN_NAMES: frozenset[str] = frozenset(vars(builtins))

# Output-cap keyword names accepted by each API (first one is what a fix inserts).
API_CAP_NAMES: dict[str, tuple[str, ...]] = {
    "openai.chat": ("max_completion_tokens", "max_tokens"),
    "openai.responses": ("max_output_tokens",),
    "openai.completions": ("max_tokens",),
    "anthropic.messages": ("max_tokens",),
    "anthropic.completions": ("max_tokens_to_sample",),
    "litellm.completion": ("max_tokens", "max_completion_tokens"),
    "langchain.chat_model": ("max_tokens", "max_completion_tokens", "max_tokens_to_sample"),
    "langchain.bind": ("max_tokens", "max_completion_tokens", "max_tokens_to_sample"),
}

# Keyword names that carry the model for each API family (first match wins).
_MODEL_KEYWORDS: tuple[str, ...] = ("model", "model_name", "deployment_name", "azure_deployment")

# Functions returning (a proxy of) their first argument: the client they wrap.
_CLIENT_WRAPPERS: frozenset[str] = frozenset(
    {
        "instructor.patch",
        "instructor.apatch",
        "instructor.from_openai",
        "instructor.from_anthropic",
        "instructor.from_litellm",
        "langsmith.wrappers.wrap_openai",
        "langsmith.wrappers.wrap_anthropic",
        "langfuse.openai.OpenAI",
        "weave.op",
    }
)

# Attribute steps that return a view of the same client or resource.
_TRANSPARENT_STEPS: frozenset[str] = frozenset(
    {"with_options()", "with_raw_response", "with_streaming_response", "copy()"}
)

_OPENAI_CLIENT = re.compile(r"^openai(?:\.[A-Za-z_][\w.]*)?\.(?:Async)?(?:Azure)?OpenAI\(\)\.(?P<rest>.+)$")
_ANTHROPIC_CLIENT = re.compile(
    r"^anthropic(?:\.[A-Za-z_][\w.]*)?\.(?:Async)?Anthropic(?:Bedrock|Vertex)?\(\)\.(?P<rest>.+)$"
)
_OPENAI_METHODS: dict[str, str] = {
    "chat.completions.create": "openai.chat",
    "chat.completions.acreate": "openai.chat",
    "chat.completions.parse": "openai.chat",
    "chat.completions.stream": "openai.chat",
    "beta.chat.completions.create": "openai.chat",
    "beta.chat.completions.parse": "openai.chat",
    "beta.chat.completions.stream": "openai.chat",
    "responses.create": "openai.responses",
    "responses.parse": "openai.responses",
    "responses.stream": "openai.responses",
    "completions.create": "openai.completions",
}
# Only reachable on the ``openai`` module itself (SDK < 1.0).
_OPENAI_LEGACY: dict[str, str] = {
    "ChatCompletion.create": "openai.chat",
    "ChatCompletion.acreate": "openai.chat",
    "Completion.create": "openai.completions",
    "Completion.acreate": "openai.completions",
}
_ANTHROPIC_METHODS: dict[str, str] = {
    "messages.create": "anthropic.messages",
    "messages.stream": "anthropic.messages",
    "messages.parse": "anthropic.messages",
    "beta.messages.create": "anthropic.messages",
    "beta.messages.stream": "anthropic.messages",
    "beta.messages.parse": "anthropic.messages",
    "completions.create": "anthropic.completions",
}
_LITELLM_FUNCTIONS: dict[str, str] = {
    "litellm.completion": "litellm.completion",
    "litellm.acompletion": "litellm.completion",
    "litellm.text_completion": "litellm.completion",
    "litellm.atext_completion": "litellm.completion",
    "litellm.Router().completion": "litellm.completion",
    "litellm.Router().acompletion": "litellm.completion",
}
_LANGCHAIN_CHAT_MODELS: frozenset[str] = frozenset(
    {"ChatOpenAI", "AzureChatOpenAI", "ChatAnthropic", "ChatLiteLLM"}
)
# Suffixes recognised on receivers the finder cannot resolve (a client passed in as a parameter).
# ``chat.completions`` is specific to OpenAI-shaped SDKs; ``messages`` and ``responses`` are too
# generic (Twilio has ``client.messages.create``) and need the provider imported in the module.
_UNRESOLVED_SUFFIXES: tuple[tuple[re.Pattern[str], str, Optional[str]], ...] = (
    (re.compile(r"(?:^|\.)(?:beta\.)?chat\.completions\.(?:create|acreate|parse|stream)$"), "openai.chat", None),
    (re.compile(r"(?:^|\.)responses\.(?:create|parse|stream)$"), "openai.responses", "openai"),
    (re.compile(r"(?:^|\.)(?:beta\.)?messages\.(?:create|stream|parse)$"), "anthropic.messages", "anthropic"),
)


@dataclass(eq=False)
class LLMCall:
    """One call site of an LLM API.

    ``keywords`` holds every keyword argument the finder could see, including those that arrive
    through ``**params`` built in the same scope; ``keyword_nodes`` says where each was written:
    the ``ast.keyword``; for a key of a dict literal (``params = {...}``, ``dict({...})``,
    ``params.update({...})``) a synthetic ``ast.keyword`` running from the key's start to the
    value's end; for ``params["k"] = v`` the ``ast.Subscript`` target; for ``setdefault`` the
    call; for a positional model (LiteLLM, LangChain) the argument itself.
    ``has_unknown_star_kwargs`` is true when a ``**expr`` was passed whose content the finder
    cannot know: rules should then stay silent about missing arguments unless ``strict`` is
    configured.
    """

    node: ast.Call
    api: str  # "openai.chat" | "openai.responses" | "openai.completions" | "anthropic.messages" | ...
    provider: str  # "openai" | "anthropic" | "litellm" | "langchain"
    method: str  # last attribute of the callee: "create", "stream", "parse", "completion", "ChatOpenAI", "bind"...
    qualified_name: str  # resolved dotted path of the callee, e.g. "openai.OpenAI().chat.completions.create"
    keywords: dict[str, ast.expr]
    keyword_nodes: dict[str, ast.AST]
    has_unknown_star_kwargs: bool
    star_kwargs: list[ast.keyword]  # the ``**x`` keywords of the call itself
    resolved: bool  # False when matched only by the shape of an unresolved receiver
    is_legacy: bool = False  # openai < 1.0 module-level API (openai.ChatCompletion.create ...)
    model_expr: Optional[ast.expr] = None
    model_literal: Optional[str] = None
    cap_names: tuple[str, ...] = ()
    # For ``.bind(...)`` on a LangChain chat model: the constructor call it binds to, when known.
    bound_constructor: Optional[ast.Call] = None
    # For LangChain constructors: ``.bind(...)`` calls on the same instance.
    binds: list["LLMCall"] = field(default_factory=list)

    @property
    def cap(self) -> Optional[tuple[str, ast.expr]]:
        """The output cap argument (name, value) passed to this call, if any."""
        for name in self.cap_names:
            if name in self.keywords:
                return name, self.keywords[name]
        return None

    @property
    def is_async(self) -> bool:
        return self.method.startswith("a") and self.method in {"acreate", "acompletion", "atext_completion"}


# --- values ---------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class _Value:
    path: str
    origin: Optional[ast.Call] = None  # the constructor call that created this instance, if any


@dataclass(eq=False)
class _DictValue:
    """A dict literal / ``dict(...)`` bound to a name: its string keys and their value nodes."""

    items: dict[str, tuple[ast.expr, ast.AST]]
    unknown: bool  # has ``**other`` or non-literal keys


_Resolved = Union[_Value, _DictValue, None]


@dataclass(eq=False)
class _Binding:
    order: int
    scope: "_Scope"
    expr: Optional[ast.AST]  # expression node to evaluate, or None for "unknown value"
    kind: str = "expr"  # "expr" | "import" | "annotation" | "dict_mutation"
    path: Optional[str] = None  # for imports: the qualified name


@dataclass(eq=False)
class _Scope:
    kind: str  # "module" | "function" | "class"
    parent: Optional["_Scope"]
    node: Optional[ast.AST] = None
    bindings: dict[str, list[_Binding]] = field(default_factory=dict)
    # For classes: attributes assigned through ``self.x = ...`` in methods and class-body fields.
    attrs: dict[str, list[_Binding]] = field(default_factory=dict)
    # For methods: the class scope and the name of the ``self`` parameter.
    owner_class: Optional["_Scope"] = None
    self_name: Optional[str] = None
    # Mutations of dicts bound to names: name -> [(order, key, value expr, node)], None key = unknown.
    dict_mutations: dict[str, list[tuple[int, Optional[str], Optional[ast.expr], ast.AST]]] = field(
        default_factory=dict
    )

    def bind(self, name: str, binding: _Binding) -> None:
        self.bindings.setdefault(name, []).append(binding)


def dotted(node: Optional[ast.AST]) -> Optional[str]:
    """``a.b.c`` for Name/Attribute chains, else None."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def _string_value(node: Optional[ast.AST]) -> Optional[str]:
    if type(node) is ast.Constant and type(node.value) is str:  # type: ignore[union-attr]
        return node.value  # type: ignore[union-attr]
    return None


def _import_module_name(node: ast.ImportFrom) -> Optional[str]:
    """The module imported from; relative imports (the project's own modules) keep their leading
    dots (``.llm``, ``.`` for ``from . import x``), resolved against the file's module later."""
    if node.level:
        return "." * node.level + (node.module or "")
    return node.module


def _before(a: ast.AST, b: ast.AST) -> bool:
    return (a.lineno, a.col_offset) < (b.lineno, b.col_offset)  # type: ignore[attr-defined]


def _source_args(node: ast.Call) -> list[tuple[Optional[str], str, ast.expr, ast.AST]]:
    """The call's arguments in source order as ``(keyword, star, value, node)``, star being
    ``""``, ``"*"`` or ``"**"`` (``f(a=1, *b)`` puts a keyword before a positional)."""
    merged: list[tuple[Optional[str], str, ast.expr, ast.AST]] = []
    for arg in node.args:
        if type(arg) is ast.Starred:
            merged.append((None, "*", arg.value, arg))
        else:
            merged.append((None, "", arg, arg))
    for keyword in node.keywords:
        merged.append((keyword.arg, "" if keyword.arg is not None else "**", keyword.value, keyword))
    if node.args and node.keywords and _before(node.keywords[0], node.args[-1]):
        merged.sort(key=lambda item: (item[3].lineno, item[3].col_offset))  # type: ignore[attr-defined]
    return merged


def _leading_positional(node: ast.Call) -> Optional[ast.expr]:
    """The first argument in source order when it is a plain positional one (no ``*``)."""
    if not node.args:
        return None
    first = node.args[0]
    if type(first) is ast.Starred or (node.keywords and _before(node.keywords[0], first)):
        return None
    return first


def _subscript_key(target: ast.Subscript) -> Optional[str]:
    return _string_value(target.slice)


# --- the walk ---------------------------------------------------------------------------------

# Fields that never hold a child worth visiting (names, operators, contexts, flags).
_SKIPPED_FIELDS = frozenset(
    {"ctx", "op", "ops", "id", "attr", "arg", "module", "level", "names", "kind", "conversion",
     "type_comment", "is_async", "asname"}
)  # fmt: skip
_child_fields_cache: dict[type, tuple[str, ...]] = {}
_LEAF_TYPES = (ast.Constant, ast.Import, ast.ImportFrom, ast.Global, ast.Nonlocal, ast.Pass, ast.Break, ast.Continue)
_LEAVE = object()  # stack marker: the scope opened by the node below it ends here


def _generic_children(node: ast.AST) -> list[ast.AST]:
    fields = _child_fields_cache.get(type(node))
    if fields is None:
        fields = _child_fields_cache[type(node)] = tuple(f for f in node._fields if f not in _SKIPPED_FIELDS)
    children: list[ast.AST] = []
    for name in fields:
        value = getattr(node, name, None)
        if type(value) is list:
            for item in value:
                if isinstance(item, ast.AST):
                    children.append(item)
        elif isinstance(value, ast.AST):
            children.append(value)
    return children


def _param_children(params: ast.arguments) -> list[ast.AST]:
    """Annotations and defaults, in the order the finder has always numbered them (regular
    parameters, ``*args``, keyword-only, ``**kwargs``, then positional-only ones)."""
    positional = params.posonlyargs + params.args
    first_default = len(positional) - len(params.defaults)
    defaults: dict[int, ast.expr] = {id(positional[first_default + i]): d for i, d in enumerate(params.defaults)}
    for arg, default in zip(params.kwonlyargs, params.kw_defaults):
        if default is not None:
            defaults[id(arg)] = default
    ordered = [*params.args, params.vararg, *params.kwonlyargs, params.kwarg, *params.posonlyargs]
    children: list[ast.AST] = []
    for arg in ordered:
        if arg is None:
            continue
        if arg.annotation is not None:
            children.append(arg.annotation)
        default = defaults.get(id(arg))
        if default is not None:
            children.append(default)
    return children


def _children(node: ast.AST) -> list[ast.AST]:
    """A node's children in walk order: source order, except where the finder's numbering has
    always been by field (a function's body before its decorators and return annotation, a
    class's body before its bases, a handler's body before its exception type)."""
    kind = type(node)
    if kind is ast.Call:
        children: list[ast.AST] = [node.func]  # type: ignore[attr-defined]
        if node.args and node.keywords and _before(node.keywords[0], node.args[-1]):  # type: ignore[attr-defined]
            children.extend(sorted([*node.args, *node.keywords], key=lambda n: (n.lineno, n.col_offset)))  # type: ignore[attr-defined]
        else:
            children.extend(node.args)  # type: ignore[attr-defined]
            children.extend(node.keywords)  # type: ignore[attr-defined]
        return children
    if kind is ast.FunctionDef or kind is ast.AsyncFunctionDef:
        children = _param_children(node.args)  # type: ignore[attr-defined]
        children.extend(node.body)  # type: ignore[attr-defined]
        children.extend(node.decorator_list)  # type: ignore[attr-defined]
        if node.returns is not None:  # type: ignore[attr-defined]
            children.append(node.returns)  # type: ignore[attr-defined]
        children.extend(getattr(node, "type_params", ()))
        return children
    if kind is ast.Lambda:
        children = _param_children(node.args)  # type: ignore[attr-defined]
        children.append(node.body)  # type: ignore[attr-defined]
        return children
    if kind is ast.ClassDef:
        return [*node.body, *node.bases, *node.keywords, *node.decorator_list,  # type: ignore[attr-defined]
                *getattr(node, "type_params", ())]
    if kind is ast.Dict:
        children = []
        for key, value in zip(node.keys, node.values):  # type: ignore[attr-defined]
            if key is not None:
                children.append(key)
            children.append(value)
        return children
    if kind is ast.ExceptHandler:
        children = list(node.body)  # type: ignore[attr-defined]
        if node.type is not None:  # type: ignore[attr-defined]
            children.append(node.type)  # type: ignore[attr-defined]
        return children
    if kind is ast.match_case:
        children = [node.pattern, *node.body]  # type: ignore[attr-defined]
        if node.guard is not None:  # type: ignore[attr-defined]
            children.append(node.guard)  # type: ignore[attr-defined]
        return children
    return _generic_children(node)


class _Collector:
    """One walk recording scopes, bindings and call nodes, each with its source order
    (an explicit stack: deeply nested code cannot hit the recursion limit)."""

    def __init__(self) -> None:
        self.order = 0
        self.module_scope = _Scope("module", None)
        self.scope = self.module_scope
        self.scopes: list[_Scope] = [self.module_scope]
        self.calls: list[tuple[ast.Call, _Scope, int]] = []
        self.node_scope: dict[ast.AST, tuple[_Scope, int]] = {}
        self.imported_roots: set[str] = set()
        self._handlers = {
            ast.ClassDef: self._class,
            ast.FunctionDef: self._function,
            ast.AsyncFunctionDef: self._function,
            ast.Lambda: self._lambda,
            ast.Import: self._import,
            ast.ImportFrom: self._import_from,
            ast.Assign: self._assign,
            ast.AnnAssign: self._ann_assign,
            ast.AugAssign: self._aug_assign,
            ast.withitem: self._with_item,
            ast.For: self._for,
            ast.AsyncFor: self._for,
            ast.NamedExpr: self._named_expr,
            ast.Call: self._call,
        }

    def run(self, tree: ast.AST) -> None:
        stack: list[object] = [tree]
        pop = stack.pop
        push = stack.append
        extend = stack.extend
        handlers = self._handlers
        node_scope = self.node_scope
        name_type, attribute_type = ast.Name, ast.Attribute
        while stack:
            node = pop()
            if node is _LEAVE:
                self.scope = self.scope.parent  # type: ignore[assignment]
                continue
            kind = type(node)
            if kind is name_type:
                node_scope[node] = (self.scope, self.order)  # type: ignore[index]
                continue
            if kind is attribute_type:
                node_scope[node] = (self.scope, self.order)  # type: ignore[index]
                push(node.value)  # type: ignore[attr-defined]
                continue
            handler = handlers.get(kind)
            if handler is not None:
                if handler(node):
                    push(_LEAVE)
                if kind in _LEAF_TYPES:
                    continue
            elif kind in _LEAF_TYPES:
                continue
            children = _children(node)  # type: ignore[arg-type]
            children.reverse()
            extend(children)

    def _enter(self, scope: _Scope) -> None:
        self.scope = scope
        self.scopes.append(scope)

    # -- scopes (a handler returning True opened a scope that ends with the node) --------
    def _class(self, node: ast.ClassDef) -> bool:
        self._tick()
        # The module's own classes and functions resolve to `<module>.name` (checker.summaries
        # resolves it against the file's module, for calls of the project's LLM wrappers).
        top = self.scope.kind == "module"
        self.scope.bind(node.name, _Binding(self.order, self.scope, None, "import" if top else "expr",
                                            f"{LOCAL}.{node.name}" if top else None))
        self._enter(_Scope("class", self.scope, node))
        return True

    def _function(self, node: Union[ast.FunctionDef, ast.AsyncFunctionDef]) -> bool:
        self._tick()
        name = node.name
        if self.scope.kind == "module":
            self.scope.bind(name, _Binding(self.order, self.scope, None, "import", f"{LOCAL}.{name}"))
        else:
            self.scope.bind(name, _Binding(self.order, self.scope, None))
        outer = self.scope
        if outer.kind == "class" and outer.parent is not None and outer.parent.kind == "module" \
                and isinstance(outer.node, ast.ClassDef) and name not in outer.attrs:
            # `self.aask(...)` inside the class: the method of an instance of this class
            outer.attrs[name] = [_Binding(self.order, outer, None, "import", f"{LOCAL}.{outer.node.name}().{name}")]
        new = _Scope("function", self.scope, node)
        params = node.args
        if self.scope.kind == "class":
            new.owner_class = self.scope
            first = params.args or params.posonlyargs
            if first:
                new.self_name = first[0].arg
        elif self.scope.kind == "function" and self.scope.owner_class is not None:
            # nested function inside a method still sees ``self`` through the closure
            new.owner_class = self.scope.owner_class
            new.self_name = self.scope.self_name
        self._enter(new)
        for param in _all_params(params):
            expr = param.annotation
            kind = "annotation" if expr is not None else "expr"
            new.bind(param.arg, _Binding(self.order, new, expr, kind))
        return True

    def _lambda(self, node: ast.Lambda) -> bool:
        self._tick()
        new = _Scope("function", self.scope, node)
        self._enter(new)
        for param in _all_params(node.args):
            new.bind(param.arg, _Binding(self.order, new, None))
        return True

    # -- bindings ------------------------------------------------------------------------
    def _import(self, node: ast.Import) -> bool:
        self._tick()
        for alias in node.names:
            full = alias.name
            root = full.split(".")[0]
            self.imported_roots.add(root)
            if alias.asname is not None:
                self.scope.bind(alias.asname, _Binding(self.order, self.scope, None, "import", full))
            else:
                self.scope.bind(root, _Binding(self.order, self.scope, None, "import", root))
        return False

    def _import_from(self, node: ast.ImportFrom) -> bool:
        self._tick()
        module = _import_module_name(node)
        if module is not None and not module.startswith("."):
            self.imported_roots.add(module.split(".")[0])
        for alias in node.names:
            name = alias.name
            if name == "*":
                return False
            local = alias.asname or name
            path = None if module is None else f"{module}{name}" if module.endswith(".") else f"{module}.{name}"
            self.scope.bind(local, _Binding(self.order, self.scope, None, "import" if path else "expr", path))
        return False

    def _assign(self, node: ast.Assign) -> bool:
        self._tick()
        for target in node.targets:
            self._bind_target(target, node.value)
        return False

    def _ann_assign(self, node: ast.AnnAssign) -> bool:
        self._tick()
        if node.value is not None:
            self._bind_target(node.target, node.value)
        else:
            self._bind_target(node.target, node.annotation, kind="annotation")
        return False

    def _aug_assign(self, node: ast.AugAssign) -> bool:
        self._tick()
        if isinstance(node.target, ast.Name):
            self.scope.bind(node.target.id, _Binding(self.order, self.scope, None))
        return False

    def _with_item(self, node: ast.withitem) -> bool:
        self._tick()
        if node.optional_vars is not None:
            self._bind_target(node.optional_vars, node.context_expr)
        return False

    def _for(self, node: Union[ast.For, ast.AsyncFor]) -> bool:
        self._tick()
        self._bind_target(node.target, None)
        return False

    def _named_expr(self, node: ast.NamedExpr) -> bool:
        self._tick()
        self._bind_target(node.target, node.value)
        return False

    def _bind_target(self, target: ast.AST, value: Optional[ast.AST], kind: str = "expr") -> None:
        if isinstance(target, ast.Name):
            self.scope.bind(target.id, _Binding(self.order, self.scope, value, kind))
            # class-body names double as attributes reachable through ``self``
            if self.scope.kind == "class":
                self.scope.attrs.setdefault(target.id, []).append(_Binding(self.order, self.scope, value, kind))
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self._bind_target(element.value if isinstance(element, ast.Starred) else element, None)
        elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
            fn = self.scope
            if fn.kind == "function" and fn.owner_class is not None and target.value.id == fn.self_name:
                fn.owner_class.attrs.setdefault(target.attr, []).append(
                    _Binding(self.order, self.scope, value, kind)
                )
        elif isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name) and value is not None:
            key = _subscript_key(target)
            self.scope.dict_mutations.setdefault(target.value.id, []).append(
                (self.order, key, value if isinstance(value, ast.expr) else None, target)
            )

    # -- calls ---------------------------------------------------------------------------
    def _call(self, node: ast.Call) -> bool:
        self._tick()
        self.calls.append((node, self.scope, self.order))
        self.node_scope[node] = (self.scope, self.order)
        # dict mutation through methods: params.update(...), params.setdefault("k", v)
        func = node.func
        if type(func) is ast.Attribute and type(func.value) is ast.Name:
            method = func.attr
            if method == "update":
                name = func.value.id
                for arg in node.args:
                    if type(arg) is ast.Dict:
                        for key, value in zip(arg.keys, arg.values):
                            if key is not None:
                                self._mutate(name, _string_value(key), value, _entry(key, value))
                            else:
                                self._mutate(name, None, None, value)
                    else:
                        self._mutate(name, None, None, arg)
                for keyword in node.keywords:
                    if keyword.arg is not None:
                        self._mutate(name, keyword.arg, keyword.value, keyword)
                    else:
                        self._mutate(name, None, None, keyword)
            elif method == "setdefault" and (node.args or node.keywords):
                arguments = _source_args(node)
                key = _string_value(arguments[0][2])
                value = arguments[1][2] if len(arguments) > 1 else None
                self._mutate(func.value.id, key, value, node)
        return False

    def _mutate(self, name: str, key: Optional[str], value: Optional[ast.expr], where: ast.AST) -> None:
        self.scope.dict_mutations.setdefault(name, []).append((self.order, key, value, where))

    def _tick(self) -> None:
        self.order += 1


def _entry(key: ast.expr, value: ast.expr) -> ast.keyword:
    """A dict entry as a keyword argument: where ``**params`` got that key, from the key's start
    to the value's end (the entry of a literal has no node of its own in ``ast``)."""
    return ast.keyword(arg=_string_value(key), value=value, lineno=key.lineno, col_offset=key.col_offset,
                       end_lineno=value.end_lineno, end_col_offset=value.end_col_offset)


def _all_params(params: ast.arguments) -> Iterator[ast.arg]:
    yield from params.posonlyargs
    yield from params.args
    if params.vararg is not None:
        yield params.vararg
    yield from params.kwonlyargs
    if params.kwarg is not None:
        yield params.kwarg


class CallFinder:
    """Resolves expressions of one module (a CPython ``ast`` tree) and lists its LLM calls.

    The walk over the tree runs when the finder is built; :attr:`calls` is computed on first access.
    """

    def __init__(self, tree: ast.AST) -> None:
        self.tree = tree
        self.module = tree
        collector = _Collector()
        collector.run(tree)
        self._collector = collector
        self._evaluating: set[int] = set()
        self._calls: Optional[list[LLMCall]] = None
        self._entries: dict[int, ast.keyword] = {}

    @property
    def imported_roots(self) -> set[str]:
        """Top-level package names imported anywhere in the module (``openai``, ``litellm``...)."""
        return self._collector.imported_roots

    # -- public resolution -----------------------------------------------------------------
    def qualified_name(self, node: ast.AST) -> Optional[str]:
        """Resolved dotted path of a Name/Attribute/Call expression, e.g. ``"tiktoken.get_encoding"``
        for ``enc_get`` after ``from tiktoken import get_encoding as enc_get``; ``"openai.OpenAI()"``
        for a client instance. None when unknown."""
        where = self._collector.node_scope.get(node)
        if where is None:
            return None
        value = self._eval(node, where[0], where[1])
        return value.path if isinstance(value, _Value) else None

    def instance_path(self, node: ast.AST) -> Optional[str]:
        """`<module>.Cls().a.b` for `self.a.b` in a method of the top-level class `Cls`, where the
        class itself does not say what `self.a` is (inherited, or set by a framework): the
        project's class hierarchy (checker.summaries) may."""
        steps: list[str] = []
        while isinstance(node, ast.Attribute):
            steps.append(node.attr)
            node = node.value
        where = self._collector.node_scope.get(node)
        if not steps or not isinstance(node, ast.Name) or where is None:
            return None
        scope = where[0]
        owner = scope.owner_class
        if scope.kind != "function" or owner is None or node.id != scope.self_name \
                or owner.parent is None or owner.parent.kind != "module" or not isinstance(owner.node, ast.ClassDef):
            return None
        return ".".join([f"{LOCAL}.{owner.node.name}()", *reversed(steps)])

    @property
    def call_nodes(self) -> list[ast.Call]:
        """Every call of the module, in source order."""
        return [node for node, _, _ in self._collector.calls]

    @property
    def calls(self) -> list[LLMCall]:
        if self._calls is None:
            self._calls = self._find_calls()
        return self._calls

    # -- evaluation ------------------------------------------------------------------------
    def _lookup(self, name: str, scope: _Scope, order: int) -> _Resolved:
        current: Optional[_Scope] = scope
        first = True
        while current is not None:
            if current.kind == "class" and not first:
                current = current.parent  # class bodies are not enclosing scopes for methods
                continue
            bindings = current.bindings.get(name)
            if bindings:
                return self._resolve_bindings(bindings, order if first else None)
            current = current.parent
            first = False
        if name in _BUILTIN_NAMES:
            return _Value("builtins." + name)
        return None

    def _resolve_bindings(self, bindings: list[_Binding], order: Optional[int]) -> _Resolved:
        # nearest earlier binding first, then later ones (loops, functions called after module init)
        if order is None:
            candidates = list(reversed(bindings))
        else:
            earlier = [b for b in bindings if b.order < order]
            later = [b for b in bindings if b.order >= order]
            candidates = list(reversed(earlier)) + later
        for binding in candidates:
            value = self._eval_binding(binding)
            if value is not None:
                return value
        return None

    def _eval_binding(self, binding: _Binding) -> _Resolved:
        if binding.kind == "import":
            return _Value(binding.path) if binding.path else None
        if binding.expr is None:
            return None
        if binding.kind == "annotation":
            value = self._eval_annotation(binding.expr, binding.scope, binding.order)
            return _Value(value.path + "()") if value is not None else None
        return self._eval(binding.expr, binding.scope, binding.order)

    def _eval_annotation(self, node: ast.AST, scope: _Scope, order: int) -> Optional[_Value]:
        # ``OpenAI``, ``"OpenAI"``, ``Optional[OpenAI]``, ``OpenAI | None``
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            return self._eval_annotation(node.left, scope, order) or self._eval_annotation(node.right, scope, order)
        if isinstance(node, ast.Subscript):
            base = self._eval(node.value, scope, order)
            if isinstance(base, _Value) and base.path in {"typing.Optional", "typing.Union"}:
                elements = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
                for element in elements:
                    if not isinstance(element, ast.Slice):
                        found = self._eval_annotation(element, scope, order)
                        if found is not None:
                            return found
            return None
        text = _string_value(node)
        if text is not None:
            try:
                parsed = ast.parse(text, mode="eval").body
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                return None
            name = dotted(parsed)
            if name is None:
                return None
            head, _, tail = name.partition(".")
            value = self._lookup(head, scope, order)
            if isinstance(value, _Value):
                return _Value(value.path + ("." + tail if tail else ""))
            return None
        value = self._eval(node, scope, order)
        return value if isinstance(value, _Value) else None

    def _eval(self, node: ast.AST, scope: _Scope, order: int) -> _Resolved:
        key = id(node)
        if key in self._evaluating:
            return None  # cyclic data flow (x = x.y): give up rather than recurse forever
        self._evaluating.add(key)
        try:
            return self._eval_inner(node, scope, order)
        finally:
            self._evaluating.discard(key)

    def _eval_inner(self, node: ast.AST, scope: _Scope, order: int) -> _Resolved:
        kind = type(node)
        if kind is ast.Name:
            return self._lookup(node.id, scope, order)  # type: ignore[attr-defined]
        if kind is ast.Attribute:
            value = node.value  # type: ignore[attr-defined]
            if type(value) is ast.Name and scope.kind == "function" and scope.owner_class is not None:
                if value.id == scope.self_name:
                    bindings = scope.owner_class.attrs.get(node.attr)  # type: ignore[attr-defined]
                    if bindings:
                        return self._resolve_bindings(bindings, None)
                    return None
            base = self._eval(value, scope, order)
            if isinstance(base, _Value):
                step = node.attr  # type: ignore[attr-defined]
                if step in _TRANSPARENT_STEPS:
                    return base
                return _Value(f"{base.path}.{step}", base.origin)
            return None
        if kind is ast.Call:
            callee = self._eval(node.func, scope, order)  # type: ignore[attr-defined]
            if not isinstance(callee, _Value):
                return None
            if callee.path == "builtins.dict":
                return self._dict_from_call(node)  # type: ignore[arg-type]
            if callee.path in _CLIENT_WRAPPERS or callee.path.rsplit(".", 1)[-1] in {"wrap_openai", "wrap_anthropic"}:
                arguments = _source_args(node)  # type: ignore[arg-type]
                if arguments and arguments[0][0] is None:
                    return self._eval(arguments[0][2], scope, order)
                for keyword, _, value, _ in arguments:
                    if keyword == "client":
                        return self._eval(value, scope, order)
                return None
            if callee.path.endswith((".with_options", ".copy")):
                return _Value(callee.path.rsplit(".", 1)[0], callee.origin)
            return _Value(callee.path + "()", node)  # type: ignore[arg-type]
        if kind is ast.Dict:
            return self._dict_from_literal(node)  # type: ignore[arg-type]
        if kind is ast.Await:
            return self._eval(node.value, scope, order)  # type: ignore[attr-defined]
        return None

    def _entry(self, key: ast.expr, value: ast.expr) -> ast.keyword:
        # one synthetic keyword per entry, so every evaluation of the dict hands out the same node
        found = self._entries.get(id(key))
        if found is None:
            found = self._entries[id(key)] = _entry(key, value)
        return found

    def _dict_from_literal(self, node: ast.Dict) -> _DictValue:
        items: dict[str, tuple[ast.expr, ast.AST]] = {}
        unknown = False
        for key_node, value in zip(node.keys, node.values):
            key = _string_value(key_node)
            if key is None:
                unknown = True  # a computed key, or ``**other`` inside the literal
            else:
                items[key] = (value, self._entry(key_node, value))  # type: ignore[arg-type]
        return _DictValue(items, unknown)

    def _dict_from_call(self, node: ast.Call) -> _DictValue:
        items: dict[str, tuple[ast.expr, ast.AST]] = {}
        unknown = False
        for keyword, star, value, where in _source_args(node):
            if keyword is not None:
                items[keyword] = (value, where)
            elif star == "" and isinstance(value, ast.Dict):
                literal = self._dict_from_literal(value)
                items.update(literal.items)
                unknown = unknown or literal.unknown
            else:
                unknown = True
        return _DictValue(items, unknown)

    def _module_dict(self, name: str) -> Optional[_DictValue]:
        """What a module-level ``**name`` may hold when a function sends it (shell_gpt's
        ``additional_kwargs``): every key any module-level dict literal bound to it has, or any
        function sets by subscript. None (unknown) when it is bound other than to a dict literal,
        rebound in a function, or changed by a computed key: other code may put a cap in it."""
        module = self._collector.module_scope
        bindings = module.bindings.get(name)
        if not bindings:
            return None  # a closure variable, an import, a builtin
        result = _DictValue({}, False)
        for binding in bindings:
            if binding.kind != "expr" or not isinstance(binding.expr, ast.Dict):
                return None
            literal = self._dict_from_literal(binding.expr)
            result.items.update(literal.items)
            result.unknown = result.unknown or literal.unknown
        for other in self._collector.scopes:
            if other is not module and name in other.bindings:
                return None
            for _, key, value, where in other.dict_mutations.get(name, ()):
                if key is None or value is None:
                    result.unknown = True
                else:
                    result.items[key] = (value, where)
        return result

    def _star_dict(self, expr: ast.expr, scope: _Scope, order: int) -> Optional[_DictValue]:
        """What ``**expr`` holds, when it is knowable: a literal, or a name bound to one in this scope."""
        if isinstance(expr, ast.Dict):
            return self._dict_from_literal(expr)
        if isinstance(expr, ast.Call):
            value = self._eval(expr, scope, order)
            return value if isinstance(value, _DictValue) else None
        if not isinstance(expr, ast.Name):
            return None
        bindings = scope.bindings.get(expr.id)
        if not bindings:
            return self._module_dict(expr.id) if scope.kind == "function" else None
        earlier = [b for b in bindings if b.order < order]
        if not earlier:
            return None
        last = earlier[-1]
        if last.kind != "expr" or last.expr is None:
            return None
        value = self._eval(last.expr, last.scope, last.order)
        if not isinstance(value, _DictValue):
            return None
        result = _DictValue(dict(value.items), value.unknown)
        for mutation_order, key, mutation_value, where in scope.dict_mutations.get(expr.id, ()):
            if not (last.order < mutation_order < order):
                continue
            if key is None or mutation_value is None:
                result.unknown = True
            else:
                result.items[key] = (mutation_value, where)
        return result

    # -- call matching ---------------------------------------------------------------------
    def _find_calls(self) -> list[LLMCall]:
        found: list[LLMCall] = []
        constructors: dict[int, LLMCall] = {}
        for node, scope, order in self._collector.calls:
            call = self._match(node, scope, order)
            if call is not None:
                found.append(call)
                if call.api == "langchain.chat_model":
                    constructors[id(node)] = call
        for call in found:
            if call.api == "langchain.bind" and call.bound_constructor is not None:
                owner = constructors.get(id(call.bound_constructor))
                if owner is not None:
                    owner.binds.append(call)
        return found

    def _match(self, node: ast.Call, scope: _Scope, order: int) -> Optional[LLMCall]:
        callee = self._eval(node.func, scope, order)
        path = callee.path if isinstance(callee, _Value) else None
        api: Optional[str] = None
        provider = ""
        legacy = False
        resolved = True
        bound_constructor: Optional[ast.Call] = None
        if path is not None:
            api, provider, legacy = _classify(path)
            if api == "langchain.bind" and isinstance(callee, _Value):
                bound_constructor = callee.origin
        if api is None:
            if path is not None and path.split(".")[0] in ("openai", "anthropic", "litellm"):
                return None  # resolved to the SDK and it is no generation call (threads.messages.create...)
            # the receiver is unknown (a parameter, an attribute of something else): match the shape
            text = dotted(node.func)
            if text is None:
                return None
            for pattern, shape_api, needs_import in _UNRESOLVED_SUFFIXES:
                if pattern.search(text) and (needs_import is None or needs_import in self.imported_roots):
                    api, provider, resolved = shape_api, shape_api.split(".")[0], False
                    path = text
                    break
            if api is None:
                return None
        assert path is not None
        keywords, keyword_nodes, unknown, stars = self._keywords(node, scope, order)
        if not resolved and not unknown and not ({"model", "messages", "input"} & keywords.keys()):
            return None  # same shape, different API (Twilio's client.messages.create(to=...))
        if api in ("litellm.completion", "langchain.chat_model") and "model" not in keywords:
            first = _leading_positional(node)
            if first is not None:
                keywords["model"] = first
                keyword_nodes["model"] = first
        model_expr = next((keywords[k] for k in _MODEL_KEYWORDS if k in keywords), None)
        model_literal = self._literal_string(model_expr, scope, order) if model_expr is not None else None
        method = path.rsplit(".", 1)[-1]
        return LLMCall(
            node=node,
            api=api,
            provider=provider,
            method=method,
            qualified_name=path,
            keywords=keywords,
            keyword_nodes=keyword_nodes,
            has_unknown_star_kwargs=unknown,
            star_kwargs=stars,
            resolved=resolved,
            is_legacy=legacy,
            model_expr=model_expr,
            model_literal=model_literal,
            cap_names=API_CAP_NAMES.get(api, ()),
            bound_constructor=bound_constructor,
        )

    def _literal_string(self, expr: ast.expr, scope: _Scope, order: int) -> Optional[str]:
        text = _string_value(expr)
        if text is not None:
            return text
        if isinstance(expr, ast.Name):
            # a module constant: MODEL = "gpt-4o"
            bindings = self._collector.module_scope.bindings.get(expr.id)
            local = scope.bindings.get(expr.id)
            chosen = local or bindings
            if chosen and len(chosen) == 1 and chosen[0].kind == "expr":
                return _string_value(chosen[0].expr)
        return None

    def _keywords(
        self, node: ast.Call, scope: _Scope, order: int
    ) -> tuple[dict[str, ast.expr], dict[str, ast.AST], bool, list[ast.keyword]]:
        keywords: dict[str, ast.expr] = {}
        nodes: dict[str, ast.AST] = {}
        unknown = False
        stars: list[ast.keyword] = []
        for keyword in node.keywords:
            if keyword.arg is not None:
                keywords[keyword.arg] = keyword.value
                nodes[keyword.arg] = keyword
            else:
                stars.append(keyword)
                known = self._star_dict(keyword.value, scope, order)
                if known is None:
                    unknown = True
                    continue
                unknown = unknown or known.unknown
                for key, (value, where) in known.items.items():
                    keywords.setdefault(key, value)
                    nodes.setdefault(key, where)
        return keywords, nodes, unknown, stars


def _classify(path: str) -> tuple[Optional[str], str, bool]:
    """Map a resolved callee path to (api, provider, legacy)."""
    parts = [p for p in path.split(".") if p not in _TRANSPARENT_STEPS]
    path = ".".join(parts)
    match = _OPENAI_CLIENT.match(path)
    if match:
        api = _OPENAI_METHODS.get(match.group("rest"))
        return (api, "openai", False) if api else (None, "", False)
    if path.startswith("openai."):
        rest = path[len("openai.") :]
        if rest in _OPENAI_LEGACY:
            return _OPENAI_LEGACY[rest], "openai", True
        if rest in _OPENAI_METHODS:  # module-level default client: openai.chat.completions.create
            return _OPENAI_METHODS[rest], "openai", False
        return None, "", False
    match = _ANTHROPIC_CLIENT.match(path)
    if match:
        api = _ANTHROPIC_METHODS.get(match.group("rest"))
        return (api, "anthropic", False) if api else (None, "", False)
    if path.startswith("litellm."):
        api = _LITELLM_FUNCTIONS.get(path)
        return (api, "litellm", False) if api else (None, "", False)
    if path.startswith("langchain"):
        segments = path.split(".")
        if segments[-1] in _LANGCHAIN_CHAT_MODELS:
            return "langchain.chat_model", "langchain", False
        if segments[-1] == "bind" and len(segments) >= 2 and segments[-2].endswith("()"):
            if segments[-2][:-2] in _LANGCHAIN_CHAT_MODELS:
                return "langchain.bind", "langchain", False
    return None, "", False


_AST_METHODS: frozenset[str] = frozenset({"create", "acreate", "parse", "stream"})
_AST_RESOURCES: frozenset[str] = frozenset(
    {"completions", "messages", "responses", "ChatCompletion", "Completion", "with_raw_response",
     "with_streaming_response"}
)  # fmt: skip
_AST_LITELLM: frozenset[str] = frozenset({"completion", "acompletion", "text_completion", "atext_completion"})
_LLM_ROOTS: tuple[str, ...] = ("openai", "anthropic", "litellm", "instructor")


def ast_llm_calls(tree_or_nodes: Union[ast.AST, Iterable[ast.AST]]) -> list[tuple[ast.Call, str]]:
    """Cheap test on CPython's ``ast`` (an order of magnitude faster to build than a libcst tree):
    every call that has the shape of an LLM call the finder could report, with its shape: the API
    resource (``completions``, ``messages``, ``responses``, ``ChatCompletion``, ``Completion``,
    ``with_raw_response``, ``with_streaming_response``), ``langchain``, ``litellm``, or ``name``
    (a name imported from an LLM package or a bound method stored from an API resource).
    A superset of the finder's calls; takes a tree or all of its nodes (the engine's list, whose
    last answer is kept: the engine and the summaries ask about the same file in a row).
    """
    global _last_asked
    if _last_asked is not None and _last_asked[0] is tree_or_nodes:
        return _last_asked[1]
    nodes = list(ast.walk(tree_or_nodes)) if isinstance(tree_or_nodes, ast.AST) else tree_or_nodes
    callable_names: set[str] = set(_LANGCHAIN_CHAT_MODELS)
    litellm_imported = False
    found: list[tuple[ast.Call, str]] = []
    name_calls: list[ast.Call] = []
    litellm_calls: list[ast.Call] = []
    for node in nodes:
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute):
                owner = func.value
                if func.attr in _AST_METHODS and isinstance(owner, ast.Attribute) and owner.attr in _AST_RESOURCES:
                    found.append((node, owner.attr))
                elif func.attr in _LANGCHAIN_CHAT_MODELS:
                    found.append((node, "langchain"))
                elif func.attr in _AST_LITELLM:
                    litellm_calls.append(node)
            elif isinstance(func, ast.Name):
                name_calls.append(node)
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0].startswith(_LLM_ROOTS):
            litellm_imported = litellm_imported or node.module.startswith("litellm")
            for alias in node.names:
                callable_names.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            litellm_imported = litellm_imported or any(a.name.startswith("litellm") for a in node.names)
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Attribute):
            value = node.value
            if value.attr in _AST_METHODS and isinstance(value.value, ast.Attribute) and value.value.attr in _AST_RESOURCES:
                callable_names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    if litellm_imported:
        found.extend((call, "litellm") for call in litellm_calls)
    for call in name_calls:
        name = call.func.id  # type: ignore[attr-defined]
        if name in _LANGCHAIN_CHAT_MODELS:
            found.append((call, "langchain"))
        elif name in callable_names:
            found.append((call, "litellm" if name in _AST_LITELLM else "name"))
    _last_asked = (tree_or_nodes, found)
    return found


_last_asked: Optional[tuple[object, list[tuple[ast.Call, str]]]] = None


def ast_may_call_llm(tree_or_nodes: Union[ast.AST, Iterable[ast.AST]]) -> bool:
    """False when no call in the module has the shape of an LLM call the finder could report
    (``<x>.completions.create``, ``<x>.messages.stream``, a LangChain chat model, a name imported
    from an LLM package, a bound method stored from such an attribute, LiteLLM's functions)."""
    return bool(ast_llm_calls(tree_or_nodes))


def find_llm_calls(tree: ast.AST) -> list[LLMCall]:
    """All LLM call sites of ``tree`` (an ``ast.Module``; convenience wrapper around :class:`CallFinder`)."""
    return CallFinder(tree).calls
