"""Runs every rule's VALID / INVALID examples (Fixit style) and checks each rule's documentation."""

from __future__ import annotations

import dataclasses
import re
import textwrap
from pathlib import Path

import pytest

from checker.engine import RuleSet, check_source, fix_source
from checker.registry import all_rules
from checker.rule import DOC_SECTIONS, Invalid, Rule, Valid
from checker.settings import rule_settings_from_mapping

RULES = all_rules()


def _examples(kind: str):
    for code, rule in RULES.items():
        for index, example in enumerate(getattr(rule, kind)):
            yield pytest.param(rule, example, id=f"{code}-{kind.lower()}-{index}")


def _as(example, cls):
    """Examples may be indented like the class body: dedent them (as Fixit does)."""
    example = example if isinstance(example, cls) else cls(example)
    changes = {"code": textwrap.dedent(example.code)}
    if isinstance(example, Invalid) and example.expected_fix is not None:
        changes["expected_fix"] = textwrap.dedent(example.expected_fix)
    return dataclasses.replace(example, **changes)


def _rules(rule: type[Rule], config) -> list[type[Rule]]:
    """The rule, plus those an example's ``extend-select`` runs alongside it (TB001 judges the
    ``# noqa`` of other rules)."""
    return [rule] + [RULES[code] for code in config.get("extend-select", ()) if code != rule.code]


def _run(rule: type[Rule], code: str, config):
    settings = rule_settings_from_mapping({k: v for k, v in config.items() if k != "extend-select"})
    return check_source(code, "example.py", _rules(rule, config), settings), settings


@pytest.mark.parametrize(("rule", "example"), list(_examples("VALID")))
def test_valid_example_is_not_reported(rule: type[Rule], example) -> None:
    example = _as(example, Valid)
    diagnostics, _ = _run(rule, example.code, example.config)
    assert [d for d in diagnostics if d.code == rule.code] == []
    if rule.code != "TB000":
        assert [d for d in diagnostics if d.code == "TB000"] == [], "VALID examples must parse"


@pytest.mark.parametrize(("rule", "example"), list(_examples("INVALID")))
def test_invalid_example_is_reported(rule: type[Rule], example) -> None:
    example = _as(example, Invalid)
    diagnostics, settings = _run(rule, example.code, example.config)
    found = [d for d in diagnostics if d.code == rule.code]
    assert found, f"{rule.code} did not report:\n{example.code}\n(got {diagnostics})"
    if rule.code != "TB000":  # its INVALID examples are files that do not parse
        # The text prefilter (run before check_source in real use) must admit what the rule reports.
        assert RuleSet([rule]).applicable(example.code.encode()) == [rule], f"{rule.code}'s triggers miss:\n{example.code}"
    first = found[0]
    if example.line is not None:
        assert first.line == example.line
    if example.column is not None:
        assert first.column == example.column
    if example.message_contains is not None:
        assert example.message_contains in first.message
    if example.expected_fix is not None:
        fixed, applied, _ = fix_source(
            example.code, "example.py", _rules(rule, example.config), settings, unsafe=True,
            codes=frozenset({rule.code}),
        )
        assert applied >= 1
        assert fixed == example.expected_fix


@pytest.mark.parametrize("rule", list(RULES.values()), ids=list(RULES))
def test_rule_is_documented(rule: type[Rule]) -> None:
    sections = rule.doc_sections()
    for title in DOC_SECTIONS:
        assert sections.get(title), f"{rule.code}: docstring lacks a non-empty '## {title}' section"
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", rule.name)
    module_file = Path(__import__(rule.__module__, fromlist=["_"]).__file__).name
    assert module_file.startswith(rule.code.lower() + "_"), f"{rule.code} must live in {rule.code.lower()}_<slug>.py"
    assert rule.INVALID, f"{rule.code} needs INVALID examples"
    if rule.code != "TB000":
        assert rule.VALID, f"{rule.code} needs VALID examples"
    assert rule.severity in ("error", "warning", "info")
    if rule.fixable:
        assert any(isinstance(e, Invalid) and e.expected_fix for e in rule.INVALID), "fixable rules show a fix"
