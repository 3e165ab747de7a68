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

import libcst as cst

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
    through ``**params`` built in the same scope; ``keyword_nodes`` says where each was written
    (the ``cst.Arg``, dict element or assignment). ``has_unknown_star_kwargs`` is true when a
    ``**expr`` was passed whose content the finder cannot know: rules should then stay silent
    about missing arguments unless ``strict`` is configured.
    """

    node: cst.Call
    api: str  # "openai.chat" | "openai.responses" | "openai.completions" | "anthropic.messages" | ...
    provider: str  # "openai" | "anthropic" | "litellm" | "langchain"
    method: str  # last attribute of the callee: "create", "stream", "parse", "completion", "ChatOpenAI", "bind"...
    qualified_name: str  # resolved dotted path of the callee, e.g. "openai.OpenAI().chat.completions.create"
    keywords: dict[str, cst.BaseExpression]
    keyword_nodes: dict[str, cst.CSTNode]
    has_unknown_star_kwargs: bool
    star_kwargs: list[cst.Arg]
    resolved: bool  # False when matched only by the shape of an unresolved receiver
    is_legacy: bool = False  # openai < 1.0 module-level API (openai.ChatCompletion.create ...)
    model_expr: Optional[cst.BaseExpression] = None
    model_literal: Optional[str] = None
    cap_names: tuple[str, ...] = ()
    # For ``.bind(...)`` on a LangChain chat model: the constructor call it binds to, when known.
    bound_constructor: Optional[cst.Call] = None
    # For LangChain constructors: ``.bind(...)`` calls on the same instance.
    binds: list["LLMCall"] = field(default_factory=list)

    @property
    def cap(self) -> Optional[tuple[str, cst.BaseExpression]]:
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
    origin: Optional[cst.Call] = None  # the constructor call that created this instance, if any


@dataclass(eq=False)
class _DictValue:
    """A dict literal / ``dict(...)`` bound to a name: its string keys and their value nodes."""

    items: dict[str, tuple[cst.BaseExpression, cst.CSTNode]]
    unknown: bool  # has ``**other`` or non-literal keys


_Resolved = Union[_Value, _DictValue, None]


@dataclass(eq=False)
class _Binding:
    order: int
    scope: "_Scope"
    expr: Optional[cst.CSTNode]  # expression node to evaluate, or None for "unknown value"
    kind: str = "expr"  # "expr" | "import" | "annotation" | "dict_mutation"
    path: Optional[str] = None  # for imports: the qualified name


@dataclass(eq=False)
class _Scope:
    kind: str  # "module" | "function" | "class"
    parent: Optional["_Scope"]
    node: Optional[cst.CSTNode] = None
    bindings: dict[str, list[_Binding]] = field(default_factory=dict)
    # For classes: attributes assigned through ``self.x = ...`` in methods and class-body fields.
    attrs: dict[str, list[_Binding]] = field(default_factory=dict)
    # For methods: the class scope and the name of the ``self`` parameter.
    owner_class: Optional["_Scope"] = None
    self_name: Optional[str] = None
    # Mutations of dicts bound to names: name -> [(order, key, value expr, node)], None key = unknown.
    dict_mutations: dict[str, list[tuple[int, Optional[str], Optional[cst.BaseExpression], cst.CSTNode]]] = field(
        default_factory=dict
    )

    def bind(self, name: str, binding: _Binding) -> None:
        self.bindings.setdefault(name, []).append(binding)


def dotted(node: Optional[cst.CSTNode]) -> Optional[str]:
    """``a.b.c`` for Name/Attribute chains, else None."""
    parts: list[str] = []
    while isinstance(node, cst.Attribute):
        parts.append(node.attr.value)
        node = node.value
    if isinstance(node, cst.Name):
        parts.append(node.value)
        return ".".join(reversed(parts))
    return None


def _string_value(node: Optional[cst.CSTNode]) -> Optional[str]:
    if isinstance(node, cst.SimpleString):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    if isinstance(node, cst.ConcatenatedString):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    return None


def _import_module_name(node: cst.ImportFrom) -> Optional[str]:
    """The module imported from; relative imports (the project's own modules) keep their leading
    dots (``.llm``, ``.`` for ``from . import x``), resolved against the file's module later."""
    if node.relative:
        module = dotted(node.module) if node.module is not None else ""
        return "." * len(node.relative) + (module or "") if module is not None else None
    if node.module is None:
        return None
    return dotted(node.module)


class _Collector:
    """One walk recording scopes, bindings and call nodes, each with its source order
    (driven by :mod:`checker.walk`, possibly together with the rules' own handlers)."""

    def __init__(self) -> None:
        self.order = 0
        self.module_scope = _Scope("module", None)
        self.scope = self.module_scope
        self.calls: list[tuple[cst.Call, _Scope, int]] = []
        self.node_scope: dict[cst.CSTNode, tuple[_Scope, int]] = {}
        self.imported_roots: set[str] = set()

    # -- scopes --------------------------------------------------------------------------
    def visit_ClassDef(self, node: cst.ClassDef) -> None:
        self._tick()
        # The module's own classes and functions resolve to `<module>.name` (checker.summaries
        # resolves it against the file's module, for calls of the project's LLM wrappers).
        top = self.scope.kind == "module"
        self.scope.bind(node.name.value, _Binding(self.order, self.scope, None, "import" if top else "expr",
                                                  f"{LOCAL}.{node.name.value}" if top else None))
        self.scope = _Scope("class", self.scope, node)

    def leave_ClassDef(self, original_node: cst.ClassDef) -> None:
        assert self.scope.parent is not None
        self.scope = self.scope.parent

    def visit_FunctionDef(self, node: cst.FunctionDef) -> None:
        self._tick()
        name = node.name.value
        if self.scope.kind == "module":
            self.scope.bind(name, _Binding(self.order, self.scope, None, "import", f"{LOCAL}.{name}"))
        else:
            self.scope.bind(name, _Binding(self.order, self.scope, None))
        outer = self.scope
        if outer.kind == "class" and outer.parent is not None and outer.parent.kind == "module" \
                and isinstance(outer.node, cst.ClassDef) and name not in outer.attrs:
            # `self.aask(...)` inside the class: the method of an instance of this class
            outer.attrs[name] = [_Binding(self.order, outer, None, "import", f"{LOCAL}.{outer.node.name.value}().{name}")]
        new = _Scope("function", self.scope, node)
        if self.scope.kind == "class":
            new.owner_class = self.scope
            params = node.params.params or node.params.posonly_params
            if params:
                new.self_name = params[0].name.value
        elif self.scope.kind == "function" and self.scope.owner_class is not None:
            # nested function inside a method still sees ``self`` through the closure
            new.owner_class = self.scope.owner_class
            new.self_name = self.scope.self_name
        self.scope = new
        for param in _all_params(node.params):
            expr = param.annotation.annotation if param.annotation is not None else None
            kind = "annotation" if expr is not None else "expr"
            self.scope.bind(param.name.value, _Binding(self.order, self.scope, expr, kind))

    def leave_FunctionDef(self, original_node: cst.FunctionDef) -> None:
        assert self.scope.parent is not None
        self.scope = self.scope.parent

    def visit_Lambda(self, node: cst.Lambda) -> None:
        self._tick()
        self.scope = _Scope("function", self.scope, node)
        for param in _all_params(node.params):
            self.scope.bind(param.name.value, _Binding(self.order, self.scope, None))

    def leave_Lambda(self, original_node: cst.Lambda) -> None:
        assert self.scope.parent is not None
        self.scope = self.scope.parent

    # -- bindings ------------------------------------------------------------------------
    def visit_Import(self, node: cst.Import) -> None:
        self._tick()
        for alias in node.names:
            full = dotted(alias.name)
            if full is None:
                continue
            self.imported_roots.add(full.split(".")[0])
            if alias.asname is not None and isinstance(alias.asname.name, cst.Name):
                self.scope.bind(alias.asname.name.value, _Binding(self.order, self.scope, None, "import", full))
            else:
                root = full.split(".")[0]
                self.scope.bind(root, _Binding(self.order, self.scope, None, "import", root))

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        self._tick()
        module = _import_module_name(node)
        if module is not None and not module.startswith("."):
            self.imported_roots.add(module.split(".")[0])
        if isinstance(node.names, cst.ImportStar):
            return
        for alias in node.names:
            name = dotted(alias.name)
            if name is None:
                continue
            local = alias.asname.name.value if alias.asname is not None and isinstance(alias.asname.name, cst.Name) else name
            path = None if module is None else f"{module}{name}" if module.endswith(".") else f"{module}.{name}"
            self.scope.bind(local, _Binding(self.order, self.scope, None, "import" if path else "expr", path))

    def visit_Assign(self, node: cst.Assign) -> None:
        self._tick()
        for target in node.targets:
            self._bind_target(target.target, node.value)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        self._tick()
        if node.value is not None:
            self._bind_target(node.target, node.value)
        else:
            self._bind_target(node.target, node.annotation.annotation, kind="annotation")

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._tick()
        if isinstance(node.target, cst.Name):
            self.scope.bind(node.target.value, _Binding(self.order, self.scope, None))

    def visit_WithItem(self, node: cst.WithItem) -> None:
        self._tick()
        if node.asname is not None:
            self._bind_target(node.asname.name, node.item)

    def visit_For(self, node: cst.For) -> None:
        self._tick()
        self._bind_target(node.target, None)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self._tick()
        self._bind_target(node.target, node.value)

    def _bind_target(self, target: cst.BaseExpression, value: Optional[cst.CSTNode], kind: str = "expr") -> None:
        if isinstance(target, cst.Name):
            self.scope.bind(target.value, _Binding(self.order, self.scope, value, kind))
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self._bind_target(element.value, None)
        elif isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name):
            fn = self.scope
            if fn.kind == "function" and fn.owner_class is not None and target.value.value == fn.self_name:
                fn.owner_class.attrs.setdefault(target.attr.value, []).append(
                    _Binding(self.order, self.scope, value, kind)
                )
        elif isinstance(target, cst.Subscript) and isinstance(target.value, cst.Name) and value is not None:
            key = _subscript_key(target)
            self.scope.dict_mutations.setdefault(target.value.value, []).append(
                (self.order, key, value if isinstance(value, cst.BaseExpression) else None, target)
            )
        # class-body names double as attributes reachable through ``self``
        if isinstance(target, cst.Name) and self.scope.kind == "class":
            self.scope.attrs.setdefault(target.value, []).append(_Binding(self.order, self.scope, value, kind))

    # -- calls ---------------------------------------------------------------------------
    def visit_Call(self, node: cst.Call) -> None:
        self._tick()
        self.calls.append((node, self.scope, self.order))
        self.node_scope[node] = (self.scope, self.order)
        # dict mutation through methods: params.update(...), params.setdefault("k", v)
        func = node.func
        if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name):
            name = func.value.value
            method = func.attr.value
            if method == "update":
                for arg in node.args:
                    if arg.keyword is not None:
                        self._mutate(name, arg.keyword.value, arg.value, arg)
                    elif arg.star == "" and isinstance(arg.value, cst.Dict):
                        for element in arg.value.elements:
                            if isinstance(element, cst.DictElement):
                                self._mutate(name, _string_value(element.key), element.value, element)
                            else:
                                self._mutate(name, None, None, element)
                    else:
                        self._mutate(name, None, None, arg)
            elif method == "setdefault" and node.args:
                key = _string_value(node.args[0].value)
                value = node.args[1].value if len(node.args) > 1 else None
                self._mutate(name, key, value, node)

    def _mutate(self, name: str, key: Optional[str], value: Optional[cst.BaseExpression], where: cst.CSTNode) -> None:
        self.scope.dict_mutations.setdefault(name, []).append((self.order, key, value, where))

    def visit_Name(self, node: cst.Name) -> None:
        self.node_scope[node] = (self.scope, self.order)

    def visit_Attribute(self, node: cst.Attribute) -> None:
        self.node_scope[node] = (self.scope, self.order)

    def _tick(self) -> None:
        self.order += 1


def _all_params(params: cst.Parameters) -> Iterator[cst.Param]:
    yield from params.posonly_params
    yield from params.params
    if isinstance(params.star_arg, cst.Param):
        yield params.star_arg
    yield from params.kwonly_params
    if params.star_kwarg is not None:
        yield params.star_kwarg


def _subscript_key(target: cst.Subscript) -> Optional[str]:
    if len(target.slice) != 1:
        return None
    element = target.slice[0].slice
    if isinstance(element, cst.Index):
        return _string_value(element.value)
    return None


class CallFinder:
    """Resolves expressions of one module and lists its LLM calls.

    Build it with :meth:`from_module`; :attr:`calls` is computed on first access.
    """

    def __init__(self, module: cst.Module, collector: Optional["_Collector"] = None) -> None:
        self.module = module
        if collector is None:
            from checker.walk import Dispatcher

            collector = _Collector()
            Dispatcher([collector]).run(module)
        self._collector = collector
        self._evaluating: set[int] = set()
        self._calls: Optional[list[LLMCall]] = None

    @property
    def imported_roots(self) -> set[str]:
        """Top-level package names imported anywhere in the module (``openai``, ``litellm``...)."""
        return self._collector.imported_roots

    # -- public resolution -----------------------------------------------------------------
    def qualified_name(self, node: cst.CSTNode) -> Optional[str]:
        """Resolved dotted path of a Name/Attribute/Call expression, e.g. ``"tiktoken.get_encoding"``
        for ``enc_get`` after ``from tiktoken import get_encoding as enc_get``; ``"openai.OpenAI()"``
        for a client instance. None when unknown."""
        where = self._collector.node_scope.get(node)
        if where is None:
            return None
        value = self._eval(node, where[0], where[1])
        return value.path if isinstance(value, _Value) else None

    def instance_path(self, node: cst.CSTNode) -> Optional[str]:
        """`<module>.Cls().a.b` for `self.a.b` in a method of the top-level class `Cls`, where the
        class itself does not say what `self.a` is (inherited, or set by a framework): the
        project's class hierarchy (checker.summaries) may."""
        steps: list[str] = []
        while isinstance(node, cst.Attribute):
            steps.append(node.attr.value)
            node = node.value
        where = self._collector.node_scope.get(node)
        if not steps or not isinstance(node, cst.Name) or where is None:
            return None
        scope = where[0]
        owner = scope.owner_class
        if scope.kind != "function" or owner is None or node.value != scope.self_name \
                or owner.parent is None or owner.parent.kind != "module" or not isinstance(owner.node, cst.ClassDef):
            return None
        return ".".join([f"{LOCAL}.{owner.node.name.value}()", *reversed(steps)])

    @property
    def call_nodes(self) -> list[cst.Call]:
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

    def _eval_annotation(self, node: cst.CSTNode, scope: _Scope, order: int) -> Optional[_Value]:
        # ``OpenAI``, ``"OpenAI"``, ``Optional[OpenAI]``, ``OpenAI | None``
        if isinstance(node, cst.BinaryOperation) and isinstance(node.operator, cst.BitOr):
            return self._eval_annotation(node.left, scope, order) or self._eval_annotation(node.right, scope, order)
        if isinstance(node, cst.Subscript):
            base = self._eval(node.value, scope, order)
            if isinstance(base, _Value) and base.path in {"typing.Optional", "typing.Union"}:
                for element in node.slice:
                    if isinstance(element.slice, cst.Index):
                        found = self._eval_annotation(element.slice.value, scope, order)
                        if found is not None:
                            return found
            return None
        text = _string_value(node)
        if text is not None:
            try:
                parsed = cst.parse_expression(text)
            except Exception:
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

    def _eval(self, node: cst.CSTNode, scope: _Scope, order: int) -> _Resolved:
        key = id(node)
        if key in self._evaluating:
            return None  # cyclic data flow (x = x.y): give up rather than recurse forever
        self._evaluating.add(key)
        try:
            return self._eval_inner(node, scope, order)
        finally:
            self._evaluating.discard(key)

    def _eval_inner(self, node: cst.CSTNode, scope: _Scope, order: int) -> _Resolved:
        if isinstance(node, cst.Name):
            return self._lookup(node.value, scope, order)
        if isinstance(node, cst.Attribute):
            if isinstance(node.value, cst.Name) and scope.kind == "function" and scope.owner_class is not None:
                if node.value.value == scope.self_name:
                    bindings = scope.owner_class.attrs.get(node.attr.value)
                    if bindings:
                        return self._resolve_bindings(bindings, None)
                    return None
            base = self._eval(node.value, scope, order)
            if isinstance(base, _Value):
                step = node.attr.value
                if step in _TRANSPARENT_STEPS:
                    return base
                return _Value(f"{base.path}.{step}", base.origin)
            return None
        if isinstance(node, cst.Call):
            callee = self._eval(node.func, scope, order)
            if not isinstance(callee, _Value):
                return None
            if callee.path == "builtins.dict":
                return self._dict_from_call(node)
            if callee.path in _CLIENT_WRAPPERS or callee.path.rsplit(".", 1)[-1] in {"wrap_openai", "wrap_anthropic"}:
                if node.args and node.args[0].keyword is None:
                    return self._eval(node.args[0].value, scope, order)
                for arg in node.args:
                    if arg.keyword is not None and arg.keyword.value == "client":
                        return self._eval(arg.value, scope, order)
                return None
            if callee.path.endswith((".with_options", ".copy")):
                return _Value(callee.path.rsplit(".", 1)[0], callee.origin)
            return _Value(callee.path + "()", node)
        if isinstance(node, cst.Dict):
            return self._dict_from_literal(node)
        if isinstance(node, cst.Await):
            return self._eval(node.expression, scope, order)
        return None

    def _dict_from_literal(self, node: cst.Dict) -> _DictValue:
        items: dict[str, tuple[cst.BaseExpression, cst.CSTNode]] = {}
        unknown = False
        for element in node.elements:
            if isinstance(element, cst.DictElement):
                key = _string_value(element.key)
                if key is None:
                    unknown = True
                else:
                    items[key] = (element.value, element)
            else:
                unknown = True  # ``**other`` inside the literal
        return _DictValue(items, unknown)

    def _dict_from_call(self, node: cst.Call) -> _DictValue:
        items: dict[str, tuple[cst.BaseExpression, cst.CSTNode]] = {}
        unknown = False
        for arg in node.args:
            if arg.keyword is not None:
                items[arg.keyword.value] = (arg.value, arg)
            elif arg.star == "" and isinstance(arg.value, cst.Dict):
                literal = self._dict_from_literal(arg.value)
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
            if binding.kind != "expr" or not isinstance(binding.expr, cst.Dict):
                return None
            literal = self._dict_from_literal(binding.expr)
            result.items.update(literal.items)
            result.unknown = result.unknown or literal.unknown
        scopes = {id(scope): scope for scope, _ in self._collector.node_scope.values()}
        scopes[id(module)] = module
        for other in scopes.values():
            if other is not module and name in other.bindings:
                return None
            for _, key, value, where in other.dict_mutations.get(name, ()):
                if key is None or value is None:
                    result.unknown = True
                else:
                    result.items[key] = (value, where)
        return result

    def _star_dict(self, expr: cst.BaseExpression, scope: _Scope, order: int) -> Optional[_DictValue]:
        """What ``**expr`` holds, when it is knowable: a literal, or a name bound to one in this scope."""
        if isinstance(expr, cst.Dict):
            return self._dict_from_literal(expr)
        if isinstance(expr, cst.Call):
            value = self._eval(expr, scope, order)
            return value if isinstance(value, _DictValue) else None
        if not isinstance(expr, cst.Name):
            return None
        bindings = scope.bindings.get(expr.value)
        if not bindings:
            return self._module_dict(expr.value) if scope.kind == "function" else None
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
        for mutation_order, key, mutation_value, where in scope.dict_mutations.get(expr.value, ()):
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

    def _match(self, node: cst.Call, scope: _Scope, order: int) -> Optional[LLMCall]:
        callee = self._eval(node.func, scope, order)
        path = callee.path if isinstance(callee, _Value) else None
        api: Optional[str] = None
        provider = ""
        legacy = False
        resolved = True
        bound_constructor: Optional[cst.Call] = None
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
        if api == "litellm.completion" and "model" not in keywords and node.args and node.args[0].keyword is None and node.args[0].star == "":
            keywords["model"] = node.args[0].value
            keyword_nodes["model"] = node.args[0]
        if api == "langchain.chat_model" and "model" not in keywords and node.args and node.args[0].keyword is None and node.args[0].star == "":
            keywords["model"] = node.args[0].value
            keyword_nodes["model"] = node.args[0]
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

    def _literal_string(self, expr: cst.BaseExpression, scope: _Scope, order: int) -> Optional[str]:
        text = _string_value(expr)
        if text is not None:
            return text
        if isinstance(expr, cst.Name):
            # a module constant: MODEL = "gpt-4o"
            bindings = self._collector.module_scope.bindings.get(expr.value)
            local = scope.bindings.get(expr.value)
            chosen = local or bindings
            if chosen and len(chosen) == 1 and chosen[0].kind == "expr":
                return _string_value(chosen[0].expr)
        return None

    def _keywords(
        self, node: cst.Call, scope: _Scope, order: int
    ) -> tuple[dict[str, cst.BaseExpression], dict[str, cst.CSTNode], bool, list[cst.Arg]]:
        keywords: dict[str, cst.BaseExpression] = {}
        nodes: dict[str, cst.CSTNode] = {}
        unknown = False
        stars: list[cst.Arg] = []
        for arg in node.args:
            if arg.keyword is not None:
                keywords[arg.keyword.value] = arg.value
                nodes[arg.keyword.value] = arg
            elif arg.star == "**":
                stars.append(arg)
                known = self._star_dict(arg.value, scope, order)
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
    last answer is kept: several rules' gates ask about the same file in a row).
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


def new_collector() -> _Collector:
    """A collector to run in the engine's shared walk; pass it to ``CallFinder(module, collector)``."""
    return _Collector()


def find_llm_calls(module: cst.Module) -> list[LLMCall]:
    """All LLM call sites of ``module`` (convenience wrapper around :class:`CallFinder`)."""
    return CallFinder(module).calls
