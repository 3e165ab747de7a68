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
                found[value.code] = value
    return dict(sorted(found.items()))


def select_rules(codes: Iterable[str]) -> list[type[Rule]]:
    rules = all_rules()
    return [rules[code] for code in sorted(set(codes)) if code in rules]
