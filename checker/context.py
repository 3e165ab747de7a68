"""What a rule can see while it checks one file. Everything costly is computed on first use."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, TypeVar

import libcst as cst
from libcst.metadata import CodeRange, MetadataWrapper, PositionProvider

from checker.calls import CallFinder, LLMCall
from checker.settings import RuleSettings

if TYPE_CHECKING:
    from checker.rule import Report
    from checker.summaries import Sink

_T = TypeVar("_T")


class RuleContext:
    """Shared by every rule checking one file.

    - ``path``: the file as displayed (relative to the working directory when possible).
    - ``source`` / ``module``: the text and its libcst tree.
    - ``settings``: :class:`checker.settings.RuleSettings`.
    - ``llm_calls``: the resolved LLM call sites (:class:`checker.calls.LLMCall`).
    - ``qualified_name(node)``: resolved dotted path of a Name/Attribute/Call expression.
    - ``get_metadata(Provider, node)``: any libcst metadata provider, resolved once per file.
    - ``position(node)``, ``parent(node)``, ``ancestors(node)``, ``model_info(name)``.
    - ``memo(key, factory)``: a per-file cache shared by all rules.
    """

    def __init__(self, path: str, source: str, module: cst.Module, settings: RuleSettings) -> None:
        self.path = path
        self.source = source
        self.module = module
        self.settings = settings
        self.reports: list["Report"] = []
        self._wrapper: Optional[MetadataWrapper] = None
        self._metadata: dict[type, Any] = {}
        self._finder: Optional[CallFinder] = None
        self._models: dict[str, Any] = {}
        self._parents: Optional[dict[cst.CSTNode, cst.CSTNode]] = None
        self._memo: dict[Any, Any] = {}

    # -- call sites ------------------------------------------------------------------------
    @property
    def call_finder(self) -> CallFinder:
        if self._finder is None:
            self._finder = CallFinder(self.module)
        return self._finder

    @property
    def llm_calls(self) -> list[LLMCall]:
        return self.call_finder.calls

    def qualified_name(self, node: cst.CSTNode) -> Optional[str]:
        """``"tiktoken.get_encoding"`` for ``get_encoding`` / ``tk.get_encoding`` / ``enc = tiktoken.get_encoding``
        (through imports and assignments in this module); ``"openai.OpenAI()"`` for a client instance."""
        return self.call_finder.qualified_name(node)

    def sink_of(self, call: cst.Call) -> Optional["Sink"]:
        """The project function this call sends its LLM request through
        (:class:`checker.summaries.Sink`), or None."""
        table = self.settings.sinks
        if not table:
            return None
        from checker.summaries import file_module

        module, is_package = file_module(self.path, self.settings.project_root)
        found = table.lookup(self.call_finder.qualified_name(call.func), module, is_package)
        if found is None and isinstance(call.func, cst.Attribute):
            found = table.lookup(self.call_finder.instance_path(call.func), module, is_package)
        return found

    @property
    def imported_roots(self) -> set[str]:
        return self.call_finder.imported_roots

    # -- metadata --------------------------------------------------------------------------
    @property
    def wrapper(self) -> MetadataWrapper:
        if self._wrapper is None:
            # no deep copy: rules and the finder hold nodes of self.module
            self._wrapper = MetadataWrapper(self.module, unsafe_skip_copy=True)
        return self._wrapper

    def get_metadata(self, provider: type, node: cst.CSTNode, default: _T = None) -> Any:  # type: ignore[assignment]
        """Metadata of ``provider`` for ``node`` (e.g. ``ScopeProvider``, ``ParentNodeProvider``)."""
        table = self._metadata.get(provider)
        if table is None:
            table = self.wrapper.resolve(provider)
            self._metadata[provider] = table
        return table.get(node, default)

    def position(self, node: cst.CSTNode) -> CodeRange:
        table = self._metadata.get(PositionProvider)
        if table is None:
            # `resolve()` adds a visit of the whole module to the position codegen, which is all
            # positions need: half the cost of a finding, in files that have one. Through libcst's
            # provider interface (private, hence the fallback to the public way).
            try:
                table = PositionProvider()._gen(self.wrapper)
            except Exception:  # noqa: BLE001 - an interface change in libcst: take the slow path
                table = self.wrapper.resolve(PositionProvider)
            self._metadata[PositionProvider] = table
        return table[node]

    def parent(self, node: cst.CSTNode) -> Optional[cst.CSTNode]:
        """The syntactic parent of ``node`` (formatting nodes such as commas and whitespace are
        skipped, as in :mod:`checker.walk`). Built with one fast walk on first use; libcst's
        ``ParentNodeProvider`` (via ``get_metadata``) costs several times more."""
        if self._parents is None:
            from checker.walk import iter_children

            parents: dict[cst.CSTNode, cst.CSTNode] = {}
            stack: list[cst.CSTNode] = [self.module]
            while stack:
                current = stack.pop()
                for child in iter_children(current):
                    parents[child] = current
                    stack.append(child)
            self._parents = parents
        return self._parents.get(node)

    def ancestors(self, node: cst.CSTNode) -> Iterator[cst.CSTNode]:
        """Parents of ``node`` from the nearest up to the module."""
        current = self.parent(node)
        while current is not None:
            yield current
            current = self.parent(current)

    def memo(self, key: Any, factory: Callable[[], _T]) -> _T:
        """Per-file cache shared by all rules: ``self.context.memo("index", lambda: build(...))``
        lets several rules share one costly analysis of the module."""
        if key not in self._memo:
            self._memo[key] = factory()
        return self._memo[key]

    # -- model registry --------------------------------------------------------------------
    def model_info(self, name: str) -> Any:
        """``pytest_tokenbudget.ModelInfo`` for ``name``, or None when unknown to the registry
        (or when the registry is unavailable)."""
        if name not in self._models:
            from checker.models import lookup_model

            self._models[name] = lookup_model(name, self.settings.project_root)
        return self._models[name]

    # -- reports ---------------------------------------------------------------------------
    def add_report(self, report: "Report") -> None:
        self.reports.append(report)

    @property
    def path_obj(self) -> Path:
        return Path(self.path)
