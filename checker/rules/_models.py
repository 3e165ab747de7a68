"""Model names a module uses, resolved through the core registry (never a table in a rule).

"Uses" means the model a request names, not every model string in the file: `model="gpt-4o"`
arguments, `{"model": ...}` entries, `model` parameter defaults and assignments to names that
say they hold a model (`MODEL = ...`, `self.model_name = ...`). Lookup tables keyed by model
names (`{"gpt-4": 8192, ...}`) describe models, they do not pick one, and are left out.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator

from ._index import ModuleIndex, has_word, last_name, string_value

_MODEL_KEYWORDS = {"model", "model_name", "model_id", "deployment_name", "azure_deployment", "engine", "llm_model"}


@dataclass(frozen=True)
class ModelUse:
    name: str  # as written
    node: ast.Constant  # the string literal
    info: object  # pytest_tokenbudget.ModelInfo


@lru_cache(maxsize=4096)
def lookup(name: str):
    """The registry's ModelInfo for `name`, or None when the registry does not know it."""
    try:
        from pytest_tokenbudget import get_model
    except ImportError:  # the core is the counting half of this distribution; always present
        return None
    try:
        return get_model(name)
    except Exception:  # UnknownModelError, or a name the registry rejects: not a model we know
        return None


def is_model_name_key(key: str | None) -> bool:
    return key is not None and (key in _MODEL_KEYWORDS or (has_word(key, ("model",)) and
                                                           not has_word(key, ("path", "dir", "file", "class", "type"))))


def model_uses(index: ModuleIndex, lookup_model=lookup) -> Iterator[ModelUse]:
    """Every model-name literal the module sends or configures, resolved by the registry."""
    for node, text in _model_literals(index):
        info = lookup_model(text)
        if info is not None:
            yield ModelUse(text, node, info)


def _model_literals(index: ModuleIndex) -> Iterator[tuple[ast.expr, str]]:
    for call in index.calls:
        for keyword in call.keywords:
            if keyword.arg in _MODEL_KEYWORDS:
                value = string_value(keyword.value)
                if value:
                    yield keyword.value, value
    for d in index.dicts:
        for key, element in zip(d.keys, d.values):
            if key is not None and string_value(key) in _MODEL_KEYWORDS:
                value = string_value(element)
                if value:
                    yield element, value
    for function in index.functions:
        for param, default in _defaults(function.args):
            if is_model_name_key(param.arg):
                value = string_value(default)
                if value:
                    yield default, value
    for a in index.assignments:
        if a.value is not None and is_model_name_key(last_name_of_target(a.target)):
            value = string_value(a.value)
            if value:
                yield a.value, value


def _defaults(args: ast.arguments) -> Iterator[tuple[ast.arg, ast.expr]]:
    """(parameter, default) of the ordinary and keyword-only parameters that have one.
    Positional-only ones are left out (as the libcst rules did; TB501's examples hold it)."""
    positional = [*args.posonlyargs, *args.args]
    pairs = zip(positional[len(positional) - len(args.defaults):], args.defaults)
    yield from ((p, d) for p, d in pairs if p not in args.posonlyargs)
    for param, default in zip(args.kwonlyargs, args.kw_defaults):
        if default is not None:
            yield param, default


def last_name_of_target(target: str) -> str:
    return target.rsplit(".", 1)[-1]


def is_claude(info) -> bool:
    return str(getattr(info, "tokenizer", "")).startswith("claude")


def same_tokenizer(encoding: str, tokenizer: str) -> bool:
    if encoding == tokenizer:
        return True
    # gpt-oss's harmony encoding is o200k_base plus chat special tokens: counts agree on text.
    return {encoding, tokenizer} == {"o200k_base", "o200k_harmony"}


__all__ = ["ModelUse", "lookup", "model_uses", "is_claude", "same_tokenizer", "last_name"]


_PLAUSIBLE_NAME = re.compile(r"^[A-Za-z][\w.:/@+-]{0,120}$")
_PROJECT_LOOKUPS: dict[tuple[object, str], object] = {}


def project_lookup(project_root):
    """A registry lookup for one project that remembers its answers across files.

    TB501/TB503 ask about every string key of every dict; most are not model names, and each
    unknown name costs the registry a close-match search for its error message. Strings that
    cannot be model names (spaces, punctuation) are not asked about at all.
    """
    from checker.models import lookup_model

    def _lookup(name: str):
        if not _PLAUSIBLE_NAME.match(name):
            return None
        key = (project_root, name)
        if key not in _PROJECT_LOOKUPS:
            _PROJECT_LOOKUPS[key] = lookup_model(name, project_root)
        return _PROJECT_LOOKUPS[key]

    return _lookup
