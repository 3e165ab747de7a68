"""Reading `[tool.tokenbudget]` from a project's pyproject.toml."""

from __future__ import annotations

import difflib
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

from ._errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

TOMLDecodeError = tomllib.TOMLDecodeError


def find_pyproject(start: Path | None = None) -> Path | None:
    """The nearest pyproject.toml at or above `start` (the working directory by default)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


@lru_cache(maxsize=64)
def nearest_pyproject(start: str) -> str | None:
    """`find_pyproject` for a folder given as a string, remembered: counting runs once per
    intercepted request, and walking up the folders each time would cost more than counting a
    short prompt."""
    found = find_pyproject(Path(start))
    return str(found) if found else None


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except TOMLDecodeError as error:
        raise ConfigError(path, "", f"is not valid TOML ({error})", "correct the syntax at that line") from None
    except OSError as error:
        raise ConfigError(path, "", f"cannot be read ({error.strerror})", "check the path and permissions") from None


# What [tool.tokenbudget] may hold, and who reads it: the registry (models, aliases), recorded
# Claude counts (lock-file), the pytest plugin (base-urls, capture, budget, baseline*, coverage,
# json-report), the checker (check).
KNOWN_KEYS = ("models", "aliases", "lock-file", "base-urls", "capture", "budget", "check",
              "baseline", "baseline-tolerance", "baseline-shrink-tolerance", "coverage", "json-report")


def tool_table(pyproject: Path | None) -> dict[str, Any]:
    """The `[tool.tokenbudget]` table of `pyproject`, or an empty one."""
    if pyproject is None:
        return {}
    table = read_toml(pyproject).get("tool", {}).get("tokenbudget", {})
    if not isinstance(table, dict):
        raise ConfigError(pyproject, "tool.tokenbudget", "must be a table", "write it as [tool.tokenbudget]")
    for key in table:
        if key not in KNOWN_KEYS:
            close = difflib.get_close_matches(key.replace("_", "-"), KNOWN_KEYS, n=1)
            fix = f"did you mean {close[0]!r}?" if close else f"use only {', '.join(KNOWN_KEYS)}"
            raise ConfigError(pyproject, f"tool.tokenbudget.{key}", "is not a pytest-tokenbudget setting", fix)
    return table
