"""Model lookups for rules, through the public API of pytest_tokenbudget only."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

_registries: dict[Optional[Path], Any] = {}


def _registry(project_root: Optional[Path]) -> Any:
    if project_root not in _registries:
        try:
            from pytest_tokenbudget import Registry, TokenBudgetError
        except ImportError:
            _registries[project_root] = None
        else:
            try:
                _registries[project_root] = Registry.load(project_root)
            except TokenBudgetError:
                # reported once by the CLI as a configuration error; rules just know no models
                _registries[project_root] = None
    return _registries[project_root]


def lookup_model(name: str, project_root: Optional[Path] = None) -> Any:
    """The registry's ``ModelInfo`` for ``name``; None when the model is unknown.

    The registry honours the project's ``[tool.tokenbudget.models]`` and aliases, so a project
    that declares its Azure deployment names gets TB102 on them too.
    """
    registry = _registry(project_root)
    if registry is None:
        return None
    try:
        from pytest_tokenbudget import UnknownModelError
    except ImportError:  # pragma: no cover - registry and error ship together
        return None
    try:
        return registry.get(name)
    except UnknownModelError:
        return None
