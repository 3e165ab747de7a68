"""``[tool.tokenbudget.check]`` in pyproject.toml, merged with command-line options.

Keys (ruff's names): select, ignore, extend-select, extend-ignore, per-file-ignores,
extend-per-file-ignores, exclude, extend-exclude, respect-gitignore, default-max-tokens, strict,
cache-dir. A bad file or value raises ConfigError naming the file, the key and the fix.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

from checker.settings import DEFAULT_MAX_TOKENS, RuleSettings

TABLE = "[tool.tokenbudget.check]"

DEFAULT_EXCLUDE: tuple[str, ...] = (
    ".bzr", ".direnv", ".eggs", ".git", ".git-rewrite", ".hg", ".ipynb_checkpoints", ".mypy_cache",
    ".nox", ".pants.d", ".pyenv", ".pytest_cache", ".pytype", ".ruff_cache", ".svn", ".tox",
    ".venv", ".vscode", "__pypackages__", "_build", "buck-out", "build", "dist", "node_modules",
    "site-packages", "venv", ".tokenbudget_cache",
)  # fmt: skip

_LIST_KEYS = ("select", "ignore", "extend-select", "extend-ignore", "exclude", "extend-exclude")
_TABLE_KEYS = ("per-file-ignores", "extend-per-file-ignores")
# Settings a rule reads from its settings.options (TB302's threshold), passed through as written.
_RULE_OPTION_KEYS = ("max-sdk-retries",)
_KNOWN_KEYS = _LIST_KEYS + _TABLE_KEYS + _RULE_OPTION_KEYS + ("respect-gitignore", "default-max-tokens", "strict", "cache-dir")
_SELECTOR = re.compile(r"^(ALL|TB\d{0,3})$")


class ConfigError(Exception):
    """Bad configuration or command line; the message says where and how to fix it."""


@dataclass
class CheckConfig:
    root: Path  # directory of the config file (or the working directory)
    config_file: Optional[Path] = None
    select: list[str] = field(default_factory=lambda: ["TB"])
    extend_select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    per_file_ignores: dict[str, list[str]] = field(default_factory=dict)
    exclude: list[str] = field(default_factory=lambda: list(DEFAULT_EXCLUDE))
    extend_exclude: list[str] = field(default_factory=list)
    respect_gitignore: bool = True
    default_max_tokens: int = DEFAULT_MAX_TOKENS
    strict: bool = False
    cache_dir: Optional[Path] = None
    raw: Mapping[str, Any] = field(default_factory=dict)

    def rule_settings(self) -> RuleSettings:
        return RuleSettings(
            default_max_tokens=self.default_max_tokens, strict=self.strict, project_root=self.root,
            options={key: value for key, value in self.raw.items() if key in _RULE_OPTION_KEYS},
        )

    def fingerprint(self) -> str:
        """Everything that can change a file's diagnostics, for the cache key."""
        pyproject = b""
        if self.config_file is not None:
            try:
                pyproject = self.config_file.read_bytes()  # model registry entries live here too
            except OSError:
                pass
        return repr(
            (
                sorted(self.select), sorted(self.extend_select), sorted(self.ignore),
                sorted((k, sorted(v)) for k, v in self.per_file_ignores.items()),
                self.default_max_tokens, self.strict, str(self.root), pyproject,
            )
        )  # fmt: skip


def find_config_file(start: Path) -> Optional[Path]:
    """The nearest pyproject.toml at or above ``start`` that has a ``[tool.tokenbudget]`` table,
    else the nearest pyproject.toml."""
    nearest: Optional[Path] = None
    for directory in (start, *start.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            nearest = nearest or candidate
            try:
                if b"[tool.tokenbudget" in candidate.read_bytes():
                    return candidate
            except OSError:
                continue
    return nearest


def load_config(config_file: Optional[Path], cwd: Path) -> CheckConfig:
    if config_file is None:
        return CheckConfig(root=cwd)
    # Imported here: a run without a pyproject.toml does not pay for the TOML parser (~10 ms).
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10
        import tomli as tomllib
    try:
        text = config_file.read_bytes().decode("utf-8")
        data = tomllib.loads(text)
    except OSError as error:
        raise ConfigError(f"{config_file}: cannot read it ({error.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{config_file}: not valid UTF-8") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{config_file}: invalid TOML: {error}") from None
    table = data.get("tool", {}).get("tokenbudget", {}).get("check", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{config_file}: {TABLE} must be a table")
    return config_from_table(table, config_file)


def _where(config_file: Optional[Path], key: str) -> str:
    return f"{config_file or '<command line>'}: {TABLE} {key}"


def config_from_table(table: Mapping[str, Any], config_file: Optional[Path]) -> CheckConfig:
    root = config_file.parent if config_file is not None else Path.cwd()
    config = CheckConfig(root=root, config_file=config_file, raw=dict(table))
    for key, value in table.items():
        if key not in _KNOWN_KEYS:
            import difflib

            close = difflib.get_close_matches(key, _KNOWN_KEYS, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; known keys: {', '.join(_KNOWN_KEYS)}"
            raise ConfigError(f"{_where(config_file, key)}: unknown key{hint}")
        if key in _LIST_KEYS:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f'{_where(config_file, key)}: expected a list of strings, e.g. {key} = ["TB1"]')
        elif key in _TABLE_KEYS:
            if not isinstance(value, dict) or not all(
                isinstance(v, list) and all(isinstance(c, str) for c in v) for v in value.values()
            ):
                raise ConfigError(
                    f'{_where(config_file, key)}: expected a table of glob = list of codes, e.g. "tests/**" = ["TB101"]'
                )
        elif key in ("respect-gitignore", "strict"):
            if not isinstance(value, bool):
                raise ConfigError(f"{_where(config_file, key)}: expected true or false, got {value!r}")
        elif key == "max-sdk-retries":
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{_where(config_file, key)}: expected a whole number >= 0, e.g. {key} = 5")
        elif key == "default-max-tokens":
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(f"{_where(config_file, key)}: expected a positive integer, e.g. {key} = 1024")
        elif key == "cache-dir" and not isinstance(value, str):
            raise ConfigError(f'{_where(config_file, key)}: expected a path string, e.g. {key} = ".tokenbudget_cache"')
    if "select" in table:
        config.select = list(table["select"])
    config.extend_select = list(table.get("extend-select", []))
    config.ignore = list(table.get("ignore", [])) + list(table.get("extend-ignore", []))
    for key in _TABLE_KEYS:
        for glob, codes in table.get(key, {}).items():
            config.per_file_ignores.setdefault(glob, []).extend(codes)
    if "exclude" in table:
        config.exclude = list(table["exclude"])
    config.extend_exclude = list(table.get("extend-exclude", []))
    config.respect_gitignore = table.get("respect-gitignore", True)
    config.default_max_tokens = table.get("default-max-tokens", DEFAULT_MAX_TOKENS)
    config.strict = table.get("strict", False)
    if "cache-dir" in table:
        config.cache_dir = root / table["cache-dir"]
    for key in ("select", "extend-select", "ignore", "extend-ignore"):
        validate_selectors(table.get(key, []), _where(config_file, key))
    for glob, codes in config.per_file_ignores.items():
        validate_selectors(codes, _where(config_file, f'per-file-ignores "{glob}"'))
    return config


def validate_selectors(selectors: Iterable[str], where: str) -> None:
    from checker.registry import rule_codes

    codes = rule_codes()
    for selector in selectors:
        if not _SELECTOR.match(selector):
            raise ConfigError(f"{where}: '{selector}' is not a rule code or prefix (expected e.g. TB101, TB1, TB or ALL)")
        if selector != "ALL" and not any(code.startswith(selector) for code in codes):
            raise ConfigError(f"{where}: no rule matches '{selector}'; `tokenbudget rule --all` lists the rules")


def expand(selectors: Iterable[str], codes: Sequence[str]) -> set[str]:
    result: set[str] = set()
    for selector in selectors:
        result.update(code for code in codes if selector == "ALL" or code.startswith(selector))
    return result


def enabled_codes(select: Sequence[str], extend_select: Sequence[str], ignore: Sequence[str]) -> frozenset[str]:
    from checker.registry import rule_codes

    codes = list(rule_codes())
    chosen = expand(list(select) + list(extend_select), codes) - expand(ignore, codes)
    return frozenset(chosen)


class PathMatcher:
    """Matches paths (relative to the project root, '/' separated) against ruff-style globs:
    a pattern without '/' matches any path component or the file name, one with '/' is anchored
    at the root, ``**`` spans directories. These are git's wildmatch rules, matched by
    ``pathspec``; plain names (the default excludes) are a set lookup, and pathspec is only
    imported when a pattern needs it."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.literal_names: set[str] = set()
        self._globs: list[str] = []
        self._spec: Any = None
        for pattern in patterns:
            pattern = pattern.strip()
            if pattern.startswith("./"):
                pattern = "/" + pattern[2:]
            pattern = pattern.rstrip("/")
            if not pattern:
                continue
            if "/" not in pattern and not any(char in pattern for char in "*?[\\!"):
                self.literal_names.add(pattern)
            else:
                self._globs.append(pattern)

    def __bool__(self) -> bool:
        return bool(self._globs or self.literal_names)

    def _glob_match(self, relative: str) -> bool:
        if not self._globs:
            return False
        if self._spec is None:
            from pathspec import GitIgnoreSpec

            self._spec = GitIgnoreSpec.from_lines(self._globs)
        return self._spec.match_file(relative)

    def matches_entry(self, relative: str, name: str) -> bool:
        """For a walk that already pruned excluded parents: the entry's own name, or a glob."""
        return name in self.literal_names or self._glob_match(relative)

    def matches(self, relative: str) -> bool:
        if self.literal_names and any(part in self.literal_names for part in relative.split("/")):
            return True
        return self._glob_match(relative)
