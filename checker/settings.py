"""Settings that rules read while checking a file (the rule-facing part of the configuration)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional

from checker.summaries import EMPTY, SinkTable

DEFAULT_MAX_TOKENS = 1024


@dataclass(frozen=True)
class RuleSettings:
    """``[tool.tokenbudget.check]`` values rules may consult.

    ``default_max_tokens``: the cap a fix inserts. ``strict``: report calls whose ``**kwargs`` the
    checker cannot see into. ``project_root``: where the model registry's ``pyproject.toml`` lives.
    ``options``: rule-specific keys, for rules that need more than these. ``sinks``: the project's
    LLM wrappers (:class:`checker.summaries.SinkTable`), so calls of them count as requests.
    """

    default_max_tokens: int = DEFAULT_MAX_TOKENS
    strict: bool = False
    project_root: Optional[Path] = None
    options: Mapping[str, Any] = None  # type: ignore[assignment]
    # The project's own functions that send LLM requests (checker.summaries), found by the runner.
    sinks: SinkTable = EMPTY

    def __post_init__(self) -> None:
        if self.options is None:
            object.__setattr__(self, "options", {})

    def fingerprint(self) -> str:
        """Stable text identifying these settings, for the cache key."""
        return repr((self.default_max_tokens, self.strict, str(self.project_root), sorted(self.options.items()),
                     self.sinks.digest))


def rule_settings_from_mapping(mapping: Mapping[str, Any], project_root: Optional[Path] = None) -> RuleSettings:
    """RuleSettings from ``[tool.tokenbudget.check]``-style keys (``default-max-tokens``, ``strict``;
    other keys are kept in ``options`` under their snake_case name)."""
    options = {k.replace("-", "_"): v for k, v in mapping.items() if k not in ("default-max-tokens", "strict")}
    return RuleSettings(
        default_max_tokens=int(mapping.get("default-max-tokens", DEFAULT_MAX_TOKENS)),
        strict=bool(mapping.get("strict", False)),
        project_root=project_root,
        options=options,
    )
