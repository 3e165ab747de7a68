"""The base class every rule derives from (see RULES_API.md).

A rule is one class in its own module ``checker/rules/tbNNN_<slug>.py``. Its docstring is its
documentation page (printed by ``tokenbudget rule TBNNN``) and must have the sections
``## What it does``, ``## Why is this bad?``, ``## Example`` and ``## Fix``. Its ``VALID`` and
``INVALID`` lists are run by ``tests/checker/test_rule_examples.py``.

Rules read CPython's ``ast`` tree: through ``visit_<Node>`` / ``leave_<Node>`` methods (ast class
names; the engine batches every selected rule into one walk of the module) and from
:meth:`Rule.finish`, called once after the walk, where ``self.context.index`` and
``self.context.llm_calls`` hold the shared analysis of the module. libcst is used only to build
fixes (``report(..., fix=...)``, see :mod:`checker.cst_view`).
"""

from __future__ import annotations

import inspect
import re
import textwrap
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Literal, Mapping, Optional, Sequence, Union

if TYPE_CHECKING:  # keep importing this module cheap: libcst is loaded only to build fixes
    import ast

    import libcst as cst

    from checker.context import RuleContext
    from checker.cst_view import CstView

    # Given the module's libcst view: (the libcst node to replace, its replacement), or None.
    FixBuilder = Callable[[CstView], Optional[tuple[cst.CSTNode, cst.CSTNode]]]

Severity = Literal["error", "warning", "info"]

DOC_SECTIONS: tuple[str, ...] = ("What it does", "Why is this bad?", "Example", "Fix")


@dataclass(frozen=True)
class Valid:
    """Code the rule must not report. ``config`` holds ``[tool.tokenbudget.check]`` keys
    (``{"strict": True}``) applied while checking the example."""

    code: str
    config: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Invalid:
    """Code the rule must report.

    ``line`` / ``column`` (1-based) are where the first diagnostic of this rule must start;
    ``expected_fix`` is the whole source after applying this rule's fixes (unsafe ones included);
    ``message_contains`` must be a substring of the first diagnostic's message.
    """

    code: str
    line: Optional[int] = None
    column: Optional[int] = None
    expected_fix: Optional[str] = None
    message_contains: Optional[str] = None
    config: Mapping[str, Any] = field(default_factory=dict)


@dataclass(eq=False)
class Report:
    """A finding as a rule raised it; the engine turns it into a positioned Diagnostic."""

    code: str
    node: "ast.AST"
    message: str
    severity: Severity
    fix: Optional["FixBuilder"] = None
    fix_safe: bool = True
    fix_message: Optional[str] = None


class Rule:
    """Base class of all checker rules. Subclasses set the class attributes below."""

    code: ClassVar[str]  # "TB101"
    name: ClassVar[str]  # kebab-case slug, "missing-output-cap"
    message: ClassVar[str]  # default diagnostic message
    severity: ClassVar[Severity] = "warning"
    # Regexes searched in the raw file text before parsing. A file is parsed, and this rule run on
    # it, only if one of them matches. Keep them cheap and broad enough: a file they skip is never
    # looked at. Rules reading ``context.llm_calls`` get the call finder's triggers automatically.
    # An entry may be a tuple of regexes that must ALL match (e.g. ``(r"len\(", r"(?i)token")``):
    # prefer such conjunctions to broad single words, every file parsed costs ~10 ms.
    # An entry's first regex, when an alternation of plain words (optionally ``(?i)``), is found by
    # one pass shared with every rule (RULES_API.md, "Performance"): put the rarest words first.
    triggers: ClassVar[tuple[Union[str, tuple[str, ...]], ...]] = ()
    uses_llm_calls: ClassVar[bool] = False
    # True when the rule reports only at LLM call sites: files where no call has the shape of one
    # (`calls.ast_may_call_llm`, one cheap pass shared by all such rules) are skipped for it.
    requires_llm_calls: ClassVar[bool] = False
    fixable: ClassVar[bool] = False
    # True for a rule that judges the file's `# noqa` directives rather than its code (TB001): the
    # engine calls its `audit(source, filename, used, selected)` classmethod after every other rule
    # has reported and line `# noqa` has been applied. It needs no libcst tree.
    audits_noqa: ClassVar[bool] = False
    VALID: ClassVar[Sequence[Union[str, Valid]]] = ()
    INVALID: ClassVar[Sequence[Union[str, Invalid]]] = ()

    def __init__(self, context: "RuleContext") -> None:
        self.context = context

    # -- hooks -----------------------------------------------------------------------------
    def finish(self) -> None:
        """Called once after the tree walk; override to work on ``self.context.llm_calls``."""

    # -- reporting -------------------------------------------------------------------------
    def report(
        self,
        node: "ast.AST",
        message: Optional[str] = None,
        *,
        fix: Optional["FixBuilder"] = None,
        fix_safe: bool = True,
        fix_message: Optional[str] = None,
        severity: Optional[Severity] = None,
    ) -> None:
        """Report ``node`` (its source range is the diagnostic's range).

        ``fix`` builds the edit, on libcst (which keeps the surrounding formatting): called with
        the module's :class:`checker.cst_view.CstView`, it returns the libcst node to replace
        (``view.node(ast_node)``, or an enclosing node the fix has to re-lay out) and its
        replacement, or None when no safe edit exists. ``fix_safe=False`` marks fixes that may
        change behaviour (applied only with ``--unsafe-fixes``).
        """
        self.context.add_report(
            Report(
                code=self.code,
                node=node,
                message=message or self.message,
                severity=severity or self.severity,
                fix=fix,
                fix_safe=fix_safe,
                fix_message=fix_message,
            )
        )

    # -- documentation ---------------------------------------------------------------------
    @classmethod
    def documentation(cls) -> str:
        """The rule's page: title line plus its docstring, as Markdown."""
        body = inspect.cleandoc(cls.__doc__ or "")
        fix_note = "Fix is available (`--fix`)." if cls.fixable else "No automatic fix."
        return f"# {cls.name} ({cls.code})\n\nDefault severity: {cls.severity}. {fix_note}\n\n{body}\n"

    @classmethod
    def doc_sections(cls) -> dict[str, str]:
        """``{"What it does": "...", ...}`` parsed from the docstring's ``## `` headings."""
        body = textwrap.dedent(inspect.cleandoc(cls.__doc__ or ""))
        sections: dict[str, str] = {}
        for match in re.finditer(r"^## (?P<title>.+?)\n(?P<text>.*?)(?=^## |\Z)", body, re.M | re.S):
            sections[match.group("title").strip()] = match.group("text").strip()
        return sections

    @classmethod
    def summary(cls) -> str:
        sections = cls.doc_sections()
        first = sections.get("What it does", "").split("\n\n")[0]
        return " ".join(first.split())
