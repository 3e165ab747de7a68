"""Hypothesis's entry point: `st.from_type` for the SDKs' message types, without importing an SDK
into a process that has not imported one (that would add seconds to every `import hypothesis`).

An SDK already imported is registered now; one imported later is registered as soon as its
types module has loaded, by a finder that wraps that one module's loader. Test modules resolve
`@given(st.from_type(...))` while they are imported, so a later pytest hook would be too late."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from typing import Any

_TYPE_MODULES = ("openai.types.chat", "anthropic.types")


def register() -> None:
    """Hypothesis's entry point (so Hypothesis is being imported)."""
    if any(name in sys.modules for name in _TYPE_MODULES):
        from .strategies import register_sdk_types

        register_sdk_types()
    watch_sdk_imports()


def watch_sdk_imports() -> None:
    if not any(isinstance(finder, _RegisterOnImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, _RegisterOnImport())


class _RegisterOnImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name not in _TYPE_MODULES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        loader = spec.loader
        original = loader.exec_module

        def exec_then_register(module: Any) -> None:
            original(module)
            if "hypothesis" not in sys.modules:
                return  # a process that never uses Hypothesis does not pay for importing it
            sys.modules[name] = module
            from .strategies import register_sdk_types

            register_sdk_types()

        loader.exec_module = exec_then_register  # type: ignore[method-assign]
        return spec
