"""What a rule can see while it checks one file. Everything costly is computed on first use."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, TypeVar

from checker.settings import RuleSettings
from checker.source import SourceLines, Span

if TYPE_CHECKING:
    from checker.calls import CallFinder, LLMCall
    from checker.cst_view import CstView
    from checker.rule import Report
    from checker.rules._index import ModuleIndex
    from checker.summaries import Sink

_T = TypeVar("_T")


class RuleContext:
    """Shared by every rule checking one file.

    - ``path``: the file as displayed (relative to the working directory when possible).
    - ``source`` / ``module``: the text and its CPython ``ast`` tree.
    - ``settings``: :class:`checker.settings.RuleSettings`.
    - ``index``: the shared :class:`checker.rules._index.ModuleIndex` of the module.
    - ``llm_calls``: the resolved LLM call sites (:class:`checker.calls.LLMCall`).
    - ``qualified_name(node)``: resolved dotted path of a Name/Attribute/Call expression.
    - ``position(node)``, ``parent(node)``, ``ancestors(node)``, ``model_info(name)``.
    - ``memo(key, factory)``: a per-file cache shared by all rules.
    """

    def __init__(self, path: str, source: str, module: ast.Module, settings: RuleSettings) -> None:
        self.path = path
        self.source = source
        self.module = module
        self.settings = settings
        self.reports: list["Report"] = []
        self.lines = SourceLines(source)
        self._finder: Optional["CallFinder"] = None
        self._index: Optional["ModuleIndex"] = None
        self._cst_view: Optional["CstView"] = None
        self._models: dict[str, Any] = {}
        self._memo: dict[Any, Any] = {}

    # -- call sites ------------------------------------------------------------------------
    @property
    def call_finder(self) -> "CallFinder":
        if self._finder is None:
            from checker.calls import CallFinder

            self._finder = CallFinder(self.module)
        return self._finder

    @property
    def llm_calls(self) -> list["LLMCall"]:
        return self.call_finder.calls

    def qualified_name(self, node: ast.AST) -> Optional[str]:
        """``"tiktoken.get_encoding"`` for ``get_encoding`` / ``tk.get_encoding`` / ``enc = tiktoken.get_encoding``
        (through imports and assignments in this module); ``"openai.OpenAI()"`` for a client instance."""
        return self.call_finder.qualified_name(node)

    def sink_of(self, call: ast.Call) -> Optional["Sink"]:
        """The project function this call sends its LLM request through
        (:class:`checker.summaries.Sink`), or None."""
        table = self.settings.sinks
        if not table:
            return None
        from checker.summaries import file_module

        module, is_package = file_module(self.path, self.settings.project_root)
        found = table.lookup(self.call_finder.qualified_name(call.func), module, is_package)
        if found is None and isinstance(call.func, ast.Attribute):
            found = table.lookup(self.call_finder.instance_path(call.func), module, is_package)
        return found

    @property
    def imported_roots(self) -> set[str]:
        return self.call_finder.imported_roots

    # -- the tree --------------------------------------------------------------------------
    @property
    def index(self) -> "ModuleIndex":
        if self._index is None:
            from checker.rules._index import index_module

            self._index = index_module(self.module, self.source)
        return self._index

    def position(self, node: ast.AST) -> Span:
        return self.lines.span(node)

    def parent(self, node: ast.AST) -> Optional[ast.AST]:
        return self.index.parent(node)

    def ancestors(self, node: ast.AST) -> Iterator[ast.AST]:
        """Parents of ``node`` from the nearest up to the module."""
        return self.index.ancestors(node)

    @property
    def cst_view(self) -> "CstView":
        """The module as libcst sees it, for building fixes (parsed on first use)."""
        if self._cst_view is None:
            from checker.cst_view import CstView

            self._cst_view = CstView(self.source, self.lines)
        return self._cst_view

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
