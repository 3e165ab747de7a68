"""Rule discovery: every ``Rule`` subclass defined in a module of ``checker/rules/``."""

from __future__ import annotations

import importlib
import pkgutil
import re
from functools import lru_cache
from typing import Iterable

from checker.rule import Rule

_CODE = re.compile(r"^TB\d{3}$")


class RuleRegistryError(RuntimeError):
    pass


_MODULE = re.compile(r"^(tb\d{3})_\w+\.py$")


@lru_cache(maxsize=None)
def rule_codes() -> tuple[str, ...]:
    """Codes of all rules, from the module names alone (``tb101_<slug>.py``): selecting rules and
    keying the cache must not import libcst, so that a warm run stays fast."""
    import os

    import checker.rules as package

    codes = set()
    for directory in package.__path__:
        try:
            names = os.listdir(directory)
        except OSError:
            continue
        for name in names:
            match = _MODULE.match(name)
            if match:
                codes.add(match.group(1).upper())
    return tuple(sorted(codes))


@lru_cache(maxsize=None)
def all_rules() -> dict[str, type[Rule]]:
    """``{"TB101": Tb101Class, ...}`` sorted by code."""
    import checker.rules as package

    found: dict[str, type[Rule]] = {}
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, Rule)
                and value is not Rule
                and value.__module__ == module.__name__
                and getattr(value, "code", None)
            ):
                if not _CODE.match(value.code):
                    raise RuleRegistryError(f"{module.__name__}.{value.__name__}: code {value.code!r} is not TBnnn")
                if value.code in found:
                    other = found[value.code]
                    raise RuleRegistryError(
                        f"{value.code} defined twice: {other.__module__}.{other.__name__} and "
                        f"{module.__name__}.{value.__name__}"
                    )
                if not info.name.startswith(value.code.lower() + "_"):
                    raise RuleRegistryError(f"{value.code} must live in checker/rules/{value.code.lower()}_<slug>.py")
                found[value.code] = value
    return dict(sorted(found.items()))


def select_rules(codes: Iterable[str]) -> list[type[Rule]]:
    rules = all_rules()
    return [rules[code] for code in sorted(set(codes)) if code in rules]
