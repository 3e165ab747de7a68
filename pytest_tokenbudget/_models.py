"""The model registry: what we know of each model, read from the data files in `data/`, plus the
models and aliases a project declares in its pyproject.toml, and the rules that turn the names
users write (snapshots, provider prefixes, fine-tunes, Azure deployments) into a known model."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from ._config import nearest_pyproject, tomllib, tool_table
from ._errors import ConfigError, UnknownModelError

_DATA_FILES = ("openai.toml", "anthropic.toml")

_REQUIRED = ("provider", "tokenizer", "context_window", "max_output_tokens")
_INTS = ("context_window", "max_output_tokens")
_PRICES = ("input_price_per_mtok", "output_price_per_mtok")
_STRINGS = ("provider", "tokenizer", "image_rule", "chat_overhead", "source", "as_of", "notes")


@dataclass(frozen=True)
class ModelInfo:
    """One model's figures. Prices are USD per million tokens; None when unknown or unpriced."""

    id: str
    provider: str
    tokenizer: str
    context_window: int
    max_output_tokens: int
    input_price_per_mtok: float | None = None
    output_price_per_mtok: float | None = None
    image_rule: str | None = None
    chat_overhead: str | None = None
    aliases: tuple[str, ...] = ()
    # Claude's hidden tool-use system prompt, by tool_choice ("auto", "any").
    tool_use_system_prompt_tokens: Mapping[str, int] | None = field(default=None, hash=False)
    source: str = ""
    notes: str = ""
    as_of: str = ""
    origin: str = field(default="registry", compare=False)

    def cost_usd(self, input_tokens: int, output_tokens: int = 0) -> float | None:
        if self.input_price_per_mtok is None or self.output_price_per_mtok is None:
            return None
        return (input_tokens * self.input_price_per_mtok + output_tokens * self.output_price_per_mtok) / 1e6


_MODEL_KEYS = {f.name for f in fields(ModelInfo)} - {"id", "origin"} | {"extends"}

# Suffixes and prefixes that name a variant of a model we know: tried in order on a name that is
# not in the registry. Dated snapshots keep the figures of the model they snapshot unless the
# data files list the snapshot itself (gpt-4o-2024-05-13 has its own price).
_DATE_SUFFIX = re.compile(r"(-\d{4}-\d{2}-\d{2}|-\d{8}|-\d{4})$")
_BEDROCK = re.compile(r"^(?:[a-z]{2}\.)?anthropic\.(.+?)(?:-v\d+(?::\d+)?)?$")
_FINE_TUNE = re.compile(r"^ft:([^:]+):")


class Registry:
    """Known models by id, with the lookup rules for the names users write."""

    def __init__(
        self,
        models: Mapping[str, ModelInfo],
        aliases: Mapping[str, str],
        image_rules: Mapping[str, Mapping[str, Any]],
        chat_overheads: Mapping[str, Mapping[str, Any]],
    ) -> None:
        self._models = dict(models)
        self._aliases = {name.lower(): target for name, target in aliases.items()}
        for model in self._models.values():
            for alias in model.aliases:
                self._aliases.setdefault(alias.lower(), model.id)
        self._by_lower_id = {model_id.lower(): model_id for model_id in self._models}
        self.image_rules = dict(image_rules)
        self.chat_overheads = dict(chat_overheads)
        self._resolved: dict[str, ModelInfo] = {}

    @classmethod
    def load(cls, project_root: Path | None = None) -> "Registry":
        """The shipped models plus `[tool.tokenbudget.models]` / `.aliases` of the project's pyproject.toml
        (the nearest one at or above `project_root`, the working directory by default)."""
        pyproject = nearest_pyproject(str(project_root) if project_root else os.getcwd())
        return _load(pyproject, _mtime(pyproject))

    def models(self) -> list[ModelInfo]:
        return sorted(self._models.values(), key=lambda model: (model.provider, model.id))

    def get(self, name: str) -> ModelInfo:
        """The model a user's name refers to; UnknownModelError names the closest known ones."""
        if not isinstance(name, str) or not name.strip():
            raise UnknownModelError(repr(name), [])
        cached = self._resolved.get(name)
        if cached is None:
            cached = self._resolve(name.strip(), seen=set())
            self._resolved[name] = cached
        return cached

    def _resolve(self, name: str, seen: set[str]) -> ModelInfo:
        key = name.lower()
        if key in seen:
            raise UnknownModelError(name, [])
        seen.add(key)
        if key in self._by_lower_id:
            return self._models[self._by_lower_id[key]]
        if key in self._aliases:
            return self._resolve(self._aliases[key], seen)
        for candidate in _variants(key):
            if candidate in self._by_lower_id or candidate in self._aliases:
                return self._resolve(candidate, seen)
        suggestions = difflib.get_close_matches(key, [*self._by_lower_id.values(), *self._aliases], n=3, cutoff=0.5)
        raise UnknownModelError(name, suggestions)


def _variants(name: str) -> list[str]:
    """Names to try, in order, for a name the registry does not list as written."""
    candidates = []
    if "/" in name:  # "openai/gpt-4o", OpenRouter's "anthropic/claude-...", "azure/<deployment>"
        candidates.append(name.rsplit("/", 1)[1])
    fine_tune = _FINE_TUNE.match(name)
    if fine_tune:
        candidates.append(fine_tune.group(1))
    bedrock = _BEDROCK.match(name)
    if bedrock:
        candidates.append(bedrock.group(1))
    if name.endswith("-latest"):
        candidates.append(name[: -len("-latest")])
    if _DATE_SUFFIX.search(name):
        candidates.append(_DATE_SUFFIX.sub("", name))
    return candidates


def _mtime(path: str | None) -> float:
    """Part of the cache key, so an edited pyproject.toml is read again."""
    try:
        return os.stat(path).st_mtime if path else 0.0
    except OSError:
        return 0.0


@lru_cache(maxsize=8)
def _load(pyproject: str | None, _mtime: float) -> Registry:
    models: dict[str, ModelInfo] = {}
    image_rules: dict[str, dict[str, Any]] = {}
    chat_overheads: dict[str, dict[str, Any]] = {}
    for data_file in _shipped_data_files():
        data = tomllib.loads(data_file.read_text(encoding="utf-8"))
        image_rules.update(data.get("image_rules", {}))
        chat_overheads.update(data.get("chat_overheads", {}))
        for model_id, entry in data.get("models", {}).items():
            models[model_id] = _model_from_entry(model_id, entry, data_file.name, "models", base=None)
    aliases: dict[str, str] = {}
    if pyproject:
        _apply_project(Path(pyproject), models, aliases)
    return Registry(models, aliases, image_rules, chat_overheads)


def _shipped_data_files() -> list[Any]:
    folder = resources.files("pytest_tokenbudget") / "data"
    return [folder / name for name in _DATA_FILES if (folder / name).is_file()]


def _apply_project(pyproject: Path, models: dict[str, ModelInfo], aliases: dict[str, str]) -> None:
    table = tool_table(pyproject)
    declared = table.get("models", {})
    if not isinstance(declared, dict):
        raise ConfigError(pyproject, "tool.tokenbudget.models", "must be a table of tables",
                          'write each model as [tool.tokenbudget.models."my-model"]')
    user_aliases = table.get("aliases", {})
    if not isinstance(user_aliases, dict) or not all(isinstance(v, str) for v in user_aliases.values()):
        raise ConfigError(pyproject, "tool.tokenbudget.aliases", "must map names to model names",
                          'write it as [tool.tokenbudget.aliases] then "my-deployment" = "gpt-4o"')
    aliases.update(user_aliases)
    partial = Registry(models, aliases, {}, {})
    for model_id, entry in declared.items():
        where = f"tool.tokenbudget.models.{model_id}"
        if not isinstance(entry, dict):
            raise ConfigError(pyproject, where, "must be a table", f'write it as [{where}] with provider, tokenizer, ...')
        base = None
        if "extends" in entry:
            try:
                base = partial.get(entry["extends"])
            except UnknownModelError as error:
                raise ConfigError(pyproject, f"{where}.extends", str(error).splitlines()[0],
                                  "name a model that `tokenbudget models` lists") from None
        elif model_id in models or model_id.lower() in {m.lower() for m in models}:
            base = partial.get(model_id)  # overriding a shipped model keeps the figures not overridden
        model = _model_from_entry(model_id, entry, str(pyproject), "tool.tokenbudget.models", base)
        if model.tokenizer.startswith("hf:") and not os.path.isabs(model.tokenizer[3:]):
            # A tokenizer.json path in pyproject.toml means the same from any working directory.
            model = replace(model, tokenizer="hf:" + str(pyproject.parent / model.tokenizer[3:]))
        models[model_id] = model


def _model_from_entry(model_id: str, entry: Mapping[str, Any], origin: str, table: str,
                      base: ModelInfo | None) -> ModelInfo:
    where = f"{table}.{model_id}"
    unknown = set(entry) - _MODEL_KEYS
    if unknown:
        close = difflib.get_close_matches(sorted(unknown)[0], sorted(_MODEL_KEYS), n=1)
        fix = f"did you mean {close[0]!r}?" if close else f"use only {', '.join(sorted(_MODEL_KEYS))}"
        raise ConfigError(origin, f"{where}.{sorted(unknown)[0]}", "is not a model setting", fix)
    values: dict[str, Any] = {}
    if base is not None:
        values = {f.name: getattr(base, f.name) for f in fields(ModelInfo) if f.name not in ("id", "origin", "aliases")}
    for key, value in entry.items():
        if key == "extends":
            continue
        if key in _INTS and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise ConfigError(origin, f"{where}.{key}", f"must be a whole number of tokens, not {value!r}",
                              f"write e.g. {key} = 128000")
        if key in _PRICES and (not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0):
            raise ConfigError(origin, f"{where}.{key}", f"must be USD per million tokens, not {value!r}",
                              f"write e.g. {key} = 2.5")
        if key in _STRINGS and not isinstance(value, str):
            raise ConfigError(origin, f"{where}.{key}", f"must be a string, not {value!r}", f'write e.g. {key} = "..."')
        if key == "aliases":
            if not isinstance(value, list) or not all(isinstance(a, str) for a in value):
                raise ConfigError(origin, f"{where}.aliases", "must be a list of names", 'write e.g. aliases = ["my-deployment"]')
            value = tuple(value)
        if key in _PRICES:
            value = float(value)
        values[key] = value
    missing = [key for key in _REQUIRED if key not in values]
    if missing:
        raise ConfigError(origin, where, f"lacks {', '.join(missing)}",
                          f'add {missing[0]} = ..., or extends = "<known model>" to start from a known model')
    return ModelInfo(id=model_id, origin=origin, **values)


def get_model(name: str) -> ModelInfo:
    """The model `name` refers to, in the registry of the project in the working directory."""
    return Registry.load().get(name)
